"""The send jobs RQ runs: one planned outreach row, or a batch of them.

The sweep (scheduler.sweep) enqueues them; the work itself, claim, checks,
send and record, is relay.outreach.send. The row is the truth and RQ only
executes: a job may run twice, late, or die at any line without a second
message.
"""

from datetime import datetime

from relay.outreach.send import execute


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
