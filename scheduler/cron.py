"""RQ's cron schedule (rq.cron): the outreach sweep, every `OUTREACH_SWEEP_INTERVAL_SECONDS`, and
the FHIR sync every `FHIR_SYNC_INTERVAL_SECONDS` when `FHIR_BASE_URL` is set.

RQ's cron runs as a process of its own (`relay serve cron`, one line of the
Procfile, which runs `rq cron scheduler.cron`), not inside the workers: however
many workers run, there is exactly one sweep schedule. A second schedule
would do no harm (a sweep is idempotent) but would only cost queries. The
follow-up sweeps that keep the workers busy between ticks are scheduled by
the sweeps themselves (scheduler.sweep).
"""

from rq import cron

from relay.core.settings import get_settings
from scheduler.jobs import FHIR_SYNC_JOB_TIMEOUT, sync_fhir
from scheduler.queues import SEND_QUEUE, SWEEP_QUEUE
from scheduler.sweep import run_sweep

_settings = get_settings()
_interval = _settings.outreach_sweep_interval_seconds

cron.register(
    run_sweep,
    SWEEP_QUEUE,
    interval=_interval,
    job_timeout=300,
    # A sweep that waited longer than two intervals is superseded by the next one.
    ttl=2 * _interval,
    result_ttl=600,
)

if _settings.fhir_base_url:
    _sync_interval = _settings.fhir_sync_interval_seconds
    cron.register(
        sync_fhir,
        SEND_QUEUE,  # not the sweep's queue: a long sync must not hold the sweeps back
        interval=_sync_interval,
        job_timeout=FHIR_SYNC_JOB_TIMEOUT,
        ttl=_sync_interval,  # one that waited a whole interval is superseded by the next
        result_ttl=3600,
    )
