"""The staff console: server-rendered pages under /console, served by the API process."""
