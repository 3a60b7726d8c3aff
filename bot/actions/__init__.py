"""Custom actions, one module per conversation area (run by the action server only)."""

from bot.actions import appointments, consent, faq, flow, greeting, handoff, referrals, verification  # noqa: F401
