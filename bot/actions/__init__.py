"""Custom actions, one module per conversation area (run by the action server only)."""

from bot.actions import greeting, handoff, referrals, verification  # noqa: F401
