"""A clinic that came in as a FHIR Bundle, not the demo: its patients text the real bot through the real webhook."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from relay.core.db import session_scope
from relay.intake.core import import_batch
from relay.intake.fhir import read_bundle
from relay.language.timefmt import format_when
from relay.models import Appointment, BookedSlot, Referral, utcnow
from tests.fhir_clinic import TZ, clinic_bundle

pytestmark = pytest.mark.rasa
OLIVIA, PRIYA = "+13125550171", "+13125550174"  # NS-1001 (booked), NS-1004 (ready to schedule)


@pytest.fixture
def northside(texter):
    """The demo clinic's settings with Northside's records imported from their EHR's Bundle."""
    with session_scope() as session:
        report = import_batch(session, read_bundle(clinic_bundle(datetime.now(ZoneInfo(TZ)).date())),
                              now=utcnow(), source="fhir")  # fmt: skip
    assert report.rejections == []
    return texter


def _offered_times(reply: str) -> list[str]:
    return [line.split(") ", 1)[1] for line in reply.splitlines() if line[:2] in ("1)", "2)", "3)")]


def test_an_imported_patient_is_verified_and_told_about_her_appointment(northside):
    olivia = northside(OLIVIA)
    first = olivia.send("when is my appointment?")
    assert "date of birth" in first.lower() and "Lindqvist" not in first

    answer = olivia.send("4/12/1971")
    with session_scope() as session:
        appointment = session.scalars(select(Appointment).filter_by(external_id="NS-A-1")).one()
        when = format_when(appointment.start_at, TZ)
    assert when in answer
    assert "Dr. Ingrid Lindqvist" in answer and "Northside Dermatology" in answer
    assert "800 N Clark St" in answer
    assert "mole" not in answer.lower()  # the referral's reason stays with staff


def test_an_imported_patient_learns_her_next_step_and_books_a_free_slot(northside):
    priya = northside(PRIYA)
    assert "date of birth" in priya.send("where is my referral").lower()
    status = priya.send("01/19/1992")
    assert "Dr. Ingrid Lindqvist" in status
    assert "book" in status.lower() or "schedule" in status.lower()  # ready to schedule: the next step is hers

    asked = priya.send("I want to book an appointment")
    offer = asked if _offered_times(asked) else priya.send("next Tuesday morning")
    times = _offered_times(offer)
    assert times and "Dr. Ingrid Lindqvist" in offer
    booked = priya.send("1")
    assert times[0] in booked and "Northside Dermatology" in booked

    with session_scope() as session:
        referral = session.scalars(select(Referral).filter_by(external_id="NS-R-4")).one()
        appointment = referral.appointments[-1]
        local = appointment.start_at.astimezone(ZoneInfo(TZ))
        assert referral.status == "scheduled"
        # Inside Dr. Lindqvist's weekly hours from her PractitionerRole: Tuesdays and Thursdays, 9 to 12.
        assert local.weekday() in (1, 3) and 9 <= local.hour < 12
        assert session.scalars(select(BookedSlot).filter_by(appointment_id=appointment.id)).one()
        # Made in Relay: waiting to be written back to the EHR.
        assert appointment.fhir_id is None and appointment.ehr_synced_version != appointment.version
