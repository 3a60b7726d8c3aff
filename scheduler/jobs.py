"""The send job: planned outreach rows, claimed, re-checked, sent once, recorded.

RQ runs `send_outreach(outreach_id)` for one row, or `send_outreach_batch(ids)`
for several; the sweep (scheduler.sweep) enqueues them. The row is the truth
and RQ only executes, so everything here is written so a job may run twice,
late, or die at any line without a second message:

1. Claim: one conditional UPDATE moves the rows from `queued` to `sending`;
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

A batch runs the same steps for each row in turn, sharing what can be shared:
one claim for all (a row waits in `sending` until its turn, and no longer than
the job may run), one session whose rows, patients, appointments and
referrals are read up front, and RQ's own work for a job (some 14 Redis
commands, which cost more than the send itself: `make bench`). Each row still
commits its pending message before it is sent, and its result after; a row
that breaks is counted and the others go on. What a row is checked against
was read when the batch started, a fraction of a second earlier at most. A
batch that dies leaves the rows it had not reached in `sending` without a
message, which the sweep puts back in the plan as interrupted sends.
"""

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from rq.timeouts import BaseTimeoutException
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from relay import consent, conversations
from relay.db import session_scope
from relay.handoffs import open_handoff
from relay.models import Appointment, Clinic, Message, Patient, PlannedOutreach, Referral, utcnow
from relay.phones import mask
from relay.redis_conn import get_redis
from relay.settings import get_settings
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
    results, errors = _execute([outreach_id], now=now)
    if errors:
        raise errors[0]  # RQ keeps the traceback with the failed job
    return results[outreach_id]


class BatchErrors(RuntimeError):
    """Some rows of a batch broke (each counted as an attempt, as a single job's error is); the rest went on."""


def send_outreach_batch(outreach_ids: list[int], now: datetime | None = None) -> dict[int, str]:
    """Execute several rows (see the module docstring); what happened to each, by id."""
    results, errors = _execute(list(outreach_ids), now=now)
    if errors:
        broken = [outreach_id for outreach_id, result in results.items() if result == "error"]
        raise BatchErrors(f"{len(errors)} of {len(outreach_ids)} rows broke: {broken}") from errors[0]
    return results


def _execute(outreach_ids: list[int], *, now: datetime | None) -> tuple[dict[int, str], list[Exception]]:
    """Claim the rows, then check, store, send and record each in turn (the clock read per row unless given)."""
    with session_scope() as session:
        claimed = _claim(session, outreach_ids, now=now or utcnow())
    results = {outreach_id: "not_claimed" for outreach_id in outreach_ids if outreach_id not in claimed}
    for outreach_id in results:
        log.info("outreach %s: not queued any more, nothing to do", outreach_id)
    errors: list[Exception] = []
    if not claimed:
        return results, errors
    with session_scope() as session:
        try:
            found, _held = _load_for_sending(session, claimed)
        except Exception:
            for outreach_id in claimed:
                _count_broken_attempt(outreach_id, now or utcnow())
            raise
        rows = {row.id: row for row in found}
        for outreach_id in claimed:
            at = now or utcnow()
            try:
                prepared = _prepare(session, rows[outreach_id], at)
                session.commit()  # the pending message is stored before it is sent
            except BaseTimeoutException:
                raise  # RQ's job timeout ends the job; the sweep recovers what it leaves
            except Exception as exc:  # noqa: BLE001 - counted as an attempt, raised by the caller
                session.rollback()
                _count_broken_attempt(outreach_id, at)
                results[outreach_id] = "error"
                errors.append(exc)
                continue
            results[outreach_id] = _send(outreach_id, prepared, at) if isinstance(prepared, ReadyToSend) else prepared
    return results, errors


def _count_broken_attempt(outreach_id: int, now: datetime) -> None:
    """Nothing was sent; count the attempt so a row that always breaks ends as failed."""
    with session_scope() as session:
        if (outreach := _owned(session, outreach_id)) is not None:
            outcomes.retry_later(session, outreach, code="job_error", now=now)


def claim(outreach_id: int, *, now: datetime) -> bool:
    """Move the row from queued to sending; True for exactly one caller."""
    with session_scope() as session:
        return _claim(session, [outreach_id], now=now) == [outreach_id]


def _claim(session: Session, outreach_ids: list[int], *, now: datetime) -> list[int]:
    """Move the rows from queued to sending; each id goes to exactly one caller (returned in the given order)."""
    claimed = set(
        session.scalars(
            update(PlannedOutreach)
            .where(PlannedOutreach.id.in_(outreach_ids), PlannedOutreach.state == "queued")
            .values(state="sending", updated_at=now)
            .returning(PlannedOutreach.id)
            .execution_options(synchronize_session=False)
        )
    )
    return [outreach_id for outreach_id in outreach_ids if outreach_id in claimed]


def _load_for_sending(session: Session, outreach_ids: list[int]) -> tuple[list[PlannedOutreach], list[object]]:
    """The rows, and what the checks and the templates will ask of them, in a few queries.

    Returns the rows and every object loaded with them; the caller holds the
    latter for the batch, because the session's identity map only keeps what
    something else refers to. Later lookups of those objects (`session.get`,
    relationships) are then no query at all.
    """
    rows = list(session.scalars(select(PlannedOutreach).where(PlannedOutreach.id.in_(outreach_ids))))
    if len(rows) < 2:
        return rows, []  # for one row, loading as it goes asks no more than this would
    referral_loads = (selectinload(Referral.patient), selectinload(Referral.specialist),
                      selectinload(Referral.referring_provider))  # fmt: skip
    loaded: list[object] = []
    appointment_ids = {row.appointment_id for row in rows if row.appointment_id is not None}
    if appointment_ids:
        appointments = session.scalars(
            select(Appointment)
            .where(Appointment.id.in_(appointment_ids))
            .options(selectinload(Appointment.referral).options(*referral_loads))
        ).all()
        loaded += [*appointments, *(appointment.referral for appointment in appointments)]
    referral_ids = {row.referral_id for row in rows if row.referral_id is not None}
    if referral_ids:
        loaded += session.scalars(select(Referral).where(Referral.id.in_(referral_ids)).options(*referral_loads)).all()
    loaded += session.scalars(select(Patient).where(Patient.id.in_({row.patient_id for row in rows}))).all()
    for referral in [obj for obj in loaded if isinstance(obj, Referral)]:
        loaded += [referral.patient, referral.specialist, referral.referring_provider]
    return rows, loaded


# -- before sending -----------------------------------------------------------


def _prepare(session: Session, outreach: PlannedOutreach, now: datetime) -> ReadyToSend | str:
    from relay.outreach import OutreachNoLongerApplies
    from relay.outreach.planner import session_clinic, still_applies
    from relay.outreach.templates import render

    patient = session.get(Patient, outreach.patient_id)
    clinic = session_clinic(session)
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
    sent = and_(row.state.in_(COUNTED_STATES), row.sent_at >= start, row.sent_at < end)
    sending = and_(row.state == "sending", row.id < outreach.id, row.updated_at >= start, row.updated_at < end)
    return session.scalar(
        select(func.count()).where(
            row.patient_id == outreach.patient_id, row.channel == "sms", row.id != outreach.id, or_(sent, sending)
        )
    )


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


_gateways = threading.local()


def _gateway() -> SmsGateway:
    """This thread's gateway for the current settings, kept from job to job.

    Kept, its HTTP connection to Twilio stays open (keep-alive) and the
    twilio client is built once per worker instead of once per message. One
    per thread, because the twilio HTTP client keeps each call's response on
    itself before returning it, so two threads sharing one could swap answers.
    """
    settings = get_settings()
    key = (settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(),
           settings.twilio_api_base_url, settings.base_url)  # fmt: skip
    cached = getattr(_gateways, "cached", None)
    if cached is None or cached[0] != key:
        cached = _gateways.cached = (key, SmsGateway(settings))
    return cached[1]


def _send(outreach_id: int, prepared: ReadyToSend, now: datetime) -> str:
    settings = get_scheduler_settings()
    # Everything slow happens before the slot is taken, so the request follows it closely.
    gateway = _gateway()
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
    # Two UPDATEs and no reads: this runs once per message sent.
    session.execute(
        update(Message)
        .where(Message.id == prepared.message_id)
        .values(twilio_sid=sid, delivery_status=status)
        .execution_options(synchronize_session=False)
    )
    recorded = session.execute(
        update(PlannedOutreach)
        .where(PlannedOutreach.id == outreach_id, PlannedOutreach.state == "sending")
        .values(state="sent", twilio_sid=sid, sent_at=now, error_code=None, next_attempt_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not recorded:
        _owned(session, outreach_id)  # logs whose it is now
        return "sent:unrecorded"
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
