"""Counts the action server's calls for `make bench` (bench/profile_turn.py): on PYTHONPATH only there.

With RELAY_BENCH_ACTION_CALLS set to a file, every action the action server
runs appends one line to it: the action's name, how many events and how many
responses it returned (tab-separated). Names and counts only: no sender, no
text. Python imports this module at start-up in every process, so it patches
rasa_sdk only when the variable is set, in the action server (and its Sanic
workers, which start as new interpreters).
"""

import os

_LOG = os.environ.get("RELAY_BENCH_ACTION_CALLS")


def _install(path: str) -> None:
    try:
        from rasa_sdk.executor import ActionExecutor
    except ImportError:  # not the action server's interpreter
        return
    run = ActionExecutor.run

    async def counted_run(self, action_call, *args, **kwargs):
        result = await run(self, action_call, *args, **kwargs)
        events = len(result.events) if result is not None else 0
        responses = len(result.responses) if result is not None else 0
        line = f"{action_call.get('next_action')}\t{events}\t{responses}\n"
        # One short O_APPEND write per call: whole lines even with several workers.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        return result

    ActionExecutor.run = counted_run  # type: ignore[method-assign]


if _LOG:
    _install(_LOG)
