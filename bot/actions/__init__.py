"""Custom actions, one module per conversation area (run by the action server only)."""

from bot.actions import (  # noqa: F401
    appointments,
    clinical,
    consent,
    digressions,
    fallback,
    faq,
    flow,
    greeting,
    handoff,
    language,
    referrals,
    verification,
)
