"""Replies to the clinic's own messages ("C", "R", a rating), through the real webhook.

Rasa is stopped here on purpose: these replies must not need it, and a message
that does reach the Rasa path gets the 'can't answer right now' apology.
"""

from datetime import timedelta

import pytest
from sqlalchemy import select

from relay.core.db import session_scope
from relay.inbound.turns import RASA_DOWN_REPLY
from relay.language.timefmt import format_when
from relay.models import Appointment, Conversation, Handoff, PlannedOutreach, Referral, ReviewRating, utcnow
from tests.webhooks.twilio_helpers import post_sms, twiml_messages

pytestmark = pytest.mark.usefixtures("rasa_stopped", "fresh_demo")
JAMES, LINDA, MARIA, GRACE = "+13125550145", "+13125550148", "+13125550154", "+13125550152"


def _sent(kind: str, referral_id: str, *, ago: timedelta = timedelta(hours=1)) -> None:
    """What the execution side leaves behind once a message went out."""
    with session_scope() as session:
        referral = session.scalars(select(Referral).filter_by(external_id=referral_id)).one()
        appointment = referral.current_appointment
        session.add(
            PlannedOutreach(
                kind=kind, patient_id=referral.patient_id, referral_id=referral.id,
                appointment_id=appointment.id if appointment and kind in ("reminder", "confirmation") else None,
                template=kind, language=referral.patient.language, due_at=utcnow() - ago, state="sent",
                idempotency_key=f"test:{kind}:{referral_id}:{ago}", sent_at=utcnow() - ago,
            )
        )  # fmt: skip


def _reply(api_client, phone: str, body: str) -> str:
    response = post_sms(api_client, from_phone=phone, body=body)
    assert response.status_code == 200
    return "\n".join(twiml_messages(response))


def test_c_after_a_reminder_confirms_that_appointment_without_a_dob(api_client):
    _sent("reminder", "RF-2001")
    reply = _reply(api_client, JAMES, "C")
    with session_scope() as session:
        appointment = session.scalars(select(Appointment).filter_by(external_id="AP-3001")).one()
        assert appointment.status == "confirmed"
        assert format_when(appointment.start_at, "America/Chicago") in reply
    assert "confirmed" in reply and "date of birth" not in reply


def test_maria_gets_her_confirmation_in_spanish(api_client):
    _sent("reminder", "RF-2011")
    assert "confirmada" in _reply(api_client, MARIA, "c")


@pytest.mark.parametrize("stored", ["es-MX", "ES_us", "es"])
def test_a_regional_spanish_code_gets_the_confirmation_in_spanish_dates_and_all(api_client, stored):
    """One decision of a patient's language: the planner's Spanish reminder, and Spanish answers to "C"."""
    from relay.language.languages import Language
    from relay.models import Patient

    with session_scope() as session:
        session.scalars(select(Patient).filter_by(phone=MARIA)).one().language = stored
    _sent("reminder", "RF-2011")
    reply = _reply(api_client, MARIA, "C")
    with session_scope() as session:
        appointment = session.scalars(select(Referral).filter_by(external_id="RF-2011")).one().current_appointment
        assert appointment.status == "confirmed"
        spanish_when = format_when(appointment.start_at, "America/Chicago", Language.ES)
    assert reply.startswith("Gracias, su cita con") and spanish_when in reply


def test_r_after_a_reminder_counts_as_verified_and_goes_to_the_bot(api_client):
    _sent("reminder", "RF-2001")
    assert _reply(api_client, JAMES, "R") == RASA_DOWN_REPLY  # handed on to the model
    with session_scope() as session:
        assert session.scalars(select(Conversation).filter_by(phone=JAMES)).one().verified_at is not None


def test_a_good_rating_is_stored_per_specialist_and_gets_the_review_link(api_client):
    _sent("review_request", "RF-2004")
    reply = _reply(api_client, LINDA, "5")
    assert "https://reviews.example.org/riverside-family-health" in reply
    with session_scope() as session:
        rating = session.scalars(select(ReviewRating)).one()
        referral = session.scalars(select(Referral).filter_by(external_id="RF-2004")).one()
        assert (rating.rating, rating.specialist_id) == (5, referral.specialist_id)
        assert session.scalars(select(Handoff)).first() is None
    # A second number is not a second rating.
    assert _reply(api_client, LINDA, "4") == RASA_DOWN_REPLY


def test_a_poor_rating_gets_an_apology_and_service_recovery(api_client):
    _sent("review_request", "RF-2004")
    reply = _reply(api_client, LINDA, "2 stars")
    assert "sorry" in reply.lower() and "http" not in reply
    with session_scope() as session:
        assert session.scalars(select(Handoff)).one().reason == "service_recovery"
        assert session.scalars(select(ReviewRating)).one().rating == 2


def test_without_recent_outreach_c_is_an_ordinary_message(api_client):
    _sent("reminder", "RF-2001", ago=timedelta(days=8))
    assert _reply(api_client, JAMES, "C") == RASA_DOWN_REPLY
    with session_scope() as session:
        assert session.scalars(select(Appointment).filter_by(external_id="AP-3001")).one().status == "scheduled"


def test_a_rating_without_a_review_request_is_not_a_rating(api_client):
    _sent("reminder", "RF-2001")
    assert _reply(api_client, JAMES, "5") == RASA_DOWN_REPLY
    with session_scope() as session:
        assert session.scalars(select(ReviewRating)).first() is None
