"""Keeping up with many due rows: back-pressure, batch jobs, follow-up sweeps, and exactly-once through all of them."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue
from rq.registry import ScheduledJobRegistry

from relay.core.db import session_scope
from relay.core.settings import get_settings
from relay.messaging.rate_limit import SenderRateLimiter
from relay.messaging.sms_sender import SmsGateway
from relay.models import Conversation
from relay.outreach import send as sending
from relay.records import consent, conversations
from scheduler import jobs
from scheduler import sweep as sweeping
from scheduler.queues import SWEEP_QUEUE, get_queue
from scheduler.sweep import SweepResult, next_sweep_at, run_sweep, schedule_sweep, sweep
from tests.outreach_support import add_row, claim, message_of, phone_of, row, work

pytestmark = pytest.mark.usefixtures("outreach_env", "stub_plan")

CONSENTING = ["James Carter", "Aisha Khan", "Robert Chen", "Linda Brooks", "Daniel Wright"]


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing after it runs, no handler sees it."""


@pytest.fixture
def small_batches(monkeypatch):
    """Five due rows are 'many': jobs of two rows (the threshold is normally 20 rows per sweep)."""
    monkeypatch.setattr(sweeping, "MIN_JOBS_PER_SWEEP", 2)
    monkeypatch.setattr(sweeping, "MAX_ROWS_PER_JOB", 2)


def _due_rows(now, count: int = len(CONSENTING)) -> list[int]:
    return [add_row(name, due_at=now - timedelta(minutes=1)) for name in CONSENTING[:count]]


def _jobs_waiting() -> list[tuple[str, tuple]]:
    return [(job.func_name, job.args) for job in get_queue().get_jobs()]


def _look_before_each_send(monkeypatch, look) -> list:
    """What `look()` saw right before each request to Twilio, in order."""
    seen, send = [], SmsGateway.send

    def send_after_looking(gateway, **kwargs):
        seen.append(look())
        return send(gateway, **kwargs)

    monkeypatch.setattr(SmsGateway, "send", send_after_looking)
    return seen


def test_many_due_rows_go_in_batch_jobs_and_each_is_sent_once(daytime, redis_client, outreach_env, small_batches):
    _, now = daytime
    ids = _due_rows(now)
    assert sweep(now).queued == sorted(ids)
    assert _jobs_waiting() == [
        ("scheduler.jobs.send_outreach_batch", (ids[0:2],)),
        ("scheduler.jobs.send_outreach_batch", (ids[2:4],)),
        ("scheduler.jobs.send_outreach", (ids[4],)),
    ]
    get_queue().enqueue(jobs.send_outreach_batch, ids[1:3])  # a stray second copy of some of them
    work(redis_client, workers=2)
    assert sorted(r.form["To"] for r in outreach_env.created_requests()) == sorted(phone_of(n) for n in CONSENTING)
    for outreach_id in ids:
        sent, message = row(outreach_id), message_of(outreach_id)
        assert (sent.state, message.twilio_sid, message.delivery_status) == ("sent", sent.twilio_sid, "queued")


def test_a_batch_reports_rows_it_could_not_claim(daytime, outreach_env):
    _, now = daytime
    ids = _due_rows(now, 3)
    sweep(now)
    assert claim(ids[1], now=now)  # another job has it
    assert jobs.send_outreach_batch(ids, now=now) == {ids[0]: "sent", ids[1]: "not_claimed", ids[2]: "sent"}
    assert len(outreach_env.created_requests()) == 2


def test_a_row_that_breaks_does_not_stop_its_batch(daytime, outreach_env, monkeypatch):
    import relay.outreach.prepare

    _, now = daytime
    ids = _due_rows(now, 3)
    sweep(now)
    compose = relay.outreach.prepare.compose

    def compose_but_the_second(session, outreach):
        if outreach.id == ids[1]:
            raise ZeroDivisionError
        return compose(session, outreach)

    monkeypatch.setattr(relay.outreach.prepare, "compose", compose_but_the_second)
    with pytest.raises(jobs.BatchErrors) as raised:
        jobs.send_outreach_batch(ids, now=now)
    assert isinstance(raised.value.__cause__, ZeroDivisionError)
    assert (row(ids[0]).state, row(ids[2]).state) == ("sent", "sent")
    broken = row(ids[1])
    assert (broken.state, broken.attempts, broken.error_code) == ("planned", 1, "job_error")
    assert broken.next_attempt_at > now and message_of(ids[1]) is None
    assert len(outreach_env.created_requests()) == 2


def test_a_batch_is_stored_before_its_first_send_and_recorded_together(daytime, outreach_env, monkeypatch):
    _, now = daytime
    ids = _due_rows(now, 3)
    sweep(now)
    seen_at_send = _look_before_each_send(
        monkeypatch, lambda: [(row(i).state, message_of(i) and message_of(i).delivery_status) for i in ids]
    )
    record = sending._record_sent
    recorded_groups = []

    def record_and_count(session, sends):
        recorded_groups.append([sent.outreach_id for sent in sends])
        return record(session, sends)

    monkeypatch.setattr(sending, "_record_sent", record_and_count)
    assert jobs.send_outreach_batch(ids, now=now) == dict.fromkeys(ids, "sent")
    # Every message of the batch was committed, pending, before the first request to Twilio.
    assert seen_at_send[0] == [("sending", "pending")] * 3
    assert recorded_groups == [ids]  # sent back to back: one transaction records the three
    assert [(row(i).state, message_of(i).twilio_sid) for i in ids] == [("sent", row(i).twilio_sid) for i in ids]


def test_a_batch_killed_halfway_leaves_nothing_to_send_twice(daytime, redis_client, outreach_env, monkeypatch):
    _, now = daytime
    ids = _due_rows(now, 3)
    sweep(now)
    send = SmsGateway.send
    sends = []

    def killed_at_the_second(gateway, **kwargs):
        if sends:
            raise WorkerKilled
        sends.append(kwargs["to"])
        return send(gateway, **kwargs)

    with monkeypatch.context() as patched, pytest.raises(WorkerKilled):
        patched.setattr(SmsGateway, "send", killed_at_the_second)
        jobs.send_outreach_batch(ids, now=now)
    # The first went, and its record died with the worker; the other two never reached Twilio.
    assert [row(i).state for i in ids] == ["sending"] * 3
    assert {message_of(i).delivery_status for i in ids} == {"pending"}
    assert len(outreach_env.created_requests()) == 1

    later = now + timedelta(seconds=get_settings().outreach_sending_grace_seconds + 1)
    result = sweep(later)
    assert (result.confirmed, sorted(result.replanned)) == ([ids[0]], ids[1:])  # found at Twilio; never sent
    work(redis_client)
    assert [row(i).state for i in ids] == ["sent", "sent", "sent"]
    assert sorted(r.form["To"] for r in outreach_env.created_requests()) == sorted(phone_of(n) for n in CONSENTING[:3])


def test_sends_already_made_are_recorded_when_a_later_one_raises(daytime, outreach_env, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    _, now = daytime
    ids = _due_rows(now, 3)
    sweep(now)
    acquire = SenderRateLimiter.acquire
    slots = []

    def redis_gone_at_the_second(limiter, sender, **kwargs):
        slots.append(sender)
        if len(slots) == 2:
            raise RedisConnectionError("Redis went away")
        return acquire(limiter, sender, **kwargs)

    monkeypatch.setattr(SenderRateLimiter, "acquire", redis_gone_at_the_second)
    with pytest.raises(RedisConnectionError):
        jobs.send_outreach_batch(ids, now=now)
    # The first went out and is recorded although its group had not closed; the others wait for the sweep.
    assert [row(i).state for i in ids] == ["sent", "sending", "sending"]
    assert message_of(ids[0]).twilio_sid == row(ids[0]).twilio_sid is not None
    assert len(outreach_env.created_requests()) == 1


def test_a_batch_reads_consent_from_the_ledger_and_reuses_open_conversations(daytime, outreach_env, caplog):
    _, now = daytime
    ids = _due_rows(now, 3)
    sweep(now)
    with session_scope() as session:
        consent.record_consent(session, phone=phone_of(CONSENTING[1]), consented=False, source="sms:STOP", now=now)
        talking = conversations.find_or_open(session, phone=phone_of(CONSENTING[2]), now=now).id
    with caplog.at_level(logging.WARNING, logger="relay.outreach.send"):
        assert jobs.send_outreach_batch(ids, now=now) == {ids[0]: "sent", ids[1]: "skipped:opted_out", ids[2]: "sent"}
    assert not caplog.records  # prepared together, not row by row after a failed try
    assert sorted(r.form["To"] for r in outreach_env.created_requests()) == sorted(
        phone_of(n) for n in CONSENTING[::2][:2]
    )
    assert message_of(ids[1]) is None and message_of(ids[2]).conversation_id == talking
    with session_scope() as session:
        opened = session.get(Conversation, message_of(ids[0]).conversation_id)
        assert (opened.phone, opened.patient_id) == (phone_of(CONSENTING[0]), row(ids[0]).patient_id)


def test_rows_of_one_patient_in_a_batch_keep_the_daily_cap(daytime, outreach_env):
    _, now = daytime
    ids = [add_row("James Carter", due_at=now - timedelta(minutes=m)) for m in (1, 2, 3, 4)]
    sweep(now)
    results = jobs.send_outreach_batch(ids, now=now)
    assert [results[i] for i in sorted(ids)] == ["sent", "sent", "sent", "deferred:daily_cap"]
    assert len(outreach_env.created_requests()) == 3


def test_a_batch_with_the_rate_limit_on_checks_each_row_just_before_its_send(daytime, outreach_env, monkeypatch):
    monkeypatch.setenv("OUTREACH_RATE_LIMIT_PER_SECOND", "1")
    get_settings.cache_clear()
    _, now = daytime
    ids = _due_rows(now, 2)
    sweep(now)
    seen_at_send = _look_before_each_send(monkeypatch, lambda: message_of(ids[1]))
    assert jobs.send_outreach_batch(ids, now=now) == dict.fromkeys(ids, "sent")
    assert seen_at_send[0] is None  # the second row was not yet checked nor stored when the first went


def test_rows_of_a_lost_batch_are_queued_again_and_rows_of_a_live_one_are_not(daytime, redis_client, outreach_env,
                                                                               small_batches):  # fmt: skip
    _, now = daytime
    ids = _due_rows(now)
    sweep(now)
    later = now + timedelta(seconds=get_settings().outreach_queued_recovery_seconds + 1)
    assert sweep(later).requeued == []  # every row is named by a job waiting in RQ
    redis_client.flushdb()
    assert sorted(sweep(later).requeued) == sorted(ids)
    assert sweep(later).requeued == []
    work(redis_client, workers=2)
    assert len(outreach_env.created_requests()) == len(ids)
    assert {row(i).state for i in ids} == {"sent"}


def test_back_pressure_keeps_at_most_a_batch_of_rows_in_rq(daytime, redis_client, outreach_env, monkeypatch):
    monkeypatch.setenv("OUTREACH_SWEEP_BATCH_SIZE", "3")
    get_settings.cache_clear()
    _, now = daytime
    ids = _due_rows(now)
    first = sweep(now)
    assert (len(first.queued), first.left_due) == (3, True)
    second = sweep(now)
    assert (second.queued, second.left_due) == ([], True)  # RQ is full: the rest waits in the database
    assert {row(i).state for i in ids} == {"queued", "planned"}
    work(redis_client)
    third = sweep(now)
    assert (len(third.queued), third.left_due) == (2, False)
    work(redis_client)
    assert len(outreach_env.created_requests()) == len(ids)


def test_the_next_sweep_comes_when_rows_come_due(daytime):
    _, now = daytime
    interval = get_settings().outreach_sweep_interval_seconds
    assert next_sweep_at(now, SweepResult()) is None  # nothing due before the next cron tick
    assert next_sweep_at(now, SweepResult(left_due=True)) == now + timedelta(seconds=1)
    soon = add_row("James Carter", due_at=now + timedelta(seconds=10))
    assert next_sweep_at(now, SweepResult()) == now + timedelta(seconds=10)
    assert next_sweep_at(now + timedelta(seconds=9.5), SweepResult()) == now + timedelta(seconds=10.5)  # a second apart
    add_row("Aisha Khan", due_at=now - timedelta(hours=1), next_attempt_at=now + timedelta(seconds=5))
    assert next_sweep_at(now, SweepResult()) == now + timedelta(seconds=5)
    assert row(soon).state == "planned"
    assert next_sweep_at(now - timedelta(seconds=interval), SweepResult()) is None  # beyond the horizon


def test_follow_up_sweeps_are_scheduled_once_per_second(redis_client):
    when = datetime(2030, 1, 1, 8, 0, 0, 250000, tzinfo=UTC)
    assert schedule_sweep(when, redis_client)
    assert not schedule_sweep(when + timedelta(milliseconds=500), redis_client)  # the same second
    assert schedule_sweep(when + timedelta(seconds=1), redis_client)
    registry = ScheduledJobRegistry(queue=Queue(SWEEP_QUEUE, connection=redis_client))
    assert sorted(registry.get_job_ids()) == ["sweep-at-1893484801", "sweep-at-1893484802"]


def test_the_cron_sweep_schedules_its_follow_up(daytime, redis_client):
    add_row("James Carter", due_at=datetime.now(UTC) + timedelta(seconds=10))
    run_sweep()
    registry = ScheduledJobRegistry(queue=Queue(SWEEP_QUEUE, connection=redis_client))
    [follow_up] = registry.get_job_ids()
    assert follow_up.startswith("sweep-at-")
    due_in = int(follow_up.removeprefix("sweep-at-")) - datetime.now(UTC).timestamp()
    assert 5 < due_in <= 12
