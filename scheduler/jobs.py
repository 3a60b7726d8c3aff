"""The send job: one planned outreach row, claimed, re-checked, sent once, recorded.

RQ runs `send_outreach(outreach_id)`; the sweep (scheduler.sweep) enqueues it.
The row is the truth and RQ only executes, so everything here is written so a
job may run twice, late, or die at any line without a second message:

1. Claim: one conditional UPDATE moves the row from `queued` to `sending`;
   every other copy of the job finds nothing to claim and stops.
2. Re-check at send time, each with its own ending: consent (skipped,
   "opted_out"), validity (skipped, "expired"), the plan (cancelled,
   "no_longer_applies"), quiet hours in the patient's zone and the daily cap
   (back to `planned` at the next allowed time).
3. Store the message before sending it: the outbound Message (author
   "system") is committed with delivery_status "pending" and linked to the
   row, so a job killed during the Twilio call leaves behind exactly what it
   was about to send. The sweep uses that to find out whether it went
   (scheduler.sweep.resolve_stuck_sending).
4. Wait for a send slot of the sender number (scheduler.rate_limit), send
   with a status callback, record the SID: row `sent`, message `queued`.
   Refusals go to scheduler.outcomes (retry with backoff, opt-out, flagged
   number).

Rows of channel "staff" (leakage_handoff) are not texts: executing one opens
a handoff on the patient's conversation, in the same transaction that marks
the row sent.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from relay import consent, conversations
from relay.clinics import get_clinic
from relay.db import session_scope
from relay.handoffs import open_handoff
from relay.models import Clinic, Message, Patient, PlannedOutreach, utcnow
from relay.phones import mask
from relay.redis_conn import get_redis
from relay.sms_sender import SmsGateway, SmsLookupUnavailable, SmsSendError, find_sent
from scheduler import outcomes
from scheduler.rate_limit import SenderRateLimiter
from scheduler.settings import daily_cap, get_scheduler_settings, rate_limit_per_second

log = logging.getLogger("relay.scheduler.jobs")

# Message.delivery_status of our own making, before Twilio has the message.
PENDING = "pending"  # stored, being handed to Twilio
NOT_SENT = "not_sent"  # that attempt did not reach Twilio; the row will try again

COUNTED_STATES = ("sent", "delivered")
# Twilio's clock and ours may differ a little; a looked-up message must be this close to our send.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class ReadyToSend:
    message_id: int
    to: str
    from_: str
    body: str


def send_outreach(outreach_id: int, now: datetime | None = None) -> str:
    """Execute one row. Returns what happened ("sent", "skipped:opted_out", ...), for RQ's result and logs."""
    now = now or utcnow()
    if not claim(outreach_id, now=now):
        log.info("outreach %s: not queued any more, nothing to do", outreach_id)
        return "not_claimed"
    try:
        with session_scope() as session:
            prepared = _prepare(session, session.get(PlannedOutreach, outreach_id), now)
    except Exception:
        # Nothing was sent; count the attempt so a row that always breaks ends
        # as failed. RQ keeps the traceback with the failed job.
        with session_scope() as session:
            if (outreach := _owned(session, outreach_id)) is not None:
                outcomes.retry_later(session, outreach, code="job_error", now=now)
        raise
    if isinstance(prepared, str):
        return prepared
    return _send(outreach_id, prepared, now)


def claim(outreach_id: int, *, now: datetime) -> bool:
    """Move the row from queued to sending; True for exactly one caller."""
    with session_scope() as session:
        result = session.execute(
            update(PlannedOutreach)
            .where(PlannedOutreach.id == outreach_id, PlannedOutreach.state == "queued")
            .values(state="sending", updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1


# -- before sending -----------------------------------------------------------


def _prepare(session: Session, outreach: PlannedOutreach, now: datetime) -> ReadyToSend | str:
    from relay.outreach import OutreachNoLongerApplies
    from relay.outreach.planner import still_applies
    from relay.outreach.templates import render

    patient = session.get(Patient, outreach.patient_id)
    clinic = get_clinic(session)
    if outreach.channel == "staff":
        return _open_staff_handoff(session, outreach, patient, now)
    if consent.is_opted_out(session, patient.phone):
        return _settle(outreach, "skipped", "opted_out", now)
    if outreach.valid_until is not None and outreach.valid_until <= now:
        return _settle(outreach, "skipped", "expired", now)
    if not still_applies(session, outreach, now):
        return _settle(outreach, "cancelled", "no_longer_applies", now)
    zone = ZoneInfo(patient.timezone or clinic.timezone)
    allowed = next_allowed(now, clinic=clinic, zone=zone)
    if allowed > now:
        return _defer(outreach, allowed, "quiet_hours", now)
    if _automated_today(session, outreach, zone=zone, now=now) >= daily_cap():
        tomorrow = datetime.combine(now.astimezone(zone).date() + timedelta(days=1), time(0), tzinfo=zone)
        return _defer(outreach, next_allowed(tomorrow, clinic=clinic, zone=zone), "daily_cap", now)
    try:
        body = render(session, outreach, now)
    except OutreachNoLongerApplies:
        return _settle(outreach, "cancelled", "no_longer_applies", now)
    message = _store_pending(session, outreach, patient, body, now)
    return ReadyToSend(message_id=message.id, to=patient.phone, from_=clinic.sms_number, body=body)


def next_allowed(moment: datetime, *, clinic: Clinic, zone: ZoneInfo) -> datetime:
    """`moment`, or the end of the quiet hours it falls in (the patient's zone)."""
    from relay.outreach.cadence import load_cadence
    from relay.outreach.planner import next_allowed_time

    quiet_start, quiet_end = load_cadence().quiet_window(clinic)
    return next_allowed_time(moment, quiet_start=quiet_start, quiet_end=quiet_end, tz=zone)


def _automated_today(session: Session, outreach: PlannedOutreach, *, zone: ZoneInfo, now: datetime) -> int:
    """Texts this patient got from us (or is getting right now) on the local calendar day of `now`.

    A row another worker is sending counts only if its id is lower: of two
    rows racing for the last place of the day exactly one goes, and the cap
    holds without a lock.
    """
    start = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    end = datetime.combine(start.date() + timedelta(days=1), time(0), tzinfo=zone)
    row = PlannedOutreach
    mine = (row.patient_id == outreach.patient_id, row.channel == "sms", row.id != outreach.id)
    sent = session.scalar(
        select(func.count()).where(*mine, row.state.in_(COUNTED_STATES), row.sent_at >= start, row.sent_at < end)
    )
    sending = session.scalar(
        select(func.count()).where(
            *mine, row.state == "sending", row.id < outreach.id, row.updated_at >= start, row.updated_at < end
        )
    )
    return sent + sending


def _settle(outreach: PlannedOutreach, state: str, code: str, now: datetime) -> str:
    outreach.state, outreach.error_code, outreach.next_attempt_at, outreach.updated_at = state, code, None, now
    log.info("outreach %s %s (%s)", outreach.id, state, code)
    return f"{state}:{code}"


def _defer(outreach: PlannedOutreach, until: datetime, reason: str, now: datetime) -> str:
    """Back to the plan at `until`, unless the message would be stale by then."""
    if outreach.valid_until is not None and until > outreach.valid_until:
        return _settle(outreach, "skipped", "expired", now)
    outreach.state, outreach.due_at, outreach.next_attempt_at, outreach.updated_at = "planned", until, None, now
    log.info("outreach %s deferred to %s (%s)", outreach.id, until.isoformat(), reason)
    return f"deferred:{reason}"


def _open_staff_handoff(session: Session, outreach: PlannedOutreach, patient: Patient, now: datetime) -> str:
    from relay.outreach.planner import still_applies

    if not still_applies(session, outreach, now):
        return _settle(outreach, "cancelled", "no_longer_applies", now)
    conversation = conversations.find_or_open(session, phone=patient.phone, now=now)
    handoff = open_handoff(
        session,
        conversation=conversation,
        reason="referral_leakage",
        priority="normal",
        referral_id=outreach.referral_id,
        now=now,
    )
    outreach.state, outreach.sent_at, outreach.error_code, outreach.updated_at = "sent", now, None, now
    log.info("outreach %s: handoff %s opened for staff", outreach.id, handoff.id)
    return "handoff"


def _store_pending(session: Session, outreach: PlannedOutreach, patient: Patient, body: str, now: datetime) -> Message:
    """The message we are about to send, committed before we send it; a retry reuses it."""
    message = session.get(Message, outreach.message_id) if outreach.message_id else None
    if message is None or message.twilio_sid is not None:
        conversation = conversations.find_or_open(session, phone=patient.phone, now=now)
        message = conversations.record_message(
            session, conversation=conversation, direction="outbound", channel="sms", author="system", body=body, now=now
        )
    else:
        message.body, message.created_at = body, now
    message.delivery_status = PENDING
    outreach.message_id, outreach.updated_at = message.id, now
    session.flush()
    return message


# -- sending ------------------------------------------------------------------


def _send(outreach_id: int, prepared: ReadyToSend, now: datetime) -> str:
    settings = get_scheduler_settings()
    # Everything slow happens before the slot is taken, so the request follows it closely.
    gateway = SmsGateway()
    limiter = SenderRateLimiter(
        get_redis(), per_second=rate_limit_per_second(settings), guard_ms=settings.rate_limit_guard_ms
    )
    if not limiter.acquire(prepared.from_, max_wait=settings.rate_limit_max_wait_seconds):
        with session_scope() as session:
            return _give_back(session, outreach_id, prepared, now + timedelta(seconds=settings.rate_limit_retry_seconds))
    try:
        sent = gateway.send(
            to=prepared.to, from_=prepared.from_, body=prepared.body, now=now, outbox_extra={"author": "system"}
        )
    except SmsSendError as exc:
        found = _went_out_after_all(prepared, now) if exc.maybe_sent else None
        if found is _UNKNOWN:
            log.warning("outreach %s: send unconfirmed; left for the sweep to resolve", outreach_id)
            return "unconfirmed"  # still `sending`, message pending: scheduler.sweep.resolve_stuck_sending
        if found is None:
            with session_scope() as session:
                return _refused(session, outreach_id, prepared, exc, now)
        sent = found
    with session_scope() as session:
        return _record_sent(session, outreach_id, prepared, sid=sent.sid, status=sent.status, now=now)

_UNKNOWN = object()


def _went_out_after_all(prepared: ReadyToSend, now: datetime):  # noqa: ANN202
    """After an unanswered request: the message if Twilio has it, None if not, _UNKNOWN if Twilio cannot say."""
    try:
        return find_sent(to=prepared.to, from_=prepared.from_, body=prepared.body, since=now - CLOCK_SKEW)
    except SmsLookupUnavailable:
        return _UNKNOWN



def _owned(session: Session, outreach_id: int) -> PlannedOutreach | None:
    outreach = session.get(PlannedOutreach, outreach_id)
    if outreach is None or outreach.state != "sending":
        # Only the sweep takes a row from a job, and only long after the job
        # must have ended (sending_grace_seconds); this is a dead job's ghost.
        log.error("outreach %s: no longer ours to record (state %s)", outreach_id, outreach and outreach.state)
        return None
    return outreach


def _record_sent(session: Session, outreach_id: int, prepared: ReadyToSend, *, sid: str, status: str, now: datetime) -> str:
    message = session.get(Message, prepared.message_id)
    message.twilio_sid, message.delivery_status = sid, status
    outreach = _owned(session, outreach_id)
    if outreach is None:
        return "sent:unrecorded"
    outreach.state, outreach.twilio_sid, outreach.sent_at = "sent", sid, now
    outreach.error_code, outreach.next_attempt_at, outreach.updated_at = None, None, now
    log.info("outreach %s sent sid=%s to=%s", outreach_id, sid, mask(prepared.to))
    return "sent"


def _refused(session: Session, outreach_id: int, prepared: ReadyToSend, exc: SmsSendError, now: datetime) -> str:
    outreach = _owned(session, outreach_id)
    if outreach is None:
        return "refused:unrecorded"
    label = outcomes.error_code(exc.code, exc.status)
    outcome = outcomes.after_refusal(
        session, outreach, code=exc.code, label=label, temporary=exc.retryable, now=now
    )
    message = session.get(Message, prepared.message_id)
    message.delivery_status = NOT_SENT if outreach.state == "planned" else "failed"
    log.info("outreach %s refused code=%s -> %s", outreach_id, label, outcome)
    return f"{outcome}:{label}"


def _give_back(session: Session, outreach_id: int, prepared: ReadyToSend, when: datetime) -> str:
    """No send slot in time: back to the plan shortly, without counting an attempt."""
    outreach = _owned(session, outreach_id)
    if outreach is None:
        return "rate_limited:unrecorded"
    outreach.state, outreach.next_attempt_at = "planned", when
    session.get(Message, prepared.message_id).delivery_status = NOT_SENT
    log.info("outreach %s: rate limited, back to the plan", outreach_id)
    return "rate_limited"
