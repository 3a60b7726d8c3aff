"""The sweep on real Redis with real RQ workers: exactly once, whatever is lost or killed."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from relay.core.db import session_scope
from relay.core.settings import get_settings
from relay.messaging.sms_sender import SmsGateway
from relay.models import Handoff, Message, PlannedOutreach
from relay.outreach import send as sending
from scheduler import jobs
from scheduler.queues import get_queue
from scheduler.sweep import sweep
from tests.outreach_support import add_row, claim, message_of, phone_of, row, work

pytestmark = pytest.mark.usefixtures("outreach_env", "stub_plan")

CONSENTING = ["James Carter", "Aisha Khan", "Robert Chen", "Linda Brooks", "Daniel Wright"]


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing after it runs, no handler sees it."""


def _killed(*args, **kwargs):
    raise WorkerKilled


def _posts(fake) -> list:
    return fake.created_requests()


def test_due_rows_are_sent_exactly_once_when_swept_twice_and_worked_by_two_workers(daytime, redis_client, outreach_env):
    _, now = daytime
    ids = [add_row(name, due_at=now - timedelta(minutes=1)) for name in CONSENTING]
    later = add_row("Grace Lee", due_at=now + timedelta(hours=1))

    first, second = sweep(now), sweep(now)
    assert first.queued == sorted(ids) and second.queued == []
    # Even a job enqueued twice by hand finds nothing to claim the second time.
    get_queue().enqueue(jobs.send_outreach, ids[0])
    work(redis_client, workers=2)

    assert sorted(r.form["To"] for r in _posts(outreach_env)) == sorted(phone_of(n) for n in CONSENTING)
    for outreach_id in ids:
        sent = row(outreach_id)
        assert sent.state == "sent" and sent.twilio_sid.startswith("SM") and sent.attempts == 0
        message = message_of(outreach_id)
        assert (message.twilio_sid, message.author, message.direction, message.delivery_status) == (
            sent.twilio_sid, "system", "outbound", "queued",
        )  # fmt: skip
        assert message.body == f"Riverside Family Health: test reminder {outreach_id}."
    assert row(later).state == "planned"
    [request] = [r for r in _posts(outreach_env) if r.form["To"] == phone_of("James Carter")]
    assert request.form["StatusCallback"] == "https://relay.example.test/webhooks/twilio/status"


def test_two_sweeps_racing_queue_each_row_once(daytime, redis_client, outreach_env):
    _, now = daytime
    ids = [add_row(name, due_at=now - timedelta(minutes=1)) for name in CONSENTING]
    results, barrier = [], threading.Barrier(2)

    def racer() -> None:
        barrier.wait()
        results.append(sweep(now))

    threads = [threading.Thread(target=racer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results[0].queued + results[1].queued) == sorted(ids)
    assert get_queue().count == len(ids)
    work(redis_client, workers=2)
    assert len(_posts(outreach_env)) == len(ids)


def test_two_claims_racing_from_threads_let_exactly_one_through(daytime):
    _, now = daytime
    outreach_id = add_row("James Carter", due_at=now, state="queued")
    outcomes, barrier = [], threading.Barrier(4)

    def racer() -> None:
        barrier.wait()
        outcomes.append(claim(outreach_id, now=now))

    threads = [threading.Thread(target=racer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [False, False, False, True]
    assert row(outreach_id).state == "sending"


def test_redis_flushed_between_sweep_and_work_the_next_sweep_recovers_and_sends_once(
    daytime, redis_client, outreach_env
):
    _, now = daytime
    outreach_id = add_row("James Carter", due_at=now - timedelta(minutes=1))
    assert sweep(now).queued == [outreach_id]
    redis_client.flushdb()  # Redis lost everything: the row says queued, RQ knows nothing
    work(redis_client)
    assert _posts(outreach_env) == [] and row(outreach_id).state == "queued"

    soon = sweep(now + timedelta(seconds=5))
    assert soon.requeued == []  # a job may still be on its way: give it time
    later = now + timedelta(seconds=get_settings().outreach_queued_recovery_seconds + 1)
    assert sweep(later).requeued == [outreach_id]
    assert sweep(later).requeued == []  # its job now waits in RQ
    work(redis_client, workers=2)
    assert len(_posts(outreach_env)) == 1 and row(outreach_id).state == "sent"


def _stuck_sweep_time(now):
    return now + timedelta(seconds=get_settings().outreach_sending_grace_seconds + 1)


def test_a_worker_killed_after_twilio_took_the_message_is_resolved_without_a_second_message(
    daytime, redis_client, outreach_env, monkeypatch
):
    _, now = daytime
    outreach_id = add_row("James Carter", due_at=now - timedelta(minutes=1))
    sweep(now)

    with monkeypatch.context() as patched, pytest.raises(WorkerKilled):
        patched.setattr(sending, "_record_sent", _killed)
        jobs.send_outreach(outreach_id, now=now)
    [accepted] = outreach_env.sent
    assert row(outreach_id).state == "sending" and message_of(outreach_id).delivery_status == "pending"

    assert sweep(now + timedelta(seconds=10)).confirmed == []  # not stuck yet: the job may be alive
    result = sweep(_stuck_sweep_time(now))
    assert result.confirmed == [outreach_id] and result.queued == []
    work(redis_client)
    resolved, message = row(outreach_id), message_of(outreach_id)
    assert (resolved.state, resolved.twilio_sid) == ("sent", accepted["sid"])
    assert (message.twilio_sid, message.delivery_status) == (accepted["sid"], "queued")
    assert len(_posts(outreach_env)) == 1
    lookups = [r for r in outreach_env.requests if r.method == "GET"]
    assert lookups and lookups[0].query["To"] == phone_of("James Carter")


def test_a_worker_killed_before_twilio_got_the_message_sends_it_once_later(
    daytime, redis_client, outreach_env, monkeypatch
):
    _, now = daytime
    outreach_id = add_row("James Carter", due_at=now - timedelta(minutes=1))
    sweep(now)

    with monkeypatch.context() as patched, pytest.raises(WorkerKilled):
        patched.setattr(SmsGateway, "send", _killed)
        jobs.send_outreach(outreach_id, now=now)
    assert _posts(outreach_env) == [] and row(outreach_id).state == "sending"

    later = _stuck_sweep_time(now)
    result = sweep(later)
    assert result.replanned == [outreach_id] and result.queued == [outreach_id]
    work(redis_client)
    sent = row(outreach_id)
    assert (sent.state, sent.attempts) == ("sent", 1)
    assert len(_posts(outreach_env)) == 1
    # The message stored before the interrupted attempt is the one that went: no duplicate in the conversation.
    with session_scope() as session:
        bodies = session.scalars(select(Message.body).where(Message.author == "system")).all()
    assert bodies == [f"Riverside Family Health: test reminder {outreach_id}."]


def test_when_twilio_cannot_be_asked_the_row_goes_to_staff_not_out_again(
    daytime, redis_client, outreach_env, monkeypatch
):
    _, now = daytime
    outreach_id = add_row("James Carter", due_at=now - timedelta(minutes=1))
    sweep(now)
    with monkeypatch.context() as patched, pytest.raises(WorkerKilled):
        patched.setattr(sending, "_record_sent", _killed)
        jobs.send_outreach(outreach_id, now=now)

    outreach_env.fail_next(1, status=503)
    first = sweep(_stuck_sweep_time(now))
    assert (first.confirmed, first.replanned, first.unconfirmed) == ([], [], [])
    assert row(outreach_id).state == "sending"  # try again next sweep

    outreach_env.fail_next(1, status=503)
    review = now + timedelta(seconds=get_settings().outreach_unconfirmed_review_seconds + 1)
    assert sweep(review).unconfirmed == [outreach_id]
    work(redis_client)
    failed = row(outreach_id)
    assert (failed.state, failed.error_code) == ("failed", "send_unconfirmed")
    assert len(_posts(outreach_env)) == 1
    with session_scope() as session:
        handoff = session.scalars(select(Handoff).filter_by(reason="send_unconfirmed")).one()
        assert handoff.status == "open" and handoff.patient_id == failed.patient_id
    assert sweep(review + timedelta(minutes=5)).unconfirmed == []


def test_a_staff_row_stuck_in_sending_goes_back_to_the_plan(daytime, redis_client, outreach_env):
    _, now = daytime
    outreach_id = add_row("Aisha Khan", due_at=now - timedelta(minutes=1), kind="leakage_handoff", channel="staff")
    sweep(now)
    assert claim(outreach_id, now=now)  # and the job died right after
    result = sweep(_stuck_sweep_time(now))
    assert result.replanned == [outreach_id] and result.queued == [outreach_id]
    work(redis_client)
    assert row(outreach_id).state == "sent"
    with session_scope() as session:
        assert session.scalars(select(Handoff).filter_by(reason="referral_leakage")).one().status == "open"
    assert _posts(outreach_env) == []


def test_rows_not_due_or_waiting_for_a_retry_stay_planned(daytime):
    _, now = daytime
    later = add_row("James Carter", due_at=now + timedelta(minutes=5))
    retry = add_row("Aisha Khan", due_at=now - timedelta(hours=1), next_attempt_at=now + timedelta(minutes=5))
    assert sweep(now).queued == []
    assert sorted(sweep(now + timedelta(minutes=5)).queued) == sorted([later, retry])
    with session_scope() as session:
        assert set(session.scalars(select(PlannedOutreach.state))) == {"queued"}


def _answer_lost(monkeypatch, fake, *, then_twilio_down: bool = False) -> None:
    """Twilio takes the message but its answer never arrives (a read timeout)."""
    import requests

    from relay.messaging.sms_sender import _RebasedHttpClient

    original = _RebasedHttpClient.request

    def request(self, method, url, *args, **kwargs):
        response = original(self, method, url, *args, **kwargs)
        if method == "POST":
            if then_twilio_down:
                fake.fail_next(1, status=503)
            raise requests.ReadTimeout("read timed out")
        return response

    monkeypatch.setattr(_RebasedHttpClient, "request", request)


def test_an_unanswered_send_is_looked_up_not_repeated(daytime, redis_client, outreach_env, monkeypatch):
    _, now = daytime
    outreach_id = add_row("James Carter", due_at=now - timedelta(minutes=1))
    sweep(now)
    with monkeypatch.context() as patched:
        _answer_lost(patched, outreach_env)
        assert jobs.send_outreach(outreach_id, now=now) == "sent"
    [accepted] = outreach_env.sent
    assert (row(outreach_id).state, row(outreach_id).twilio_sid) == ("sent", accepted["sid"])
    assert len(_posts(outreach_env)) == 1


def test_an_unanswered_send_twilio_cannot_confirm_is_left_to_the_sweep(
    daytime, redis_client, outreach_env, monkeypatch
):
    _, now = daytime
    outreach_id = add_row("James Carter", due_at=now - timedelta(minutes=1))
    sweep(now)
    with monkeypatch.context() as patched:
        _answer_lost(patched, outreach_env, then_twilio_down=True)
        assert jobs.send_outreach(outreach_id, now=now) == "unconfirmed"
    assert row(outreach_id).state == "sending" and message_of(outreach_id).delivery_status == "pending"
    assert sweep(_stuck_sweep_time(now)).confirmed == [outreach_id]
    assert row(outreach_id).state == "sent" and len(_posts(outreach_env)) == 1


def test_a_job_that_breaks_before_sending_counts_an_attempt(daytime, outreach_env, monkeypatch):
    import relay.outreach.prepare

    _, now = daytime
    outreach_id = add_row("James Carter", due_at=now - timedelta(minutes=1))
    sweep(now)
    monkeypatch.setattr(relay.outreach.prepare, "compose", lambda *args: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        jobs.send_outreach(outreach_id, now=now)
    broken = row(outreach_id)
    assert (broken.state, broken.attempts, broken.error_code) == ("planned", 1, "job_error")
    assert broken.next_attempt_at > now and _posts(outreach_env) == []
