"""RQ's cron schedule (rq.cron): the outreach sweep, every `OUTREACH_SWEEP_INTERVAL_SECONDS`.

RQ's cron runs as a process of its own (`relay serve cron`, one line of the
Procfile, which runs `rq cron scheduler.cron`), not inside the workers: however
many workers run, there is exactly one sweep schedule. A second schedule
would do no harm (a sweep is idempotent) but would only cost queries. The
follow-up sweeps that keep the workers busy between ticks are scheduled by
the sweeps themselves (scheduler.sweep).
"""

from rq import cron

from relay.core.settings import get_settings
from scheduler.queues import SWEEP_QUEUE
from scheduler.sweep import run_sweep

_interval = get_settings().outreach_sweep_interval_seconds

cron.register(
    run_sweep,
    SWEEP_QUEUE,
    interval=_interval,
    job_timeout=300,
    # A sweep that waited longer than two intervals is superseded by the next one.
    ttl=2 * _interval,
    result_ttl=600,
)
