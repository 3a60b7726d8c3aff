"""The jobs RQ runs: the send jobs (one planned outreach row, or a batch of them), and the FHIR sync.

The sweep (scheduler.sweep) enqueues the send jobs; the work itself, claim,
checks, send and record, is relay.outreach.send. The row is the truth and RQ
only executes: a job may run twice, late, or die at any line without a second
message. RQ's cron (scheduler.cron) enqueues the FHIR sync, whose work is
relay.intake.fhir_sync.
"""

from contextlib import suppress
from datetime import datetime
from typing import Any

from redis.exceptions import LockError

from relay.core.redis_conn import get_redis
from relay.intake.fhir_sync import sync_from_settings
from relay.models import utcnow
from relay.outreach.send import execute

# A sync may outlast its interval (a first import, a slow EHR). A second one at the same time would do
# no harm (pages are idempotent, creates conditional) but would read every page twice: it steps aside.
FHIR_SYNC_LOCK = "relay:fhir-sync"
FHIR_SYNC_JOB_TIMEOUT = 1800


def send_outreach(outreach_id: int, now: datetime | None = None) -> str:
    """Execute one row. Returns what happened ("sent", "skipped:opted_out", ...), for RQ's result and logs."""
    results, errors = execute([outreach_id], now=now)
    if errors:
        raise errors[0]  # RQ keeps the traceback with the failed job
    return results[outreach_id]


class BatchErrors(RuntimeError):
    """Some rows of a batch broke (each counted as an attempt, as a single job's error is); the rest went on."""


def send_outreach_batch(outreach_ids: list[int], now: datetime | None = None) -> dict[int, str]:
    """Execute several rows together (see relay.outreach.send); what happened to each, by id."""
    results, errors = execute(list(outreach_ids), now=now)
    if errors:
        broken = [outreach_id for outreach_id, result in results.items() if result == "error"]
        raise BatchErrors(f"{len(errors)} of {len(outreach_ids)} rows broke: {broken}") from errors[0]
    return results


def sync_fhir(now: datetime | None = None) -> dict[str, Any]:
    """One sync with the EHR's FHIR server; its counts (no identifiers: RQ keeps results in Redis)."""
    lock = get_redis().lock(FHIR_SYNC_LOCK, timeout=FHIR_SYNC_JOB_TIMEOUT, blocking=False)
    if not lock.acquire():
        return {"skipped": "another FHIR sync is running"}
    try:
        return sync_from_settings(now=now or utcnow()).counts()
    finally:
        with suppress(LockError):  # held past its timeout: the lock is gone already
            lock.release()
