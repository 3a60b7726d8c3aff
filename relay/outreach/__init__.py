"""Outreach: what the clinic means to send on its own, planned as database rows, then sent.

Planning: a plan is a pure function of the appointment's or referral's
state, the cadence (cadence.yaml) and the clock (plan.py, quiet_hours.py);
reconcile.py diffs it against a subject's rows by idempotency key (missing
rows are added, pending rows no longer wanted are cancelled, history is never
touched or repeated), and bulk.py does the same for every subject at once.

Sending: RQ (scheduler/) runs what dispatch.py hands over; send.py claims
each row, prepare.py re-checks it at send time (consent, `valid_until`,
`reconcile.still_applies`, quiet hours, the daily cap) and words it with
`templates.compose`, outcomes.py decides what follows a refusal, delivery.py
applies Twilio's status callbacks, and recovery.py settles a send that a dead
job left halfway.

Kinds, channels and states are relay.models.outreach's: texts on channel
"sms", and leakage_handoff on channel "staff" (a referral left unbooked, which
the execution side turns into a handoff, reason "referral_leakage", instead
of a text).
"""
