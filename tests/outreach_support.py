"""Fixtures for the outreach engine: plan rows, in-process RQ workers, a daytime clock.

A pytest plugin of the whole suite (tests/conftest.py names it), so the send
job's tests (tests/scheduler) and the rate limit's (tests/relay/messaging)
share them.

Workers are real RQ SimpleWorkers on the test Redis, run in threads (so two
of them race for real) with RQ's thread-safe timer death penalty; jobs run
the real code against the real database, the real rate limiter in Redis and
the official twilio client talking to tests/fake_twilio.py.
"""

import threading
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from rq import Queue, SimpleWorker
from rq.timeouts import TimerDeathPenalty
from sqlalchemy import delete, select

from relay.core.db import session_scope
from relay.core.settings import get_settings
from relay.models import Message, Patient, PlannedOutreach
from scheduler.queues import QUEUE_NAMES

DEMO_ZONE = ZoneInfo("America/Chicago")


class ThreadWorker(SimpleWorker):
    """An RQ worker that can run in a thread: no signal handlers, a timer instead of SIGALRM."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass


def work(redis, *, workers: int = 1) -> None:
    """Run `workers` burst workers at once until the queues are empty."""
    queues = [Queue(name, connection=redis) for name in QUEUE_NAMES]
    runners = [ThreadWorker(queues, connection=redis) for _ in range(workers)]
    threads = [threading.Thread(target=w.work, kwargs={"burst": True, "logging_level": "WARNING"}) for w in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "an RQ worker did not finish"


def daytime_zone(now: datetime) -> ZoneInfo:
    """A fixed-offset zone where `now` is around noon: real-clock tests never meet quiet hours."""
    offset = 12 - now.astimezone(UTC).hour  # -11 .. +12
    return ZoneInfo("Etc/GMT" + (f"{-offset:+d}" if offset else ""))


@pytest.fixture
def outreach_env(fresh_demo, redis_client, fake_twilio, monkeypatch):
    """The demo clinic without any plan rows, an empty test Redis db, the fake Twilio, rate limit off."""
    with session_scope() as session:
        session.execute(delete(PlannedOutreach))
    redis_client.flushdb()  # the test Redis only (REDIS_URL of the test run)
    monkeypatch.setenv("OUTREACH_RATE_LIMIT_PER_SECOND", "0")
    get_settings.cache_clear()
    yield fake_twilio
    redis_client.flushdb()
    get_settings.cache_clear()


@pytest.fixture
def stub_plan(monkeypatch):
    """For hand-made rows: the plan always still wants them, and each renders to its own body."""
    import relay.outreach.prepare

    monkeypatch.setattr(relay.outreach.prepare, "still_applies", lambda session, outreach, now: True)
    monkeypatch.setattr(
        relay.outreach.prepare,
        "compose",
        lambda session, outreach: f"Riverside Family Health: test reminder {outreach.id}.",
    )


@pytest.fixture
def daytime(fresh_demo):
    """Put every demo patient in a zone where it is now about noon; returns (zone, now).

    After fresh_demo, whatever order a test names them in: a reseed after this
    would put the patients back in the clinic's zone, where it may be night.
    """
    now = datetime.now(UTC)
    zone = daytime_zone(now)
    with session_scope() as session:
        for patient in session.scalars(select(Patient)):
            patient.timezone = zone.key
    return zone, now


def patient_id(name: str) -> int:
    with session_scope() as session:
        return session.scalars(select(Patient.id).filter_by(name=name)).one()


def phone_of(name: str) -> str:
    with session_scope() as session:
        return session.scalars(select(Patient.phone).filter_by(name=name)).one()


def add_row(
    name: str,
    *,
    due_at: datetime,
    kind: str = "reminder",
    channel: str = "sms",
    state: str = "planned",
    valid_until: datetime | None = None,
    **values,
) -> int:
    with session_scope() as session:
        row = PlannedOutreach(
            kind=kind,
            patient_id=session.scalars(select(Patient.id).filter_by(name=name)).one(),
            channel=channel,
            template="appointment_reminder",
            language="en",
            due_at=due_at,
            valid_until=valid_until,
            state=state,
            idempotency_key=f"test:{uuid.uuid4().hex}",
            **values,
        )
        session.add(row)
        session.flush()
        return row.id


def row(outreach_id: int) -> PlannedOutreach:
    with session_scope() as session:
        return session.get(PlannedOutreach, outreach_id)


def message_of(outreach_id: int) -> Message | None:
    with session_scope() as session:
        found = session.get(PlannedOutreach, outreach_id)
        return session.get(Message, found.message_id) if found.message_id else None


def local(day_offset: int, hh_mm: str, zone: ZoneInfo = DEMO_ZONE) -> datetime:
    """An aware moment: today (in `zone`) plus `day_offset` days, at hh:mm local."""
    from datetime import time

    today = datetime.now(zone).date() + timedelta(days=day_offset)
    return datetime.combine(today, time.fromisoformat(hh_mm), tzinfo=zone)


def claim(outreach_id: int, *, now: datetime) -> bool:
    """Claim the row as a send job would (queued -> sending), in a transaction of its own."""
    from relay.outreach.send import claim as claim_rows

    with session_scope() as session:
        return claim_rows(session, [outreach_id], now=now) == [outreach_id]
