"""replan_all (set-based) writes exactly the rows that re-planning each referral and appointment writes.

Each test brings the demo database to some state, then plans it twice from
that same state: once one subject at a time (`replan_referral`, then
`replan_appointment` for each of its appointments, as replan_all used to),
rolled back, and once with `replan_all`. Every column the planner decides
must come out the same.
"""

from datetime import timedelta

import pytest
import yaml
from sqlalchemy import delete, select

from relay.core.settings import get_settings
from relay.models import Appointment, ConsentEvent, PlannedOutreach, Referral, utcnow
from relay.outreach.bulk import replan_all
from relay.outreach.cadence import DEFAULT_CADENCE_FILE
from relay.outreach.reconcile import replan_appointment, replan_referral
from relay.records.consent import record_consent
from relay.referrals.transitions import change_referral_status
from relay.scheduling.booking import book_slot, cancel_appointment, confirm_appointment, live_appointment
from tests.relay.outreach.helpers import NOW, free_slots, referral

DECIDED = (
    "idempotency_key", "kind", "patient_id", "referral_id", "appointment_id", "channel", "template",
    "language", "due_at", "valid_until", "state", "error_code", "attempts", "twilio_sid", "sent_at",
)  # fmt: skip


def one_by_one(session, *, now) -> None:
    for ref in session.scalars(select(Referral).order_by(Referral.id)).all():
        replan_referral(session, referral=ref, now=now)
        appointments = select(Appointment).filter_by(referral_id=ref.id).order_by(Appointment.start_at, Appointment.id)
        for appointment in session.scalars(appointments).all():
            replan_appointment(session, appointment=appointment, now=now)


def every_row(session) -> list[tuple]:
    session.expire_all()
    rows = session.scalars(select(PlannedOutreach).order_by(PlannedOutreach.idempotency_key))
    return [tuple(getattr(row, column) for column in DECIDED) for row in rows]


def as_stored(session) -> list[tuple]:
    """The decided columns as the database driver hands them over: on SQLite, the stored text itself.

    The bulk path writes SQLite's values itself (bulk._sqlite_values); the
    ORM reads back "2026-01-01 10:00:00" and "2026-01-01 10:00:00.000000"
    alike, so only this shows a difference in how they were stored.
    """
    columns = ", ".join(DECIDED)
    return (
        session.connection().exec_driver_sql(f"SELECT {columns} FROM planned_outreach ORDER BY idempotency_key").all()
    )


def assert_same_plan(session, *, now, chunk_size: int = 5000) -> list[tuple]:
    """Plan one subject at a time (then roll that back), then in bulk; the rows must be equal."""
    savepoint = session.begin_nested()
    one_by_one(session, now=now)
    expected, expected_as_stored = every_row(session), as_stored(session)
    savepoint.rollback()
    session.expire_all()

    replan_all(session, now=now, chunk_size=chunk_size)
    assert every_row(session) == expected
    assert as_stored(session) == expected_as_stored
    return expected


def test_a_first_plan_of_every_demo_referral(db_session):
    db_session.execute(delete(PlannedOutreach))
    planned = assert_same_plan(db_session, now=NOW)
    assert len(planned) > 20 and {row[DECIDED.index("state")] for row in planned} >= {"planned", "skipped"}


@pytest.mark.parametrize("chunk_size", [1, 3, 5000])
def test_any_chunk_size_plans_the_same(db_session, chunk_size):
    db_session.execute(delete(PlannedOutreach))
    assert_same_plan(db_session, now=NOW, chunk_size=chunk_size)


@pytest.mark.parametrize("later", [timedelta(0), timedelta(hours=3), timedelta(days=2), timedelta(days=9)])
def test_re_planning_an_existing_plan_at_a_later_clock(db_session, later):
    replan_all(db_session, now=NOW)
    assert_same_plan(db_session, now=NOW + later)


def test_after_bookings_moves_cancellations_and_status_changes(db_session):
    replan_all(db_session, now=NOW)
    aisha, james, kevin = (
        referral(db_session, "RF-2002"),
        referral(db_session, "RF-2001"),
        referral(db_session, "RF-2009"),
    )
    book_slot(
        db_session, referral=aisha, start_at=free_slots(db_session, aisha.specialist_id, 1)[0], now=NOW, actor="bot"
    )
    book_slot(db_session, referral=james, start_at=free_slots(db_session, james.specialist_id, 1, from_day=6)[0],
              now=NOW, actor="bot")  # fmt: skip
    confirm_appointment(db_session, appointment=live_appointment(db_session, referral=kevin), now=NOW, actor="patient")
    maria = referral(db_session, "RF-2011")
    cancel_appointment(db_session, appointment=live_appointment(db_session, referral=maria), now=NOW, actor="api")
    robert = referral(db_session, "RF-2003")  # authorization pending
    change_referral_status(db_session, referral=robert, status="ready_to_schedule", now=NOW, actor="api")
    db_session.flush()
    assert_same_plan(db_session, now=NOW + timedelta(hours=1))


def test_rows_the_execution_side_holds_or_has_settled(db_session):
    replan_all(db_session, now=NOW)
    pending = db_session.scalars(select(PlannedOutreach).filter_by(state="planned").order_by(PlannedOutreach.id)).all()
    for row, (state, code) in zip(pending, [("queued", None), ("sending", None), ("sent", None), ("delivered", None),
                                            ("failed", "30006"), ("skipped", "opted_out")], strict=False):  # fmt: skip
        row.state, row.error_code = state, code
    db_session.flush()
    james = referral(db_session, "RF-2001")
    appointment = live_appointment(db_session, referral=james)
    appointment.start_at += timedelta(days=1)  # moved behind the planner's back: every old key goes
    db_session.flush()
    assert_same_plan(db_session, now=NOW)


def test_consent_withdrawn_and_given_again(db_session):
    replan_all(db_session, now=NOW)
    tom, james = referral(db_session, "RF-2007"), referral(db_session, "RF-2001")
    record_consent(db_session, phone=tom.patient.phone, consented=True, source="sms:START", now=utcnow())
    record_consent(db_session, phone=james.patient.phone, consented=False, source="sms:STOP", now=utcnow())
    assert_same_plan(db_session, now=NOW + timedelta(minutes=5))  # Tom's rows come back, James's are set aside

    replan_all(db_session, now=NOW + timedelta(minutes=5))
    record_consent(db_session, phone=james.patient.phone, consented=True, source="sms:START",
                   now=utcnow() + timedelta(seconds=1))  # fmt: skip
    assert_same_plan(db_session, now=NOW + timedelta(minutes=10))


def test_a_cadence_change_supersedes_and_adds_the_same_rows(db_session, tmp_path, monkeypatch):
    replan_all(db_session, now=NOW)
    cadence = yaml.safe_load(DEFAULT_CADENCE_FILE.read_text())
    cadence["referral"]["nudges_after_days"] = [1, 3]
    cadence["appointment"]["reminders"] = [{"name": "4d", "days_before": 4, "at": "09:00"},
                                           {"name": "2h", "hours_before": 2, "when_confirmed": False}]  # fmt: skip
    changed = tmp_path / "cadence.yaml"
    changed.write_text(yaml.safe_dump(cadence))
    monkeypatch.setenv("RELAY_CADENCE_FILE", str(changed))
    get_settings.cache_clear()
    try:
        planned = assert_same_plan(db_session, now=NOW)
    finally:
        monkeypatch.delenv("RELAY_CADENCE_FILE")
        get_settings.cache_clear()
    codes = {row[DECIDED.index("error_code")] for row in planned}
    assert "superseded" in codes
    # And back to the packaged cadence: superseded rows that are wanted again are revived.
    assert_same_plan(db_session, now=NOW)


def test_loaded_copies_of_changed_rows_are_refreshed(db_session):
    replan_all(db_session, now=NOW)
    james = referral(db_session, "RF-2001")
    loaded = db_session.scalars(select(PlannedOutreach).filter_by(referral_id=james.id, state="planned")).all()
    assert loaded
    record_consent(db_session, phone=james.patient.phone, consented=False, source="sms:STOP", now=utcnow())
    replan_all(db_session, now=NOW)
    assert {(row.state, row.error_code) for row in loaded if row.channel == "sms"} == {("skipped", "no_consent")}


def test_the_consent_ledger_wins_over_the_patients_flag(db_session):
    tom, james = referral(db_session, "RF-2007"), referral(db_session, "RF-2001")
    tom.patient.sms_consent = True  # the flag says yes, Tom's STOP in the ledger says no
    db_session.execute(delete(ConsentEvent).where(ConsentEvent.phone == james.patient.phone))
    james.patient.sms_consent = False  # no ledger event at all: the flag decides
    db_session.flush()
    planned = assert_same_plan(db_session, now=NOW)
    skipped = {row[DECIDED.index("referral_id")] for row in planned if row[DECIDED.index("error_code")] == "no_consent"}
    assert {tom.id, james.id} <= skipped


def test_referrals_with_a_history_of_statuses_and_appointments(db_session):
    replan_all(db_session, now=NOW)
    robert = referral(db_session, "RF-2003")  # authorization pending, then ready, booked, cancelled by the patient
    change_referral_status(db_session, referral=robert, status="ready_to_schedule", now=NOW, actor="api")
    booked = book_slot(db_session, referral=robert, start_at=free_slots(db_session, robert.specialist_id, 1)[0],
                       now=NOW + timedelta(hours=1), actor="bot")  # fmt: skip
    cancel_appointment(db_session, appointment=booked, now=NOW + timedelta(hours=2), actor="bot")
    james = referral(db_session, "RF-2001")  # cancelled by the clinic, booked again later, then a no-show
    first = live_appointment(db_session, referral=james)
    cancel_appointment(db_session, appointment=first, now=NOW, actor="api")
    later = free_slots(db_session, james.specialist_id, 1, from_day=8)[0]
    assert later > first.start_at
    book_slot(db_session, referral=james, start_at=later, now=NOW + timedelta(minutes=5), actor="staff:1")
    change_referral_status(db_session, referral=james, status="no_show", now=NOW + timedelta(minutes=10), actor="api")
    db_session.flush()
    assert_same_plan(db_session, now=NOW + timedelta(hours=3))
    db_session.execute(delete(PlannedOutreach))  # planned afresh, the rows name the appointments anew
    planned = assert_same_plan(db_session, now=NOW + timedelta(hours=3))
    [followup] = [row for row in planned if row[DECIDED.index("kind")] == "no_show_followup"
                  and row[DECIDED.index("referral_id")] == james.id]  # fmt: skip
    assert followup[DECIDED.index("appointment_id")] != first.id


def test_rows_of_an_appointment_that_do_not_name_its_referral(db_session):
    """Rows made by hand (or by older code) belong to their appointment's plan all the same."""
    replan_all(db_session, now=NOW)
    james, aisha = referral(db_session, "RF-2001"), referral(db_session, "RF-2002")
    appointment = live_appointment(db_session, referral=james)
    wanted = db_session.scalars(
        select(PlannedOutreach).filter_by(appointment_id=appointment.id, kind="reminder")
    ).first()
    wanted.referral_id = None  # still wanted: left as it is
    for n, referral_id in enumerate((None, aisha.id)):  # no longer wanted: cancelled
        db_session.add(
            PlannedOutreach(
                kind="reminder",
                patient_id=james.patient_id,
                referral_id=referral_id,
                appointment_id=appointment.id,
                template="appointment_reminder",
                due_at=NOW,
                state="planned",
                idempotency_key=f"reminder:old{n}:appt{appointment.id}",
            )
        )
    db_session.flush()
    planned = assert_same_plan(db_session, now=NOW)
    old = [row for row in planned if ":old" in row[0]]
    assert [(row[DECIDED.index("state")], row[DECIDED.index("error_code")]) for row in old] == [
        ("cancelled", "superseded")
    ] * 2
