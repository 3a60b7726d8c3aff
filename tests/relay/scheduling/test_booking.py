"""Booking on the demo clinic: the database decides races; reschedules move one row."""

import threading
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

import relay.scheduling.booking
from relay.core.db import session_scope
from relay.models import Appointment, AuditEvent, BookedSlot, Patient, Referral, Specialist, WeeklyAvailability
from relay.scheduling.booking import (
    NotBookable,
    SlotTaken,
    book_slot,
    cancel_appointment,
    confirm_appointment,
    coverage_accepted,
    live_appointment,
)
from relay.scheduling.slots import offer_slots
from relay.scheduling.time_windows import TimeWindow
from tests.support import DEMO_TZ, demo_moment, demo_today

# A fixed "now" early today: every demo date (D+N) is relative to today.
NOW = demo_moment(0, "06:00")


def referral(session, external_id: str) -> Referral:
    return session.scalars(select(Referral).filter_by(external_id=external_id)).one()


def free_slots(session, specialist_id: int, count: int) -> list[datetime]:
    """Open slots in the next two weeks, earliest first (what the bot would offer)."""
    zone = ZoneInfo(DEMO_TZ)
    first = demo_today() + timedelta(days=1)
    window = TimeWindow(
        start=datetime.combine(first, time.min, tzinfo=zone),
        end=datetime.combine(first + timedelta(days=14), time.min, tzinfo=zone),
        preferred=None,
        label="test",
    )
    offer = offer_slots(session, specialist_id=specialist_id, window=window, now=NOW, tz=DEMO_TZ, limit=count)
    assert offer.in_window and len(offer.slots) == count
    return offer.slots


def slot_rows(session, specialist_id: int, start_at: datetime) -> list[BookedSlot]:
    return list(session.scalars(select(BookedSlot).filter_by(specialist_id=specialist_id, start_at=start_at)))


def events(session, action: str, referral_id: int) -> list[AuditEvent]:
    return list(
        session.scalars(select(AuditEvent).filter_by(action=action, referral_id=referral_id).order_by(AuditEvent.id))
    )


# --- booking -----------------------------------------------------------------


def test_booking_creates_the_appointment_and_holds_the_slot(db_session):
    tom = referral(db_session, "RF-2007")  # ready to schedule with Dr. Raman
    slot = free_slots(db_session, tom.specialist_id, 1)[0]

    appointment = book_slot(db_session, referral=tom, start_at=slot, now=NOW, actor="bot")

    assert (appointment.status, appointment.version, appointment.start_at) == ("scheduled", 1, slot)
    assert appointment.duration_minutes == 30
    assert [row.appointment_id for row in slot_rows(db_session, tom.specialist_id, slot)] == [appointment.id]
    assert tom.status == "scheduled"
    assert live_appointment(db_session, referral=tom) is appointment
    assert tom.current_appointment is appointment
    (event,) = events(db_session, "appointment.booked", tom.id)
    assert event.details == {"appointment_id": appointment.id, "version": 1, "start_at": slot.isoformat()}
    assert event.actor == "bot" and event.at == NOW and event.patient_id == tom.patient_id


def test_booking_a_taken_slot_raises_and_the_session_stays_usable(db_session):
    tom, daniel = referral(db_session, "RF-2007"), referral(db_session, "RF-2005")  # both Dr. Raman
    first, second = free_slots(db_session, tom.specialist_id, 2)
    book_slot(db_session, referral=tom, start_at=first, now=NOW, actor="bot")

    with pytest.raises(SlotTaken):
        book_slot(db_session, referral=daniel, start_at=first, now=NOW, actor="bot")

    # Nothing of the failed attempt is left, and the same session books the next slot.
    assert daniel.status == "cancelled"
    scheduled = select(func.count()).select_from(Appointment).filter_by(referral_id=daniel.id, status="scheduled")
    assert db_session.scalar(scheduled) == 0
    appointment = book_slot(db_session, referral=daniel, start_at=second, now=NOW, actor="bot")
    assert appointment.start_at == second and daniel.status == "scheduled"
    assert len(slot_rows(db_session, tom.specialist_id, first)) == 1


def test_a_slot_held_outside_relay_is_taken(db_session):
    kevin = referral(db_session, "RF-2009")  # Dr. Okafor, who has a busy slot at D+3 10:30
    busy = demo_moment(3, "10:30")
    weekday = busy.astimezone(ZoneInfo(DEMO_TZ)).weekday()
    if weekday not in {block.weekday for block in kevin.specialist.availability}:
        # The seed keeps D+3 as written even on a day off: give her hours that day (rolled back).
        hours = WeeklyAvailability(
            specialist_id=kevin.specialist_id, weekday=weekday, start_time=time(9), end_time=time(16), slot_minutes=30
        )
        db_session.add(hours)
        db_session.flush()
    with pytest.raises(SlotTaken):
        book_slot(db_session, referral=kevin, start_at=busy, now=NOW, actor="bot")
    free = demo_moment(3, "11:30")
    assert book_slot(db_session, referral=kevin, start_at=free, now=NOW, actor="bot").start_at == free


def test_rebooking_the_same_time_changes_nothing(db_session):
    james = referral(db_session, "RF-2001")
    appointment = live_appointment(db_session, referral=james)
    again = book_slot(db_session, referral=james, start_at=appointment.start_at, now=NOW, actor="bot")
    assert again is appointment and appointment.version == 1
    assert events(db_session, "appointment.rescheduled", james.id) == []


# --- rescheduling ------------------------------------------------------------


def test_reschedule_moves_the_same_row_bumps_the_version_and_frees_the_old_slot(db_session):
    james, kevin = referral(db_session, "RF-2001"), referral(db_session, "RF-2009")  # both Dr. Okafor
    appointment = live_appointment(db_session, referral=james)
    seeded_start = appointment.start_at
    assert seeded_start == demo_moment(3, "10:00") and appointment.version == 1
    first, second = free_slots(db_session, james.specialist_id, 2)

    moved = book_slot(db_session, referral=james, start_at=first, now=NOW, actor="bot")

    assert moved.id == appointment.id and moved.version == 2 and moved.start_at == first
    assert slot_rows(db_session, james.specialist_id, seeded_start) == []
    assert [row.appointment_id for row in slot_rows(db_session, james.specialist_id, first)] == [appointment.id]
    (event,) = events(db_session, "appointment.rescheduled", james.id)
    assert event.details == {
        "appointment_id": appointment.id,
        "version": 2,
        "old_start_at": seeded_start.isoformat(),
        "new_start_at": first.isoformat(),
    }

    # Move again; the slot James left is now free for someone else.
    book_slot(db_session, referral=james, start_at=second, now=NOW, actor="bot")
    assert appointment.version == 3
    kevins = book_slot(db_session, referral=kevin, start_at=first, now=NOW, actor="bot")
    assert kevins.start_at == first and kevins.referral_id == kevin.id


def test_rescheduling_a_confirmed_appointment_needs_a_new_confirmation(db_session):
    emily = referral(db_session, "RF-2006")
    appointment = live_appointment(db_session, referral=emily)
    assert appointment.status == "confirmed"
    slot = free_slots(db_session, emily.specialist_id, 1)[0]
    book_slot(db_session, referral=emily, start_at=slot, now=NOW, actor="bot")
    assert appointment.status == "scheduled" and appointment.version == 2


# --- what can't be booked ----------------------------------------------------


def test_emergency_referral_is_not_bookable(db_session):
    priya = referral(db_session, "RF-2012")
    slot = free_slots(db_session, priya.specialist_id, 1)[0]
    with pytest.raises(NotBookable, match="emergency"):
        book_slot(db_session, referral=priya, start_at=slot, now=NOW, actor="bot")
    assert slot_rows(db_session, priya.specialist_id, slot) == []
    assert priya.status == "received"


@pytest.mark.parametrize(("external_id", "bookable"), [
    ("RF-2002", True),   # ready_to_schedule
    ("RF-2001", True),   # scheduled: a reschedule
    ("RF-2005", True),   # cancelled: may book again
    ("RF-2008", True),   # no_show: may book again
    ("RF-2003", False),  # authorization_pending
    ("RF-2004", False),  # completed
    ("RF-2012", False),  # emergency
])  # fmt: skip
def test_which_referrals_the_patient_may_book(db_session, external_id, bookable):
    ref = referral(db_session, external_id)
    slot = free_slots(db_session, ref.specialist_id, 1)[0]
    if bookable:
        assert book_slot(db_session, referral=ref, start_at=slot, now=NOW, actor="bot").start_at == slot
    else:
        with pytest.raises(NotBookable):
            book_slot(db_session, referral=ref, start_at=slot, now=NOW, actor="bot")


def test_wrong_status_is_not_bookable(db_session):
    robert = referral(db_session, "RF-2003")
    slot = free_slots(db_session, robert.specialist_id, 1)[0]
    with pytest.raises(NotBookable, match="authorization pending"):
        book_slot(db_session, referral=robert, start_at=slot, now=NOW, actor="bot")


def test_times_off_the_grid_or_in_the_past_are_not_bookable(db_session):
    tom = referral(db_session, "RF-2007")  # Dr. Raman: weekdays 09:00-13:00, 30-minute slots
    slot = free_slots(db_session, tom.specialist_id, 1)[0]
    zone = ZoneInfo(DEMO_TZ)
    saturday = demo_today() + timedelta(days=(5 - demo_today().weekday()) % 7 or 7)
    for start_at, why in [
        (slot + timedelta(minutes=10), "no slot"),  # between two slots
        (datetime.combine(saturday, time(10), tzinfo=zone), "no slot"),  # a day without hours
        (slot - timedelta(days=14), "passed"),  # in the past (same weekday and time)
        (NOW + timedelta(minutes=10), "passed"),  # too soon to get there
    ]:
        with pytest.raises(NotBookable, match=why):
            book_slot(db_session, referral=tom, start_at=start_at, now=NOW, actor="bot")
    assert tom.status == "ready_to_schedule"
    assert events(db_session, "appointment.booked", tom.id) == []


def test_naive_times_are_refused(db_session):
    tom = referral(db_session, "RF-2007")
    with pytest.raises(ValueError, match="naive"):
        book_slot(db_session, referral=tom, start_at=datetime(2030, 1, 7, 9, 0), now=NOW, actor="bot")


def test_a_stale_offer_in_another_zone_books_the_same_instant(db_session):
    tom = referral(db_session, "RF-2007")
    slot = free_slots(db_session, tom.specialist_id, 1)[0]
    appointment = book_slot(
        db_session, referral=tom, start_at=slot.astimezone(ZoneInfo("Asia/Kolkata")), now=NOW, actor="bot"
    )
    assert appointment.start_at == slot


# --- cancel and confirm ------------------------------------------------------


def test_cancel_frees_the_slot(db_session):
    tom, daniel = referral(db_session, "RF-2007"), referral(db_session, "RF-2005")
    slot = free_slots(db_session, tom.specialist_id, 1)[0]
    appointment = book_slot(db_session, referral=tom, start_at=slot, now=NOW, actor="bot")

    cancel_appointment(db_session, appointment=appointment, now=NOW, actor="bot")

    assert appointment.status == "cancelled" and tom.status == "cancelled"
    assert slot_rows(db_session, tom.specialist_id, slot) == []
    (event,) = events(db_session, "appointment.cancelled", tom.id)
    assert event.details == {"appointment_id": appointment.id, "version": 2, "start_at": slot.isoformat()}
    assert book_slot(db_session, referral=daniel, start_at=slot, now=NOW, actor="bot").start_at == slot
    # Cancelling again changes nothing.
    cancel_appointment(db_session, appointment=appointment, now=NOW, actor="bot")
    assert len(events(db_session, "appointment.cancelled", tom.id)) == 1


def test_a_finished_appointment_cannot_be_cancelled(db_session):
    linda = referral(db_session, "RF-2004")
    with pytest.raises(NotBookable, match="completed"):
        cancel_appointment(db_session, appointment=linda.current_appointment, now=NOW, actor="bot")


def test_confirm_is_idempotent(db_session):
    james = referral(db_session, "RF-2001")
    appointment = live_appointment(db_session, referral=james)

    confirm_appointment(db_session, appointment=appointment, now=NOW, actor="bot")
    confirm_appointment(db_session, appointment=appointment, now=NOW, actor="bot")

    assert appointment.status == "confirmed" and appointment.version == 2
    assert len(events(db_session, "appointment.confirmed", james.id)) == 1
    assert len(slot_rows(db_session, james.specialist_id, appointment.start_at)) == 1


def test_a_cancelled_appointment_cannot_be_confirmed(db_session):
    daniel = referral(db_session, "RF-2005")
    with pytest.raises(NotBookable, match="cancelled"):
        confirm_appointment(db_session, appointment=daniel.current_appointment, now=NOW, actor="bot")


# --- the outreach hook -------------------------------------------------------


def test_every_change_replans_outreach(db_session, monkeypatch):
    calls = []

    def record(session, *, appointment, now):
        calls.append((appointment.id, appointment.status, now))

    monkeypatch.setattr(relay.scheduling.booking, "replan_outreach", record)
    tom = referral(db_session, "RF-2007")
    first, second = free_slots(db_session, tom.specialist_id, 2)

    appointment = book_slot(db_session, referral=tom, start_at=first, now=NOW, actor="bot")
    book_slot(db_session, referral=tom, start_at=second, now=NOW, actor="bot")
    confirm_appointment(db_session, appointment=appointment, now=NOW, actor="bot")
    cancel_appointment(db_session, appointment=appointment, now=NOW, actor="bot")

    assert calls == [(appointment.id, s, NOW) for s in ("scheduled", "scheduled", "confirmed", "cancelled")]


def test_a_failure_part_way_leaves_nothing_behind(db_session, monkeypatch):
    def broken(session, *, appointment, now):
        raise RuntimeError("outreach engine down")

    monkeypatch.setattr(relay.scheduling.booking, "replan_outreach", broken)
    james = referral(db_session, "RF-2001")
    appointment = live_appointment(db_session, referral=james)
    seeded_start = appointment.start_at
    slot = free_slots(db_session, james.specialist_id, 1)[0]

    with pytest.raises(RuntimeError):
        book_slot(db_session, referral=james, start_at=slot, now=NOW, actor="bot")

    assert slot_rows(db_session, james.specialist_id, slot) == []
    assert [row.appointment_id for row in slot_rows(db_session, james.specialist_id, seeded_start)] == [appointment.id]
    db_session.refresh(appointment)
    assert (appointment.start_at, appointment.version) == (seeded_start, 1)
    assert events(db_session, "appointment.rescheduled", james.id) == []


# --- coverage ----------------------------------------------------------------


def test_coverage_is_the_payer_in_the_specialists_list(db_session):
    def patient(name):
        return db_session.scalars(select(Patient).filter_by(name=name)).one()

    def specialist(key):
        return db_session.scalars(select(Specialist).filter_by(key=key)).one()

    assert coverage_accepted(patient("James Carter"), specialist("okafor"))  # Medicare
    assert not coverage_accepted(patient("Priya Patel"), specialist("okafor"))  # UnitedHealthcare
    assert coverage_accepted(Patient(insurance_payer="  blue cross blue shield of illinois "), specialist("okafor"))
    assert not coverage_accepted(Patient(insurance_payer=None), specialist("okafor"))
    # A specialist whose accepted payers Relay does not know (core FHIR has no such element) is not checked.
    assert coverage_accepted(patient("Priya Patel"), Specialist(insurance_accepted=[]))


# --- races between real connections ------------------------------------------


def _race(first_referral: str, second_referral: str, pick) -> tuple[dict, datetime]:
    """Two threads, each with its own session and connection, book the same slot at once."""
    with session_scope() as session:
        target = pick(session)
    barrier = threading.Barrier(2)
    outcome: dict[str, object] = {}

    def contender(external_id: str) -> None:
        try:
            with session_scope() as session:
                mine = referral(session, external_id)
                live_appointment(session, referral=mine)
                barrier.wait(timeout=30)
                outcome[external_id] = book_slot(session, referral=mine, start_at=target, now=NOW, actor="bot").id
        except Exception as exc:  # the test inspects what each thread got
            outcome[external_id] = exc

    threads = [threading.Thread(target=contender, args=(r,)) for r in (first_referral, second_referral)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcome, target


def _exactly_one_winner(outcome: dict, target: datetime, specialist_key: str) -> tuple[str, str]:
    winners = [r for r, result in outcome.items() if isinstance(result, int)]
    losers = [r for r, result in outcome.items() if isinstance(result, SlotTaken)]
    assert len(winners) == 1 and len(losers) == 1, outcome
    with session_scope() as session:
        specialist = session.scalars(select(Specialist).filter_by(key=specialist_key)).one()
        rows = slot_rows(session, specialist.id, target)
        assert [row.appointment_id for row in rows] == [outcome[winners[0]]]
        assert session.get(Appointment, outcome[winners[0]]).referral.external_id == winners[0]
    return winners[0], losers[0]


def test_two_patients_racing_for_one_slot_exactly_one_wins(fresh_demo):
    outcome, target = _race("RF-2007", "RF-2005", lambda s: free_slots(s, referral(s, "RF-2007").specialist_id, 1)[0])
    _, loser = _exactly_one_winner(outcome, target, "raman")
    with session_scope() as session:
        assert live_appointment(session, referral=referral(session, loser)) is None
        assert len(events(session, "appointment.booked", referral(session, loser).id)) == 0


def test_two_reschedules_racing_for_one_slot_exactly_one_wins(fresh_demo):
    with session_scope() as session:
        before = {r: live_appointment(session, referral=referral(session, r)).start_at for r in ("RF-2001", "RF-2009")}
    outcome, target = _race("RF-2001", "RF-2009", lambda s: free_slots(s, referral(s, "RF-2001").specialist_id, 1)[0])
    winner, loser = _exactly_one_winner(outcome, target, "okafor")
    with session_scope() as session:
        # The loser keeps the appointment (and the slot) it had; the winner's old slot is free.
        kept = live_appointment(session, referral=referral(session, loser))
        assert (kept.start_at, kept.version) == (before[loser], 1)
        assert [row.appointment_id for row in slot_rows(session, kept.specialist_id, before[loser])] == [kept.id]
        assert slot_rows(session, kept.specialist_id, before[winner]) == []
        assert live_appointment(session, referral=referral(session, winner)).version == 2
