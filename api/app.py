"""Assemble the FastAPI application. Nothing connects at import time."""

from fastapi import FastAPI

from api import appointments, conversations, faqs, handoffs, health, imports, outreach, patients, referrals
from console.app import install as install_console
from relay.records.clinics import ClinicNotConfigured
from webhooks import sms, status, voice


def create_app() -> FastAPI:
    app = FastAPI(
        title="Relay",
        version="0.1.0",
        description="SMS and voice concierge for clinic referrals: Twilio webhooks and the staff JSON API.",
    )
    app.include_router(health.router)
    app.include_router(sms.router)
    app.include_router(voice.router)
    app.include_router(status.router)
    app.include_router(referrals.router)
    app.include_router(conversations.router)
    app.include_router(handoffs.router)
    app.include_router(faqs.router)
    app.include_router(outreach.router)
    app.include_router(imports.router)
    app.include_router(patients.router)
    app.include_router(appointments.router)
    install_console(app)

    @app.exception_handler(ClinicNotConfigured)
    async def _no_clinic(_request, exc):
        from fastapi.responses import JSONResponse

        return JSONResponse({"detail": str(exc)}, status_code=503)

    return app
