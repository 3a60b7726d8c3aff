"""Custom actions, one module per conversation area (run by the action server only)."""

from bot.actions import (  # noqa: F401
    appointments,
    consent,
    fallback,
    faq,
    flow,
    greeting,
    handoff,
    referrals,
    verification,
)
