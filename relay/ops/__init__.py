"""Running Relay: the `relay` command, the processes it starts, migrations, and the terminal chat."""
