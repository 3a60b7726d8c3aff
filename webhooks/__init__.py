"""Twilio-facing FastAPI routers."""
