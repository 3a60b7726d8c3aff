"""Outreach: what the clinic means to send on its own, planned as database rows.

This package is the planning side. A plan is a pure function of the
appointment's or referral's state, the cadence (cadence.yaml) and the clock
(planner.py); the database layer diffs it against the rows that exist, by
idempotency key: missing rows are added, pending rows (planned, queued) that
are no longer wanted are cancelled, and history (sending, sent, delivered,
failed) is never touched or repeated. The execution side (scheduler/) sends
due rows, re-checking `planner.still_applies`, consent, quiet hours and
`valid_until` at send time, and words them with `templates.compose`.

Kinds: status_update, confirmation, reminder, scheduling_invite,
scheduling_nudge, no_show_followup, rebook_offer, review_request (SMS), and
leakage_handoff (channel "staff": a referral left unbooked, which the
execution side turns into relay.messaging.handoffs.open_handoff(reason="referral_leakage")
instead of a text).

Import note: relay.scheduling.booking imports the planner, and referral_transitions
imports relay.scheduling.booking, so this __init__ imports neither.
"""

SMS_KINDS = (
    "status_update",
    "confirmation",
    "reminder",
    "scheduling_invite",
    "scheduling_nudge",
    "no_show_followup",
    "rebook_offer",
    "review_request",
)
STAFF_KINDS = ("leakage_handoff",)
KINDS = SMS_KINDS + STAFF_KINDS
# Rows planned from an appointment's state; every other kind follows the referral.
APPOINTMENT_KINDS = ("confirmation", "reminder")
REFERRAL_KINDS = tuple(kind for kind in KINDS if kind not in APPOINTMENT_KINDS)

# States the planner may still change (cancel); the rest is settled.
PENDING_STATES = ("planned", "queued")
HISTORY_STATES = ("sending", "sent", "delivered", "failed")


class OutreachNoLongerApplies(Exception):
    """The row's subject has changed (appointment cancelled or moved, referral moved on): don't send it."""
