"""The per-sender rate limit holds as Twilio sees it, across workers."""

from datetime import timedelta

import pytest

from relay.core.settings import get_settings
from relay.messaging.rate_limit import SenderRateLimiter
from scheduler.sweep import sweep
from tests.outreach_support import add_row, row, work

CONSENTING = [
    "James Carter", "Aisha Khan", "Robert Chen", "Linda Brooks", "Daniel Wright",
    "Emily Nguyen", "Grace Lee", "Kevin Murphy", "Maria Gonzalez", "Priya Patel",
]  # fmt: skip


@pytest.mark.usefixtures("stub_plan")
def test_two_workers_never_send_more_than_the_limit_in_any_second(daytime, redis_client, outreach_env, monkeypatch):
    monkeypatch.setenv("OUTREACH_RATE_LIMIT_PER_SECOND", "2")
    get_settings.cache_clear()
    _, now = daytime
    ids = [add_row(name, due_at=now - timedelta(minutes=1)) for name in CONSENTING]
    assert len(sweep(now).queued) == 10

    work(redis_client, workers=2)

    assert [row(i).state for i in ids] == ["sent"] * 10
    arrivals = sorted(request.at for request in outreach_env.created_requests())
    assert len(arrivals) == 10
    # Any 3 consecutive arrivals span at least a second: never 3 within one second at Twilio.
    spans = [later - first for first, later in zip(arrivals, arrivals[2:], strict=False)]
    assert min(spans) >= 1.0, [round(span, 3) for span in spans]


def test_a_sender_without_a_slot_in_time_gets_none(redis_client):
    redis_client.flushdb()
    limiter = SenderRateLimiter(redis_client, per_second=1)
    assert limiter.acquire("+13125550100", max_wait=0)
    assert not limiter.acquire("+13125550100", max_wait=0.2)
    assert limiter.acquire("+13125550199", max_wait=0)  # another sender has its own budget
    redis_client.flushdb()


def test_zero_turns_the_limit_off(redis_client):
    limiter = SenderRateLimiter(redis_client, per_second=0)
    assert all(limiter.acquire("+13125550100", max_wait=0) for _ in range(50))


@pytest.mark.usefixtures("stub_plan")
def test_a_job_that_waits_too_long_for_a_slot_gives_the_row_back(daytime, redis_client, outreach_env, monkeypatch):
    monkeypatch.setenv("OUTREACH_RATE_LIMIT_PER_SECOND", "1")
    monkeypatch.setenv("OUTREACH_RATE_LIMIT_MAX_WAIT_SECONDS", "0")
    get_settings.cache_clear()
    _, now = daytime
    first = add_row("James Carter", due_at=now - timedelta(minutes=2))
    second = add_row("Aisha Khan", due_at=now - timedelta(minutes=1))
    sweep(now)
    work(redis_client)
    assert (row(first).state, row(second).state) == ("sent", "planned")
    assert row(second).attempts == 0 and row(second).next_attempt_at > now
    assert len(outreach_env.created_requests()) == 1
