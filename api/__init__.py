"""The FastAPI application: Twilio webhooks, JSON API and health."""
