"""What RQ's cron runs (rq.cron): the outreach sweep, every `OUTREACH_SWEEP_INTERVAL_SECONDS`.

Loaded by the worker process (scheduler.worker starts RQ's CronScheduler next
to the worker); `rq cron scheduler.cron` runs the same schedule alone.
Every worker process runs its own cron, so with several workers the sweep
runs more often; a sweep is idempotent, so that only costs a few queries.
"""

from rq import cron

from scheduler.queues import SWEEP_QUEUE
from scheduler.settings import get_scheduler_settings
from scheduler.sweep import run_sweep

_interval = get_scheduler_settings().sweep_interval_seconds

cron.register(
    run_sweep,
    SWEEP_QUEUE,
    interval=_interval,
    job_timeout=300,
    # A sweep that waited longer than two intervals is superseded by the next one.
    ttl=2 * _interval,
    result_ttl=600,
)
