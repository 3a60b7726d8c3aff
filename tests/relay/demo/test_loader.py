"""The seed loads the demo clinic file exactly, idempotently, and all-or-nothing."""

from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from relay.demo.demo_file import SeedError, default_demo_file
from relay.demo.loader import seed_demo
from relay.models import (
    Appointment,
    Base,
    BookedSlot,
    Clinic,
    ConsentEvent,
    Faq,
    Patient,
    PlannedOutreach,
    Referral,
    Specialist,
)
from tests.support import demo_moment, demo_today

DEMO = yaml.safe_load(default_demo_file().read_text())


def _relative_day(text: str) -> date:
    return demo_today() + timedelta(days=int(text.split()[0][1:]))


def test_clinic_and_directory_are_loaded_as_written(db_session):
    clinic = db_session.scalars(select(Clinic)).one()
    assert clinic.name == DEMO["clinic"]["name"]
    assert clinic.timezone == "America/Chicago"
    assert clinic.sms_number == "+13125550100"
    assert clinic.front_desk_number == "+13125550111"
    assert (clinic.quiet_hours_start, clinic.quiet_hours_end) == ("20:00", "08:00")

    okafor = db_session.scalars(select(Specialist).filter_by(key="okafor")).one()
    assert okafor.phone == "+13125550170"
    assert okafor.insurance_accepted == ["Medicare", "Aetna", "Blue Cross Blue Shield of Illinois"]
    assert sorted(block.weekday for block in okafor.availability) == [0, 1, 2, 3]
    assert {(b.start_time.isoformat(), b.end_time.isoformat(), b.slot_minutes) for b in okafor.availability} == {
        ("09:00:00", "16:00:00", 30)
    }
    assert db_session.scalar(select(func.count()).select_from(Specialist)) == len(DEMO["specialists"])


def test_every_patient_referral_and_appointment_matches_the_file(db_session):
    for entry in DEMO["patients"]:
        patient = db_session.scalars(select(Patient).filter_by(mrn=entry["mrn"])).one()
        assert patient.name == entry["name"]
        assert patient.phone.startswith("+1") and patient.phone[-4:] == entry["phone"][-4:]
        assert patient.dob == entry["dob"]
        assert patient.language == entry["language"]
        assert patient.sms_consent is entry["sms_consent"]
        assert patient.insurance_payer == entry["insurance"]["payer"]
        for referral_entry in entry["referrals"]:
            referral = db_session.scalars(select(Referral).filter_by(external_id=referral_entry["id"])).one()
            assert referral.patient_id == patient.id
            assert referral.specialist.key == referral_entry["specialist"]
            assert (referral.type, referral.status, referral.priority) == (
                referral_entry["type"],
                referral_entry["status"],
                referral_entry["priority"],
            )
            assert referral.received_on == _relative_day(referral_entry["created"])
            if "appointment" in referral_entry:
                appointment_entry = referral_entry["appointment"]
                appointment = db_session.scalars(
                    select(Appointment).filter_by(external_id=appointment_entry["id"])
                ).one()
                day, hh_mm = appointment_entry["at"].split()
                assert appointment.start_at == demo_moment(int(day[1:]), hh_mm)
                assert appointment.status == appointment_entry["status"]


def test_relative_times_resolve_in_the_clinic_zone(db_session):
    james = db_session.scalars(select(Appointment).filter_by(external_id="AP-3001")).one()
    local = james.start_at.astimezone(__import__("zoneinfo").ZoneInfo("America/Chicago"))
    assert (local.date(), local.hour, local.minute) == (demo_today() + timedelta(days=3), 10, 0)


def test_phone_numbers_in_every_format_become_e164(db_session):
    phones = db_session.scalars(select(Patient.phone)).all()
    assert sorted(phones) == [f"+1312555{n:04d}" for n in range(145, 156)]


def test_busy_slots_and_live_appointments_hold_their_slots(db_session):
    held = {
        (slot.specialist_id, slot.start_at, slot.appointment_id is None)
        for slot in db_session.scalars(select(BookedSlot))
    }
    okafor = db_session.scalars(select(Specialist).filter_by(key="okafor")).one()
    assert (okafor.id, demo_moment(3, "10:30"), True) in held
    assert (okafor.id, demo_moment(3, "10:00"), False) in held  # James's own appointment
    cancelled = db_session.scalars(select(Appointment).filter_by(external_id="AP-3005")).one()
    assert db_session.scalars(select(BookedSlot).filter_by(appointment_id=cancelled.id)).first() is None


def test_faqs_and_consent_ledger(db_session):
    parking = db_session.scalars(select(Faq).filter_by(key="parking")).one()
    assert parking.examples == ["is there parking", "where can I park my car", "parking garage?"]
    tom = db_session.scalars(select(Patient).filter_by(mrn="RFH-100051")).one()
    ledger = db_session.scalars(select(ConsentEvent).filter_by(patient_id=tom.id)).all()
    assert [(e.consented, e.source) for e in ledger] == [(False, "import:demo")]


def _snapshot(session) -> dict:
    return {
        table.name: sorted(tuple(map(str, row)) for row in session.execute(table.select()))
        for table in Base.metadata.sorted_tables
    }


def test_running_the_seed_twice_changes_nothing(db_session):
    before = _snapshot(db_session)
    seed_demo(db_session)
    db_session.flush()
    assert not db_session.dirty
    assert _snapshot(db_session) == before


def test_a_second_seed_puts_changed_values_back_and_plans_nothing(db_session):
    aisha = db_session.scalars(select(Referral).filter_by(external_id="RF-2002")).one()
    james = db_session.scalars(select(Appointment).filter_by(external_id="AP-3001")).one()
    aisha.status = "cancelled"
    james.start_at = demo_moment(4, "10:00")  # moved, slot and all, as a booking in Relay would
    db_session.scalars(select(BookedSlot).filter_by(appointment_id=james.id)).one().start_at = james.start_at
    db_session.flush()
    planned = db_session.scalar(select(func.count()).select_from(PlannedOutreach))
    ledger = db_session.scalar(select(func.count()).select_from(ConsentEvent))

    seed_demo(db_session)
    db_session.flush()

    assert aisha.status == "ready_to_schedule"
    assert james.start_at == demo_moment(3, "10:00")
    held = db_session.scalars(select(BookedSlot).filter_by(appointment_id=james.id)).one()
    assert held.start_at == demo_moment(3, "10:00")
    # Planning is the caller's: `relay seed-demo` plans every referral afterwards.
    assert db_session.scalar(select(func.count()).select_from(PlannedOutreach)) == planned
    assert db_session.scalar(select(func.count()).select_from(ConsentEvent)) == ledger


def _broken_copy(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(default_demo_file().read_text())
    mutate(data)
    path = tmp_path / "clinic.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["patients"][2].update(phone="not a phone"), "RFH-100047"),
        (lambda d: d["patients"][4]["referrals"][0].update(status="lost"), "RFH-100049"),
        (lambda d: d["patients"][0]["referrals"][0]["appointment"].update(at="next week"), "AP-3001"),
        (lambda d: d["patients"][1]["referrals"][0].update(specialist="nobody"), "RF-2002"),
        (lambda d: d["specialists"][1]["availability"].update(start="25:00"), "park"),
        (lambda d: d["busy_slots"].append({"specialist": "ghost", "at": "D+1 09:00"}), "busy_slots"),
        (lambda d: d["clinic"].update(timezone="Mars/Olympus"), "timezone"),
        # Past the file's checks, refused by the import core: still nothing written.
        (lambda d: d["specialists"][1]["availability"].update(start="16:00", end="09:00"), "park"),
        (lambda d: d["patients"][3].update(dob="2999-01-01"), "RFH-100048"),
    ],
)
def test_a_malformed_file_names_the_entry_and_writes_nothing(db_session, tmp_path, mutate, expected):
    before = _snapshot(db_session)
    with pytest.raises(SeedError) as excinfo:
        seed_demo(db_session, _broken_copy(tmp_path, mutate))
    assert expected in str(excinfo.value)
    assert _snapshot(db_session) == before


def test_the_bundled_copy_is_the_shared_contract():
    from relay.demo.demo_file import BUNDLED_DEMO_FILE, SHARED_DEMO_FILE

    if not SHARED_DEMO_FILE.exists():
        pytest.skip("no ../shared folder beside this checkout")
    assert BUNDLED_DEMO_FILE.read_text() == SHARED_DEMO_FILE.read_text()
