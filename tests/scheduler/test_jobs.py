"""The send job's checks at send time, and what each Twilio refusal leads to."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from relay.core.db import session_scope
from relay.core.settings import get_settings
from relay.models import AuditEvent, ConsentEvent, Handoff, Patient, PlannedOutreach
from scheduler import jobs
from scheduler.sweep import sweep
from tests.outreach_support import add_row, local, message_of, patient_id, row, work

pytestmark = pytest.mark.usefixtures("outreach_env", "stub_plan")


def _queue_and_send(outreach_id: int, now) -> str:
    assert outreach_id in sweep(now).queued
    return jobs.send_outreach(outreach_id, now=now)


def test_quiet_hours_in_the_patients_zone_move_the_send_to_8am(outreach_env):
    nine_pm = local(0, "21:00")
    outreach_id = add_row("James Carter", due_at=nine_pm - timedelta(minutes=10))
    assert _queue_and_send(outreach_id, nine_pm) == "deferred:quiet_hours"
    deferred = row(outreach_id)
    assert deferred.state == "planned" and deferred.due_at == local(1, "08:00")
    assert deferred.attempts == 0 and outreach_env.created_requests() == []
    assert message_of(outreach_id) is None
    assert sweep(local(1, "07:59")).queued == []
    assert sweep(local(1, "08:00")).queued == [outreach_id]


def test_the_patients_own_zone_wins_over_the_clinics(outreach_env):
    with session_scope() as session:
        session.scalars(select(Patient).filter_by(name="James Carter")).one().timezone = "America/Los_Angeles"
    # 21:00 in Chicago is 19:00 in Los Angeles: still allowed there.
    nine_pm_chicago = local(0, "21:00")
    outreach_id = add_row("James Carter", due_at=nine_pm_chicago - timedelta(minutes=1))
    assert _queue_and_send(outreach_id, nine_pm_chicago) == "sent"


def test_an_opted_out_patient_is_skipped(outreach_env):
    now = local(0, "11:00")
    outreach_id = add_row("Tom Baker", due_at=now - timedelta(minutes=1))
    assert _queue_and_send(outreach_id, now) == "skipped:opted_out"
    assert (row(outreach_id).state, row(outreach_id).error_code) == ("skipped", "opted_out")
    assert outreach_env.created_requests() == []


def test_a_message_past_its_validity_is_dropped_not_sent_late(outreach_env):
    now = local(0, "11:00")
    outreach_id = add_row("James Carter", due_at=now - timedelta(hours=7), valid_until=now - timedelta(hours=1))
    assert _queue_and_send(outreach_id, now) == "skipped:expired"
    assert (row(outreach_id).state, row(outreach_id).error_code) == ("skipped", "expired")
    assert outreach_env.created_requests() == []


def test_a_deferral_past_the_validity_drops_the_message(outreach_env):
    nine_pm = local(0, "21:00")
    outreach_id = add_row(
        "James Carter", due_at=nine_pm - timedelta(minutes=5), valid_until=nine_pm + timedelta(hours=2)
    )
    assert _queue_and_send(outreach_id, nine_pm) == "skipped:expired"


def test_a_row_the_plan_no_longer_wants_is_cancelled(outreach_env, monkeypatch):
    import relay.outreach.prepare

    monkeypatch.setattr(relay.outreach.prepare, "still_applies", lambda session, outreach, now: False)
    now = local(0, "11:00")
    outreach_id = add_row("James Carter", due_at=now - timedelta(minutes=1))
    assert _queue_and_send(outreach_id, now) == "cancelled:no_longer_applies"
    assert outreach_env.created_requests() == []


def test_the_fourth_automated_text_of_the_day_waits_for_tomorrow(outreach_env):
    morning, now = local(0, "09:00"), local(0, "15:00")
    for hour in (9, 10, 11):
        add_row(
            "James Carter", due_at=morning, state="sent", sent_at=local(0, f"{hour:02d}:00"), twilio_sid=f"SMx{hour}"
        )
    yesterday = add_row("James Carter", due_at=morning, state="delivered", sent_at=local(-1, "16:00"), twilio_sid="SMy")
    fourth = add_row("James Carter", due_at=now - timedelta(minutes=1))
    assert _queue_and_send(fourth, now) == "deferred:daily_cap"
    deferred = row(fourth)
    assert (deferred.state, deferred.due_at) == ("planned", local(1, "08:00"))
    assert outreach_env.created_requests() == [] and row(yesterday).state == "delivered"


def test_a_lower_row_still_queued_takes_the_last_place_of_the_day(outreach_env):
    # Two sent today, a lower row queued (not yet claimed by its worker), a higher one checked first:
    # the higher one must leave the last place to the lower, or both would count only two and go.
    morning, now = local(0, "09:00"), local(0, "15:00")
    for hour in (9, 10):
        add_row(
            "James Carter", due_at=morning, state="sent", sent_at=local(0, f"{hour:02d}:00"), twilio_sid=f"SMq{hour}"
        )
    lower = add_row("James Carter", due_at=now - timedelta(minutes=2), state="queued")
    higher = add_row("James Carter", due_at=now - timedelta(minutes=1))
    assert _queue_and_send(higher, now) == "deferred:daily_cap"
    assert row(lower).state == "queued" and outreach_env.created_requests() == []


def test_of_four_due_at_once_three_go_today(daytime, redis_client, outreach_env):
    zone, now = daytime
    ids = [add_row("James Carter", due_at=now - timedelta(minutes=4 - i)) for i in range(4)]
    sweep(now)
    work(redis_client, workers=2)
    states = [row(i).state for i in ids]
    assert states.count("sent") == 3 and states.count("planned") == 1
    [waiting] = [row(i) for i in ids if row(i).state == "planned"]
    assert waiting.due_at.astimezone(zone).date() == now.astimezone(zone).date() + timedelta(days=1)
    assert waiting.due_at.astimezone(zone).strftime("%H:%M") == "08:00"
    assert len(outreach_env.created_requests()) == 3


def test_429_is_retried_with_backoff_and_sent_once(daytime, redis_client, outreach_env):
    _, now = daytime
    outreach_id = add_row("James Carter", due_at=now - timedelta(minutes=1))
    outreach_env.fail_next(1, status=429)
    sweep(now)
    work(redis_client)
    waiting = row(outreach_id)
    settings = get_settings()
    assert (waiting.state, waiting.attempts, waiting.error_code) == ("planned", 1, "20429")
    delay = waiting.next_attempt_at - now
    assert timedelta(seconds=settings.outreach_backoff_base_seconds) <= delay
    assert delay <= timedelta(
        seconds=settings.outreach_backoff_base_seconds * (1 + settings.outreach_backoff_jitter) + 60
    )
    assert message_of(outreach_id).delivery_status == "not_sent"

    assert sweep(now).queued == []  # not before its retry time
    assert sweep(waiting.next_attempt_at).queued == [outreach_id]
    work(redis_client)
    sent = row(outreach_id)
    assert (sent.state, sent.attempts, sent.error_code) == ("sent", 1, None)
    assert [r.answered for r in outreach_env.created_requests()] == [429, 201]
    assert message_of(outreach_id).twilio_sid == sent.twilio_sid


def test_backoff_grows_and_gives_up_after_the_last_attempt(outreach_env, monkeypatch):
    monkeypatch.setenv("OUTREACH_MAX_ATTEMPTS", "3")
    get_settings.cache_clear()
    now = local(0, "11:00")
    outreach_id = add_row("James Carter", due_at=now - timedelta(minutes=1))
    delays = []
    for attempt in range(3):
        outreach_env.fail_next(1, status=503)
        outcome = _queue_and_send(outreach_id, now)
        current = row(outreach_id)
        if attempt < 2:
            assert outcome == "retry:20500"
            delays.append(current.next_attempt_at - now)
            now = current.next_attempt_at
    assert (current.state, current.attempts, current.error_code) == ("failed", 3, "20500")
    assert delays[1] > delays[0]
    assert message_of(outreach_id).delivery_status == "failed"


def test_twilio_unreachable_is_temporary(outreach_env, monkeypatch):
    monkeypatch.setenv("TWILIO_API_BASE_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    from relay.core.settings import get_settings

    get_settings.cache_clear()
    now = local(0, "11:00")
    outreach_id = add_row("James Carter", due_at=now - timedelta(minutes=1))
    assert _queue_and_send(outreach_id, now) == "retry:network"


def test_21610_records_the_opt_out_and_cancels_the_rest_of_the_plan(outreach_env):
    now = local(0, "11:00")
    outreach_id = add_row("Aisha Khan", due_at=now - timedelta(minutes=1))
    later = add_row("Aisha Khan", due_at=now + timedelta(days=1))
    other_patient = add_row("James Carter", due_at=now + timedelta(days=1))
    outreach_env.fail_next(1, status=400, code=21610)
    assert _queue_and_send(outreach_id, now) == "opted_out:21610"
    assert (row(outreach_id).state, row(outreach_id).error_code) == ("failed", "21610")
    assert (row(later).state, row(later).error_code) == ("cancelled", "opted_out")
    assert row(other_patient).state == "planned"
    with session_scope() as session:
        event = session.scalars(
            select(ConsentEvent).filter_by(patient_id=patient_id("Aisha Khan")).order_by(ConsentEvent.id.desc())
        ).first()
        assert (event.consented, event.source) == (False, "twilio:21610")
        assert session.get(Patient, patient_id("Aisha Khan")).sms_consent is False


@pytest.mark.parametrize("code", [21211, 21614])
def test_an_invalid_number_fails_is_flagged_and_handed_to_staff(outreach_env, code):
    now = local(0, "11:00")
    outreach_id = add_row("Robert Chen", due_at=now - timedelta(minutes=1), referral_id=None)
    outreach_env.fail_next(1, status=400, code=code)
    assert _queue_and_send(outreach_id, now) == f"flagged:{code}"
    assert (row(outreach_id).state, row(outreach_id).error_code) == ("failed", str(code))
    with session_scope() as session:
        flagged = session.scalars(select(AuditEvent).filter_by(action="phone.flagged")).one()
        assert flagged.details == {"outreach_id": outreach_id, "error_code": code}
        handoff = session.scalars(select(Handoff).filter_by(reason="invalid_number")).one()
        assert handoff.status == "open" and handoff.patient_id == patient_id("Robert Chen")


def test_other_permanent_refusals_fail_without_retry(outreach_env):
    now = local(0, "11:00")
    outreach_id = add_row("James Carter", due_at=now - timedelta(minutes=1))
    outreach_env.fail_next(1, status=400, code=21617)
    assert _queue_and_send(outreach_id, now) == "failed:21617"
    assert row(outreach_id).attempts == 0


def test_a_leakage_row_opens_a_handoff_instead_of_a_text(outreach_env):
    now = local(0, "23:00")  # staff work has no quiet hours
    with session_scope() as session:
        referral_id = session.get(Patient, patient_id("Aisha Khan")).referrals[0].id
    outreach_id = add_row(
        "Aisha Khan",
        due_at=now - timedelta(minutes=1),
        kind="leakage_handoff",
        channel="staff",
        referral_id=referral_id,
    )
    assert _queue_and_send(outreach_id, now) == "handoff"
    assert (row(outreach_id).state, row(outreach_id).sent_at) == ("sent", now)
    with session_scope() as session:
        handoff = session.scalars(select(Handoff).filter_by(reason="referral_leakage")).one()
        assert (handoff.priority, handoff.referral_id, handoff.status) == ("normal", referral_id, "open")
    assert outreach_env.created_requests() == []


def test_a_job_for_a_row_that_is_not_queued_does_nothing(outreach_env):
    now = local(0, "11:00")
    outreach_id = add_row("James Carter", due_at=now, state="cancelled")
    assert jobs.send_outreach(outreach_id, now=now) == "not_claimed"
    with session_scope() as session:
        assert session.get(PlannedOutreach, outreach_id).state == "cancelled"


def test_logs_carry_ids_and_masked_numbers_only(outreach_env, caplog):
    import logging

    now = local(0, "11:00")
    outreach_id = add_row("James Carter", due_at=now - timedelta(minutes=1))
    with caplog.at_level(logging.DEBUG):
        _queue_and_send(outreach_id, now)
    assert f"outreach {outreach_id} sent" in caplog.text
    assert "+13125550145" not in caplog.text and "test reminder" not in caplog.text
