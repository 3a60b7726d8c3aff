"""How the outreach engine executes the plan: sweeps, retries, recovery, rate.

What the clinic decides (cadences, quiet hours, the daily cap, the sender's
messages per second) lives with the planner in relay/outreach/ (cadence file)
and the clinic row. This file holds only the execution knobs, each an
environment variable with the `OUTREACH_` prefix (e.g.
`OUTREACH_MAX_ATTEMPTS=3`); the two cadence values can be overridden here
too, which tests and `make bench` use.

Timing invariant: a send job can hold a row in `sending` for at most
`send_job_timeout_seconds` (RQ kills the job then), so
`sending_grace_seconds` must be larger: only after it may the sweep assume
the job is dead and resolve the row.
"""

from functools import lru_cache

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DAILY_CAP = 3
DEFAULT_RATE_LIMIT_PER_SECOND = 1


class SchedulerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTREACH_", env_file=".env", extra="ignore")

    # The periodic sweep (RQ cron), and how many rows may wait in RQ at once:
    # a sweep queues due rows only up to that (scheduler.sweep). Sweeps come
    # about every 1 to 2 s while rows are left behind, so this must outlast
    # 2 s of the workers' pace: 500 starved two workers at about 280 sends/s.
    sweep_interval_seconds: int = 30
    sweep_batch_size: int = 2000
    # A row `queued` this long whose RQ job is gone (Redis flushed) is queued again.
    queued_recovery_seconds: int = 60
    # A row `sending` this long belongs to a dead job (see the invariant above).
    sending_grace_seconds: int = 300
    # How long the sweep keeps trying to find out whether an interrupted send
    # went out before it hands the row to staff (state failed, "send_unconfirmed").
    unconfirmed_review_seconds: int = 3600

    send_job_timeout_seconds: int = 60
    # Temporary failures (network, 429, 5xx, 30003): retries with exponential
    # backoff base * 2^(attempt-1), capped, plus up to `backoff_jitter` of it at random.
    max_attempts: int = 5
    backoff_base_seconds: float = 60.0
    backoff_max_seconds: float = 3600.0
    backoff_jitter: float = 0.25

    # Messages per second per sender number; unset: the cadence file's. 0 turns it off.
    rate_limit_per_second: int | None = None
    # The window is 1 s plus this guard, so jitter between taking a slot and
    # the request reaching Twilio cannot squeeze N+1 sends into one second there.
    rate_limit_guard_ms: int = 100
    # How long a send job waits for a slot before giving the row back to the sweep.
    rate_limit_max_wait_seconds: float = 20.0
    rate_limit_retry_seconds: float = 5.0

    # Automated messages per patient per local day; unset: the cadence file's.
    daily_cap: int | None = None

    # Messages the stuck-send lookup reads from Twilio (newest first, one page).
    lookup_page_size: int = 50

    @model_validator(mode="after")
    def _grace_outlasts_a_job(self) -> "SchedulerSettings":
        if self.sending_grace_seconds <= self.send_job_timeout_seconds:
            raise ValueError("OUTREACH_SENDING_GRACE_SECONDS must exceed OUTREACH_SEND_JOB_TIMEOUT_SECONDS")
        return self


@lru_cache
def get_scheduler_settings() -> SchedulerSettings:
    return SchedulerSettings()


def _cadence_value(name: str, default: int) -> int:
    from relay.outreach.cadence import load_cadence

    return int(getattr(load_cadence(), name, default))


def daily_cap(settings: SchedulerSettings | None = None) -> int:
    settings = settings or get_scheduler_settings()
    if settings.daily_cap is not None:
        return settings.daily_cap
    return _cadence_value("daily_cap", DEFAULT_DAILY_CAP)


def rate_limit_per_second(settings: SchedulerSettings | None = None) -> int:
    settings = settings or get_scheduler_settings()
    if settings.rate_limit_per_second is not None:
        return settings.rate_limit_per_second
    return _cadence_value("rate_limit_per_second", DEFAULT_RATE_LIMIT_PER_SECOND)
