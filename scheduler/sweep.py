"""The periodic sweep: hand due rows to RQ, and repair what a lost Redis or a dead worker left.

RQ's cron (scheduler.cron) runs `run_sweep` every ~30 s. Each sweep
is idempotent and safe to run from several workers at once:

- **Due rows** (planned, due, retry time reached) move to `queued` in one
  conditional UPDATE ... RETURNING, so a row is queued by exactly one sweep,
  and only then is its job enqueued, under a deterministic id
  (`job_id`). Dying between the commit and the enqueue leaves a queued row
  without a job, which the next step repairs.
- **Lost jobs**: a row `queued` for a while that no send job waiting in RQ
  (or running) names (Redis flushed or restarted without persistence) is
  enqueued again under its own job id. If two jobs ever ran for one row, the
  send job's claim lets one through.
- **Interrupted sends**: a row `sending` for longer than any job may live
  (`sending_grace_seconds`) belongs to a worker that died mid-send. Did the
  message go? See `resolve_stuck_sending`.

Keeping up between cron ticks
-----------------------------
At most `sweep_batch_size` rows are `queued` (in RQ's hands) at a time: a
sweep queues only what fits (back-pressure), and the rest stays `planned` in
the database, where the planner can still cancel it with one UPDATE and where
a lost Redis loses nothing. A sweep that queues many rows gives each job up
to `MAX_ROWS_PER_JOB` of them (`send_outreach_batch`), because RQ's own work
per job (some 14 Redis commands, about 5 ms on the bench machine) cost more
than the send; a sweep with only a few rows gives each its own job, so they
spread over the workers. So that the workers neither run dry nor wait for the
next tick, the cron's sweep (`run_sweep`) asks RQ's scheduler for a follow-up
sweep: one second later while due rows were left behind, or at the due time
of the next row if that comes before the next tick. A follow-up is an
ordinary, idempotent sweep with a job id per second, so sweeps from several
workers merge instead of multiplying. RQ's scheduler moves a follow-up to
its queue within a second of its time, so sweeps come every 1 to 2 s, and
`sweep_batch_size` must hold more than the workers send in that time.
Measured by `make bench`: without the follow-ups, dispatch could not pass 500
rows per 30 s tick (about 17/s), and a row due just after a tick waited up to
30 s; with a cap of 500 rows two workers ran dry between sweeps at about 280
sends/s, idle half the time, and with 2000 they sent about 430/s.
"""

import logging
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from relay.records import audit
from relay.records.clinics import get_clinic
from relay.core.db import session_scope
from relay.messaging.handoffs import open_handoff
from relay.models import Message, Patient, PlannedOutreach, utcnow
from relay.core.phones import mask
from relay.messaging.sms_sender import SmsLookupUnavailable, find_sent
from scheduler.jobs import CLOCK_SKEW, NOT_SENT, send_outreach, send_outreach_batch
from scheduler.queues import SWEEP_QUEUE, get_queue
from scheduler.settings import SchedulerSettings, get_scheduler_settings

log = logging.getLogger("relay.scheduler.sweep")

LIVE_JOB_STATES = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
# RQ's scheduler moves scheduled jobs to their queue once a second: no point in sweeping more often.
FOLLOW_UP_MIN_SECONDS = 1.0
# Batches: a sweep makes at least MIN_JOBS_PER_SWEEP jobs (so many workers share the work), of
# up to MAX_ROWS_PER_JOB rows each (so RQ's cost per job is shared by that many sends).
MIN_JOBS_PER_SWEEP = 20
MAX_ROWS_PER_JOB = 25
SEND_JOB_FUNCTIONS = ("scheduler.jobs.send_outreach", "scheduler.jobs.send_outreach_batch")


@dataclass
class SweepResult:
    queued: list[int] = field(default_factory=list)  # due rows handed to RQ
    requeued: list[int] = field(default_factory=list)  # queued rows whose job had vanished
    confirmed: list[int] = field(default_factory=list)  # interrupted sends found at Twilio: sent
    replanned: list[int] = field(default_factory=list)  # interrupted before Twilio had them: planned again
    unconfirmed: list[int] = field(default_factory=list)  # could not tell: failed, for staff to check
    left_due: bool = False  # due rows stayed planned because RQ already held a full batch


def run_sweep() -> dict:
    """The RQ cron entry point, and that of the follow-up sweeps it schedules."""
    now = utcnow()
    queue = get_queue()
    result = sweep(now, queue=queue)
    follow_up = next_sweep_at(now, result)
    if follow_up is not None:
        schedule_sweep(follow_up, queue.connection)
    return asdict(result)


def next_sweep_at(now: datetime, result: SweepResult, settings: SchedulerSettings | None = None) -> datetime | None:
    """When the next sweep should run if the next cron tick would be too late; None if the tick will do."""
    settings = settings or get_scheduler_settings()
    soonest = now + timedelta(seconds=FOLLOW_UP_MIN_SECONDS)
    if result.left_due:
        return soonest
    horizon = now + timedelta(seconds=settings.sweep_interval_seconds)
    row = PlannedOutreach
    with session_scope() as session:
        # Two indexed MINs rather than one over greatest(due_at, next_attempt_at), which SQLite
        # spells differently; taking the earlier only risks a sweep that finds nothing yet.
        candidates = [
            session.scalar(select(func.min(column)).where(row.state == "planned", column > now, column <= horizon))
            for column in (row.due_at, row.next_attempt_at)
        ]
    upcoming = [moment for moment in candidates if moment is not None]
    return max(min(upcoming), soonest) if upcoming else None


def schedule_sweep(when: datetime, connection) -> bool:  # noqa: ANN001
    """A sweep at `when` (rounded up to the second), unless one is already scheduled for that second."""
    second = math.ceil(when.timestamp())
    try:
        Queue(SWEEP_QUEUE, connection=connection).enqueue_at(
            datetime.fromtimestamp(second, UTC), run_sweep, job_id=f"sweep-at-{second}", unique=True,
            job_timeout=300, result_ttl=60, failure_ttl=24 * 3600,
        )  # fmt: skip
    except DuplicateJobError:
        return False
    return True


def sweep(now: datetime | None = None, *, queue: Queue | None = None) -> SweepResult:
    now = now or utcnow()
    queue = queue or get_queue()
    settings = get_scheduler_settings()
    result = SweepResult()
    resolve_stuck_sending(now, settings=settings, result=result)
    recover_lost_jobs(now, queue=queue, settings=settings, result=result)
    queue_due(now, queue=queue, settings=settings, result=result)
    counts = {name: len(ids) for name, ids in asdict(result).items() if isinstance(ids, list) and ids}
    if counts:
        log.info("sweep: %s%s", counts, " (more due)" if result.left_due else "")
    return result


def job_id(outreach_id: int, attempts: int, queued_at: datetime) -> str:
    """One id per queueing of a row: the time it was queued (its updated_at) tells queueings apart."""
    return f"outreach-{outreach_id}-{attempts}-{queued_at.astimezone(UTC):%Y%m%dT%H%M%S%f}"


def batch_job_id(rows: list[tuple[int, int, datetime]]) -> str:
    outreach_id, _, queued_at = rows[0]
    return f"outreach-batch-{outreach_id}-{len(rows)}-{queued_at.astimezone(UTC):%Y%m%dT%H%M%S%f}"


def _enqueue(queue: Queue, rows: list[tuple[int, int, datetime]], settings: SchedulerSettings) -> None:
    """One job per row for a few rows; batches of up to MAX_ROWS_PER_JOB for many (see the module docstring)."""
    per_job = min(MAX_ROWS_PER_JOB, max(1, len(rows) // MIN_JOBS_PER_SWEEP))
    batches = [rows[start : start + per_job] for start in range(0, len(rows), per_job)]
    options = {"timeout": settings.send_job_timeout_seconds, "result_ttl": 3600, "failure_ttl": 7 * 24 * 3600}
    queue.enqueue_many(
        [
            Queue.prepare_data(send_outreach, args=(batch[0][0],), job_id=job_id(*batch[0]), **options)
            if len(batch) == 1
            else Queue.prepare_data(send_outreach_batch, args=([outreach_id for outreach_id, _, _ in batch],),
                                    job_id=batch_job_id(batch), **options)  # fmt: skip
            for batch in batches
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
        # Back-pressure: top RQ up to `sweep_batch_size` queued rows, no more (see the module docstring).
        room = settings.sweep_batch_size - session.scalar(select(func.count()).where(row.state == "queued"))
        ids = session.scalars(select(row.id).where(*due).order_by(row.due_at, row.id).limit(max(room, 0) + 1)).all()
        result.left_due = len(ids) > room
        ids = ids[: max(room, 0)]
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
    if not queued:
        return
    covered = rows_with_live_jobs(queue)
    lost = []
    for outreach_id, attempts, queued_at in queued:
        if outreach_id in covered:
            continue
        jid = job_id(outreach_id, attempts, queued_at)
        if Job.exists(jid, connection=queue.connection):
            Job.fetch(jid, connection=queue.connection).delete()  # ended without settling the row: start clean
        lost.append((outreach_id, attempts, queued_at))
    if lost:
        _enqueue(queue, lost, settings)
        result.requeued.extend(outreach_id for outreach_id, _, _ in lost)
        log.warning("sweep: %s queued rows had lost their job; enqueued again", len(lost))


def rows_with_live_jobs(queue: Queue) -> set[int]:
    """The rows that a send job waiting, scheduled, deferred or running names (single or batch)."""
    job_ids = {
        *queue.get_job_ids(),
        *queue.started_job_registry.get_job_ids(),
        *queue.scheduled_job_registry.get_job_ids(),
        *queue.deferred_job_registry.get_job_ids(),
    }
    covered: set[int] = set()
    for job in Job.fetch_many(list(job_ids), connection=queue.connection):
        if job is None or job.func_name not in SEND_JOB_FUNCTIONS or job.get_status() not in LIVE_JOB_STATES:
            continue
        first = job.args[0]
        covered.update(first if isinstance(first, list) else [first])
    return covered


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
