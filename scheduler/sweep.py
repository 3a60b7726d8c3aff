"""The periodic sweep: hand due rows to RQ, and repair what a lost Redis or a dead worker left.

RQ's cron (scheduler.cron_config) runs `run_sweep` every ~30 s. Each sweep
is idempotent and safe to run from several workers at once:

- **Due rows** (planned, due, retry time reached) move to `queued` in one
  conditional UPDATE ... RETURNING, so a row is queued by exactly one sweep,
  and only then is its job enqueued, under a deterministic id
  (`job_id`). Dying between the commit and the enqueue leaves a queued row
  without a job, which the next step repairs.
- **Lost jobs**: a row `queued` for a while whose job is not waiting in RQ
  (Redis flushed or restarted without persistence) is enqueued again under
  the same id. If both copies ever ran, the send job's claim lets one through.
- **Interrupted sends**: a row `sending` for longer than any job may live
  (`sending_grace_seconds`) belongs to a worker that died mid-send. Did the
  message go? See `resolve_stuck_sending`.
"""

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from relay import audit
from relay.clinics import get_clinic
from relay.db import session_scope
from relay.handoffs import open_handoff
from relay.models import Message, Patient, PlannedOutreach, utcnow
from relay.phones import mask
from relay.sms_sender import SmsLookupUnavailable, find_sent
from scheduler.jobs import CLOCK_SKEW, NOT_SENT, send_outreach
from scheduler.queues import get_queue
from scheduler.settings import SchedulerSettings, get_scheduler_settings

log = logging.getLogger("relay.scheduler.sweep")

LIVE_JOB_STATES = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


@dataclass
class SweepResult:
    queued: list[int] = field(default_factory=list)  # due rows handed to RQ
    requeued: list[int] = field(default_factory=list)  # queued rows whose job had vanished
    confirmed: list[int] = field(default_factory=list)  # interrupted sends found at Twilio: sent
    replanned: list[int] = field(default_factory=list)  # interrupted before Twilio had them: planned again
    unconfirmed: list[int] = field(default_factory=list)  # could not tell: failed, for staff to check


def run_sweep() -> dict:
    """The RQ cron entry point."""
    return asdict(sweep())


def sweep(now: datetime | None = None, *, queue: Queue | None = None) -> SweepResult:
    now = now or utcnow()
    queue = queue or get_queue()
    settings = get_scheduler_settings()
    result = SweepResult()
    resolve_stuck_sending(now, settings=settings, result=result)
    recover_lost_jobs(now, queue=queue, settings=settings, result=result)
    queue_due(now, queue=queue, settings=settings, result=result)
    if any(asdict(result).values()):
        log.info("sweep: %s", {name: len(ids) for name, ids in asdict(result).items() if ids})
    return result


def job_id(outreach_id: int, attempts: int, queued_at: datetime) -> str:
    """One id per queueing of a row: the time it was queued (its updated_at) tells queueings apart."""
    return f"outreach-{outreach_id}-{attempts}-{queued_at.astimezone(UTC):%Y%m%dT%H%M%S%f}"


def _enqueue(queue: Queue, rows: list[tuple[int, int, datetime]], settings: SchedulerSettings) -> None:
    queue.enqueue_many(
        [
            Queue.prepare_data(
                send_outreach,
                args=(outreach_id,),
                job_id=job_id(outreach_id, attempts, queued_at),
                timeout=settings.send_job_timeout_seconds,
                result_ttl=3600,
                failure_ttl=7 * 24 * 3600,
            )
            for outreach_id, attempts, queued_at in rows
        ]
    )


# -- due rows -----------------------------------------------------------------


def queue_due(now: datetime, *, queue: Queue, settings: SchedulerSettings, result: SweepResult) -> None:
    row = PlannedOutreach
    due = (
        row.state == "planned",
        row.due_at <= now,
        or_(row.next_attempt_at.is_(None), row.next_attempt_at <= now),
    )
    with session_scope() as session:
        ids = session.scalars(select(row.id).where(*due).order_by(row.due_at, row.id).limit(settings.sweep_batch_size)).all()
        if not ids:
            return
        claimed = session.execute(
            update(row)
            .where(row.id.in_(ids), *due)
            .values(state="queued", updated_at=now)
            .returning(row.id, row.attempts)
            .execution_options(synchronize_session=False)
        ).all()
    # RETURNING comes back in no particular order (PostgreSQL); send the longest-due first.
    position = {outreach_id: n for n, outreach_id in enumerate(ids)}
    claimed = sorted(claimed, key=lambda pair: position[pair[0]])
    _enqueue(queue, [(outreach_id, attempts, now) for outreach_id, attempts in claimed], settings)
    result.queued.extend(sorted(outreach_id for outreach_id, _ in claimed))


# -- lost jobs ----------------------------------------------------------------


def recover_lost_jobs(now: datetime, *, queue: Queue, settings: SchedulerSettings, result: SweepResult) -> None:
    row = PlannedOutreach
    cutoff = now - timedelta(seconds=settings.queued_recovery_seconds)
    with session_scope() as session:
        queued = session.execute(
            select(row.id, row.attempts, row.updated_at).where(row.state == "queued", row.updated_at <= cutoff)
        ).all()
    lost = []
    for outreach_id, attempts, queued_at in queued:
        jid = job_id(outreach_id, attempts, queued_at)
        job = Job.fetch(jid, connection=queue.connection) if Job.exists(jid, connection=queue.connection) else None
        if job is not None and job.get_status(refresh=True) in LIVE_JOB_STATES:
            continue
        if job is not None:
            job.delete()  # finished or failed without settling the row: start clean
        lost.append((outreach_id, attempts, queued_at))
    if lost:
        _enqueue(queue, lost, settings)
        result.requeued.extend(outreach_id for outreach_id, _, _ in lost)
        log.warning("sweep: %s queued rows had lost their job; enqueued again", len(lost))


# -- interrupted sends --------------------------------------------------------


def resolve_stuck_sending(now: datetime, *, settings: SchedulerSettings, result: SweepResult) -> None:
    """Settle rows whose send job died, without ever sending a message twice.

    Two ways were open: look the message up, or hand every such row to staff
    for review. We look it up, and fall back to review only when we cannot
    tell. The send job commits the exact message it is about to send (status
    "pending", linked to the row) before calling Twilio, so for a stuck row:

    - no stored message, or one marked not_sent: the job died before calling
      Twilio; nothing went out, the row goes back to the plan. The attempt
      counts, so a row whose job always dies ends as failed.
    - a pending message: ask Twilio for messages from the clinic number to
      the patient (To/From filter, newest first) created since we stored it,
      with exactly its body.
      - found: it went out. Record it as sent, with Twilio's SID (the status
        callbacks then move it on as usual).
      - Twilio answers and it is not there: Twilio never accepted it (the
        job died before or during the request). Back to the plan, counting
        the attempt so a job that always dies cannot loop forever.
      - Twilio cannot be asked: try again next sweep; after
        `unconfirmed_review_seconds`, give up guessing: state failed,
        error_code "send_unconfirmed", and a handoff so a person checks the
        conversation. We never resend on a guess.

    Marking every stuck row for review would be simpler, but a worker killed
    by a deploy would then turn each in-flight reminder into staff work and
    the patient into someone who missed a reminder. Twilio has no
    idempotency key for Messages, so the lookup matches on number, time and
    body; the stored body makes that exact.
    """
    cutoff = now - timedelta(seconds=settings.sending_grace_seconds)
    with session_scope() as session:
        stuck = session.scalars(
            select(PlannedOutreach.id).where(PlannedOutreach.state == "sending", PlannedOutreach.updated_at <= cutoff)
        ).all()
    for outreach_id in stuck:
        with session_scope() as session:
            _resolve_one(session, outreach_id, now=now, settings=settings, result=result)


def _resolve_one(session: Session, outreach_id: int, *, now: datetime, settings: SchedulerSettings, result: SweepResult) -> None:
    outreach = session.get(PlannedOutreach, outreach_id)
    if outreach is None or outreach.state != "sending":
        return
    seen_at = outreach.updated_at
    message = session.get(Message, outreach.message_id) if outreach.message_id else None
    if outreach.channel == "staff" or message is None or message.delivery_status == NOT_SENT:
        # Died before calling Twilio. (Staff rows open their handoff in the
        # transaction that marks them sent, so theirs did not happen either.)
        _not_sent(session, outreach, message, now=now, seen_at=seen_at, settings=settings, result=result)
        return
    if message.twilio_sid is not None:
        _take(session, outreach_id, seen_at, state="sent", twilio_sid=message.twilio_sid,
              sent_at=message.created_at, updated_at=now)  # fmt: skip
        result.confirmed.append(outreach_id)
        return
    patient = session.get(Patient, outreach.patient_id)
    try:
        found = find_sent(
            to=patient.phone,
            from_=get_clinic(session).sms_number,
            body=message.body,
            since=message.created_at - CLOCK_SKEW,
            page_size=settings.lookup_page_size,
        )
    except SmsLookupUnavailable as exc:
        if now - seen_at < timedelta(seconds=settings.unconfirmed_review_seconds):
            log.warning("outreach %s: interrupted send not checked yet (%s)", outreach_id, exc)
            return
        _hand_to_staff(session, outreach, message, now=now, seen_at=seen_at, result=result)
        return
    if found is not None:
        state = "delivered" if found.status in ("delivered", "read") else "sent"  # its callbacks may be long gone
        if _take(session, outreach_id, seen_at, state=state, twilio_sid=found.sid,
                 sent_at=message.created_at, error_code=None, updated_at=now):  # fmt: skip
            message.twilio_sid, message.delivery_status = found.sid, found.status
            audit.record(session, actor="system", action="outreach.send_confirmed", patient_id=patient.id,
                         referral_id=outreach.referral_id, conversation_id=message.conversation_id,
                         details={"outreach_id": outreach_id, "twilio_sid": found.sid}, now=now)  # fmt: skip
            result.confirmed.append(outreach_id)
            log.info("outreach %s: interrupted send had gone out sid=%s to=%s", outreach_id, found.sid, mask(patient.phone))
        return
    _not_sent(session, outreach, message, now=now, seen_at=seen_at, settings=settings, result=result)


def _not_sent(session: Session, outreach: PlannedOutreach, message: Message | None, *, now: datetime,
              seen_at: datetime, settings: SchedulerSettings, result: SweepResult) -> None:  # fmt: skip
    """Back to the plan at once, counting the attempt: a row whose job always dies ends as failed."""
    attempts = outreach.attempts + 1
    final = attempts >= settings.max_attempts
    if not _take(session, outreach.id, seen_at, attempts=attempts, error_code="interrupted", updated_at=now,
                 state="failed" if final else "planned", next_attempt_at=None):  # fmt: skip
        return
    if message is not None:
        message.delivery_status = "failed" if final else NOT_SENT
    result.replanned.append(outreach.id)
    log.warning("outreach %s: interrupted before Twilio had it; %s", outreach.id, "failed" if final else "planned again")


def _hand_to_staff(session: Session, outreach: PlannedOutreach, message: Message, *, now: datetime,
                   seen_at: datetime, result: SweepResult) -> None:  # fmt: skip
    if not _take(session, outreach.id, seen_at, state="failed", error_code="send_unconfirmed", updated_at=now):
        return
    message.delivery_status = "unconfirmed"
    conversation = message.conversation
    audit.record(session, actor="system", action="outreach.send_unconfirmed", patient_id=outreach.patient_id,
                 referral_id=outreach.referral_id, conversation_id=conversation.id,
                 details={"outreach_id": outreach.id, "message_id": message.id}, now=now)  # fmt: skip
    open_handoff(session, conversation=conversation, reason="send_unconfirmed", referral_id=outreach.referral_id, now=now)
    result.unconfirmed.append(outreach.id)
    log.warning("outreach %s: could not tell whether it was sent; handed to staff", outreach.id)


def _take(session: Session, outreach_id: int, seen_at: datetime, **values) -> bool:  # noqa: ANN003
    """Apply `values` only if the row is still the stuck one we looked at (another sweep may be here too)."""
    changed = session.execute(
        update(PlannedOutreach)
        .where(PlannedOutreach.id == outreach_id, PlannedOutreach.state == "sending", PlannedOutreach.updated_at == seen_at)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return changed.rowcount == 1
