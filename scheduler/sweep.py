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
  message go? See relay.outreach.recovery.

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
from rq.queue import EnqueueData

from relay.core.settings import Settings, get_settings
from relay.models import utcnow
from relay.outreach.dispatch import next_due_time, queued_since, take_due_rows
from relay.outreach.recovery import resolve_stuck_sending
from scheduler.jobs import send_outreach, send_outreach_batch
from scheduler.queues import SWEEP_QUEUE, get_queue

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


def next_sweep_at(now: datetime, result: SweepResult, settings: Settings | None = None) -> datetime | None:
    """When the next sweep should run if the next cron tick would be too late; None if the tick will do."""
    settings = settings or get_settings()
    soonest = now + timedelta(seconds=FOLLOW_UP_MIN_SECONDS)
    if result.left_due:
        return soonest
    upcoming = next_due_time(now, within=timedelta(seconds=settings.outreach_sweep_interval_seconds))
    return max(upcoming, soonest) if upcoming is not None else None


def schedule_sweep(when: datetime, connection) -> bool:
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
    settings = get_settings()
    recovered = resolve_stuck_sending(now, settings=settings)
    result = SweepResult(
        confirmed=recovered.confirmed, replanned=recovered.replanned, unconfirmed=recovered.unconfirmed
    )
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


def _enqueue(queue: Queue, rows: list[tuple[int, int, datetime]], settings: Settings) -> None:
    """One job per row for a few rows; batches of up to MAX_ROWS_PER_JOB for many (see the module docstring)."""
    per_job = min(MAX_ROWS_PER_JOB, max(1, len(rows) // MIN_JOBS_PER_SWEEP))
    batches = [rows[start : start + per_job] for start in range(0, len(rows), per_job)]

    def job(batch: list[tuple[int, int, datetime]]) -> EnqueueData:
        single = len(batch) == 1
        return Queue.prepare_data(
            send_outreach if single else send_outreach_batch,
            args=(batch[0][0],) if single else ([outreach_id for outreach_id, _, _ in batch],),
            job_id=job_id(*batch[0]) if single else batch_job_id(batch),
            timeout=settings.outreach_send_job_timeout_seconds,
            result_ttl=3600,
            failure_ttl=7 * 24 * 3600,
        )

    queue.enqueue_many([job(batch) for batch in batches])


# -- due rows -----------------------------------------------------------------


def queue_due(now: datetime, *, queue: Queue, settings: Settings, result: SweepResult) -> None:
    """Hand due rows to RQ, topping the queued ones up to `OUTREACH_SWEEP_BATCH_SIZE` (back-pressure)."""
    due = take_due_rows(now, batch_size=settings.outreach_sweep_batch_size)
    result.left_due = due.left_due
    if not due.rows:
        return
    _enqueue(queue, [(outreach_id, attempts, now) for outreach_id, attempts in due.rows], settings)
    result.queued.extend(sorted(outreach_id for outreach_id, _ in due.rows))


# -- lost jobs ----------------------------------------------------------------


def recover_lost_jobs(now: datetime, *, queue: Queue, settings: Settings, result: SweepResult) -> None:
    queued = queued_since(now - timedelta(seconds=settings.outreach_queued_recovery_seconds))
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
