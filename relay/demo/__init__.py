"""The demo clinic: its file (clinic.yaml) and the loader that puts it in the database exactly."""
