"""Planning against the real demo database: the diff by idempotency key, booking, consent, every demo patient."""

from datetime import UTC, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from relay.models import Patient, PlannedOutreach, Referral, utcnow
from relay.outreach.bulk import replan_all
from relay.outreach.reconcile import replan_appointment, replan_referral, still_applies
from relay.outreach.templates import compose
from relay.records.consent import record_consent
from relay.scheduling.booking import book_slot, cancel_appointment, confirm_appointment, live_appointment
from tests.relay.outreach.helpers import NOW, free_slots, plan, referral, rows, snapshot
from tests.support import demo_moment


def test_replanning_the_same_state_twice_adds_nothing(db_session):
    replan_all(db_session, now=NOW)
    first = snapshot(db_session)
    assert first
    replan_all(db_session, now=NOW)
    replan_all(db_session, now=NOW + timedelta(hours=3))  # a later clock re-plans the same state
    assert snapshot(db_session) == first


def test_booking_replans_reminders_appear_and_the_scheduling_campaign_stops(db_session):
    aisha = referral(db_session, "RF-2002")  # ready to schedule with Dr. Park
    replan_referral(db_session, referral=aisha, now=NOW)
    assert [k for k, state, _ in plan(db_session, aisha)] == [
        "scheduling_invite:invite",
        "scheduling_nudge:2d",
        "scheduling_nudge:5d",
        "leakage_handoff:7d",
    ]
    slot = free_slots(db_session, aisha.specialist_id, 1)[0]

    appointment = book_slot(db_session, referral=aisha, start_at=slot, now=NOW, actor="bot")

    by_kind = {(r.kind, r.idempotency_key.split(":")[1]): r for r in rows(db_session, aisha)}
    assert {r.kind: r.state for r in rows(db_session, aisha) if r.kind != "reminder"} == {
        "scheduling_invite": "cancelled",
        "scheduling_nudge": "cancelled",
        "leakage_handoff": "cancelled",
        "confirmation": "planned",
    }
    reminders = [r for r in rows(db_session, aisha) if r.kind == "reminder"]
    assert {r.idempotency_key.split(":")[1] for r in reminders} == {"3d", "1d", "2h"}
    assert all(r.appointment_id == appointment.id and r.patient_id == aisha.patient_id for r in reminders)
    assert by_kind[("confirmation", f"appt{appointment.id}")].due_at == NOW


def test_rescheduling_cancels_the_old_reminders_adds_new_ones_and_keeps_what_was_sent(db_session):
    james = referral(db_session, "RF-2001")
    appointment = live_appointment(db_session, referral=james)
    replan_appointment(db_session, appointment=appointment, now=NOW)
    old = {r.idempotency_key: r for r in rows(db_session, james)}
    confirmation = next(r for r in old.values() if r.kind == "confirmation")
    confirmation.state, confirmation.sent_at = "sent", NOW  # the execution side sent it
    queued = next(r for r in old.values() if r.idempotency_key.startswith("reminder:1d"))
    queued.state = "queued"
    db_session.flush()
    new_start = free_slots(db_session, james.specialist_id, 1)[0]

    book_slot(db_session, referral=james, start_at=new_start, now=NOW, actor="bot")

    after = {r.idempotency_key: r for r in rows(db_session, james)}
    for key, row in old.items():
        db_session.refresh(row)
        if row is confirmation:
            assert row.state == "sent"
        elif row.state != "skipped":
            assert (row.state, row.error_code) == ("cancelled", "superseded"), key
    fresh = [r for key, r in after.items() if key not in old]
    stamp = new_start.astimezone(UTC).isoformat()
    assert sorted(r.idempotency_key for r in fresh) == sorted(
        [f"confirmation:appt{appointment.id}:{stamp}"]
        + [f"reminder:{name}:appt{appointment.id}:{stamp}" for name in ("3d", "1d", "2h")]
    )
    assert all(r.state == "planned" for r in fresh)


def test_a_cancelled_appointment_cancels_pending_reminders_and_the_patients_own_cancel_gets_no_rebook_offer(db_session):
    james = referral(db_session, "RF-2001")
    appointment = live_appointment(db_session, referral=james)
    replan_appointment(db_session, appointment=appointment, now=NOW)

    cancel_appointment(db_session, appointment=appointment, now=NOW, actor="bot")

    pending = [r for r in rows(db_session, james) if r.state in ("planned", "queued")]
    assert pending == []
    assert not [r for r in rows(db_session, james) if r.kind == "rebook_offer"]


def test_a_confirmed_appointment_drops_the_confirmation_and_the_2_hour_reminder(db_session):
    kevin = referral(db_session, "RF-2009")  # D+5 14:00
    appointment = live_appointment(db_session, referral=kevin)
    replan_appointment(db_session, appointment=appointment, now=NOW)

    confirm_appointment(db_session, appointment=appointment, now=NOW, actor="patient:outreach_reply")

    states = {
        r.idempotency_key.split(":")[0] + ":" + r.idempotency_key.split(":")[1]: r.state
        for r in rows(db_session, kevin)
    }
    assert states[f"confirmation:appt{appointment.id}"] == "cancelled"
    assert (states["reminder:3d"], states["reminder:1d"], states["reminder:2h"]) == ("planned", "planned", "cancelled")
    reminder = next(r for r in rows(db_session, kevin) if r.idempotency_key.startswith("reminder:1d"))
    assert "Reply R to reschedule" in compose(db_session, reminder)


def test_a_reminder_whose_time_has_passed_is_kept_as_skipped(db_session):
    maria = referral(db_session, "RF-2011")  # D+2 09:00: the 3-day reminder was yesterday
    replan_appointment(db_session, appointment=live_appointment(db_session, referral=maria), now=NOW)
    by_name = {r.idempotency_key.split(":")[1]: r for r in rows(db_session, maria) if r.kind == "reminder"}
    assert (by_name["3d"].state, by_name["3d"].error_code) == ("skipped", "past_due")
    assert by_name["1d"].state == by_name["2h"].state == "planned"
    assert by_name["2h"].due_at == demo_moment(2, "08:00")  # 7:00 is quiet; 8:00 is an hour before


def test_marias_outreach_is_in_spanish(db_session):
    maria = referral(db_session, "RF-2011")
    replan_appointment(db_session, appointment=live_appointment(db_session, referral=maria), now=NOW)
    reminder = next(r for r in rows(db_session, maria) if r.idempotency_key.startswith("reminder:1d"))
    assert reminder.language == "es"
    text = compose(db_session, reminder)
    assert text.startswith("Recordatorio de Riverside Family Health")
    assert "Responda C para confirmar o R para cambiar la cita." in text
    assert "Dr. Priya Raman" in text and "a las 9:00 a. m." in text


def test_no_texts_are_planned_for_a_patient_without_consent_but_staff_still_get_the_handoff(db_session):
    tom = referral(db_session, "RF-2007")  # texted STOP earlier
    replan_referral(db_session, referral=tom, now=NOW)
    assert plan(db_session, tom) == [
        ("scheduling_invite:invite", "skipped", "no_consent"),
        ("scheduling_nudge:2d", "skipped", "no_consent"),
        ("scheduling_nudge:5d", "skipped", "no_consent"),
        ("leakage_handoff:7d", "planned", None),
    ]
    book_slot(
        db_session, referral=tom, start_at=free_slots(db_session, tom.specialist_id, 1)[0], now=NOW, actor="staff:1"
    )
    texts = [r for r in rows(db_session, tom) if r.channel == "sms"]
    assert texts and all(r.state in ("skipped", "cancelled") for r in texts)
    assert {r.error_code for r in texts if r.kind in ("confirmation", "reminder")} == {"no_consent"}


def test_an_opt_in_brings_back_what_is_still_wanted_and_an_opt_out_sets_pending_rows_aside(db_session):
    tom = referral(db_session, "RF-2007")
    replan_referral(db_session, referral=tom, now=NOW)
    # The ledger orders by time, and the seed wrote Tom's opt-out at the real time of seeding.
    record_consent(db_session, phone=tom.patient.phone, consented=True, source="sms:START", now=utcnow())

    replan_referral(db_session, referral=tom, now=NOW + timedelta(hours=1))
    assert [state for _, state, _ in plan(db_session, tom)] == ["planned"] * 4

    record_consent(
        db_session, phone=tom.patient.phone, consented=False, source="sms:STOP", now=utcnow() + timedelta(seconds=1)
    )
    replan_referral(db_session, referral=tom, now=NOW + timedelta(hours=2))
    assert [(state, code) for _, state, code in plan(db_session, tom)][:3] == [("skipped", "no_consent")] * 3


def test_history_is_never_touched(db_session):
    james = referral(db_session, "RF-2001")
    appointment = live_appointment(db_session, referral=james)
    replan_appointment(db_session, appointment=appointment, now=NOW)
    history = {"sending": None, "sent": None, "delivered": None, "failed": "30006"}
    planned = [r for r in rows(db_session, james) if r.state == "planned"]
    for row, (state, code) in zip(planned, history.items(), strict=False):
        row.state, row.error_code = state, code
    db_session.flush()
    before = {r.id: (r.state, r.error_code) for r in planned}

    cancel_appointment(db_session, appointment=appointment, now=NOW, actor="api")

    for row in planned:
        db_session.refresh(row)
    assert {r.id: (r.state, r.error_code) for r in planned} == before


def test_still_applies_refuses_a_stale_reminder(db_session):
    james = referral(db_session, "RF-2001")
    appointment = live_appointment(db_session, referral=james)
    replan_appointment(db_session, appointment=appointment, now=NOW)
    reminder = next(r for r in rows(db_session, james) if r.idempotency_key.startswith("reminder:1d"))
    assert still_applies(db_session, reminder, NOW)
    reminder.state = "sending"  # claimed by a worker just before the patient moves the visit
    db_session.flush()

    book_slot(
        db_session, referral=james, start_at=free_slots(db_session, james.specialist_id, 1)[0], now=NOW, actor="bot"
    )

    db_session.refresh(reminder)
    assert reminder.state == "sending"  # the planner never touches a claimed row...
    assert not still_applies(db_session, reminder, NOW)  # ...and the sender learns it is stale


def test_the_full_cadence_for_every_demo_patient(db_session):
    replan_all(db_session, now=NOW)
    sms = {}
    for ref in db_session.scalars(select(Referral).order_by(Referral.id)):
        sms[ref.external_id] = [(r.kind, r.state) for r in rows(db_session, ref) if r.channel == "sms"]

    # Tom Baker opted out: nothing to send.
    assert sms["RF-2007"] and all(state == "skipped" for _, state in sms["RF-2007"])
    # Aisha: invited, then nudged.
    assert [k for k, s in sms["RF-2002"] if s == "planned"] == [
        "scheduling_invite",
        "scheduling_nudge",
        "scheduling_nudge",
    ]
    # Linda: a review request after yesterday's visit; Grace: a no-show follow-up; Daniel: a rebooking offer.
    assert sms["RF-2004"] == [("review_request", "planned")]
    assert sms["RF-2008"] == [("no_show_followup", "planned")]
    assert sms["RF-2005"] == [("rebook_offer", "planned")]
    # Robert waits for his insurer; Priya's emergency referral is acknowledged and staff call her.
    assert sms["RF-2003"] == [("status_update", "planned")]
    priya = referral(db_session, "RF-2012")
    assert [(r.kind, r.template) for r in rows(db_session, priya)] == [("status_update", "status_received_urgent")]
    # Emily confirmed: day reminders only. Maria: Spanish throughout.
    assert [k for k, _ in sms["RF-2006"]] == ["reminder", "reminder"]
    maria = referral(db_session, "RF-2011")
    assert {r.language for r in rows(db_session, maria)} == {"es"}
    everyone_else = db_session.scalars(
        select(PlannedOutreach.language).where(PlannedOutreach.patient_id != maria.patient_id)
    )
    assert set(everyone_else) == {"en"}
    # Every planned text renders.
    for row in db_session.scalars(select(PlannedOutreach).filter_by(state="planned", channel="sms")):
        assert compose(db_session, row)


def test_a_referral_status_without_history_is_anchored_on_its_first_plan(db_session):
    aisha = referral(db_session, "RF-2002")
    replan_referral(db_session, referral=aisha, now=NOW)
    keys = [r.idempotency_key for r in rows(db_session, aisha)]
    assert all(key.endswith(f"@{NOW.isoformat()}") for key in keys)
    replan_referral(db_session, referral=aisha, now=NOW + timedelta(days=3))
    assert [r.idempotency_key for r in rows(db_session, aisha)] == keys
    count = db_session.scalar(select(func.count()).select_from(PlannedOutreach).filter_by(referral_id=aisha.id))
    assert count == 4


def test_a_patient_in_another_time_zone_keeps_their_own_quiet_hours(db_session):
    kevin = referral(db_session, "RF-2010")  # D+8 09:10 Chicago
    patient = db_session.get(Patient, kevin.patient_id)
    patient.timezone = "America/Los_Angeles"  # 07:10 there: 2 hours before is 05:10, quiet
    db_session.flush()
    replan_appointment(db_session, appointment=live_appointment(db_session, referral=kevin), now=NOW)
    two_hours = next(r for r in rows(db_session, kevin) if r.idempotency_key.startswith("reminder:2h"))
    assert (two_hours.state, two_hours.error_code) == ("skipped", "quiet_hours")  # 8:00 LA is after the visit
    one_day = next(r for r in rows(db_session, kevin) if r.idempotency_key.startswith("reminder:1d"))
    assert one_day.due_at.astimezone(ZoneInfo("America/Los_Angeles")).time() == time(10, 0)
