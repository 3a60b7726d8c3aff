"""Every referral type and status has a next step the domain can say, privately and briefly."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from relay.language.gsm import is_gsm7, segments
from relay.models import Appointment, Referral, utcnow
from relay.models.referral import ReferralStatus, ReferralType
from relay.records.clinics import get_clinic
from relay.referrals.status import status_replies

DOMAIN_DIR = Path(__file__).resolve().parents[3] / "bot" / "intents"


def _responses() -> dict[str, list[dict]]:
    responses: dict[str, list[dict]] = {}
    for path in DOMAIN_DIR.glob("*.yml"):
        responses |= yaml.safe_load(path.read_text()).get("responses", {})
    return responses


RESPONSES = _responses()


def _language(variation: dict) -> str:
    conditions = variation.get("condition") or []
    return "es" if any(c.get("name") == "language" and c.get("value") == "es" for c in conditions) else "en"


@pytest.mark.parametrize("referral_type", [t.value for t in ReferralType])
@pytest.mark.parametrize("status", [s.value for s in ReferralStatus])
@pytest.mark.parametrize("upcoming", [True, False])
def test_each_type_and_status_gets_a_complete_private_reply(db_session, referral_type, status, upcoming):
    referral = db_session.scalars(select(Referral).filter_by(external_id="RF-2001")).one()
    referral.type, referral.status = referral_type, status
    appointment: Appointment = referral.current_appointment
    appointment.start_at = utcnow() + (timedelta(days=3) if upcoming else -timedelta(days=3))
    db_session.flush()

    clinic = get_clinic(db_session)
    replies = status_replies(referral, clinic, utcnow())
    assert replies
    for reply in replies:
        assert reply.response in RESPONSES, f"{reply.response} is not in the domain"
        for variation in RESPONSES[reply.response]:
            # Each variation gets the values its own language and channel are written with.
            voice = variation.get("channel") == "voice"
            words = status_replies(referral, clinic, utcnow(), spoken=voice, language=_language(variation))
            variables = next(r.variables for r in words if r.response == reply.response)
            needed = set(re.findall(r"{(\w+)}", variation["text"]))
            assert needed <= set(variables), f"{reply.response} needs {needed - set(variables)}"
            text = variation["text"].format(**variables)
            assert referral.reason not in text and "angina" not in text.lower()
            if not voice:  # spoken lines are not SMS: they keep their accents
                assert is_gsm7(text), text
    # The first variation is the text message; the webhook joins replies into one SMS.
    sms = "\n\n".join(RESPONSES[r.response][0]["text"].format(**r.variables) for r in replies)
    assert segments(sms) <= 2, sms


def test_every_domain_text_response_is_gsm7():
    for name, variations in RESPONSES.items():
        for variation in variations:
            if variation.get("channel") != "voice":  # a call's words are spoken, never sent as SMS
                assert is_gsm7(variation["text"]), f"{name}: {variation['text']!r}"


def test_on_a_call_dates_are_spoken(db_session):
    from relay.language.spoken import format_when_spoken

    referral = db_session.scalars(select(Referral).filter_by(external_id="RF-2001")).one()
    clinic = get_clinic(db_session)
    spoken = status_replies(referral, clinic, utcnow(), spoken=True)[0].variables["when"]
    assert spoken == format_when_spoken(referral.current_appointment.start_at, clinic.timezone)
    assert " A M" in spoken or " P M" in spoken


def test_in_spanish_the_words_around_the_facts_are_spanish(db_session):
    from relay.language.spoken import format_when_spoken
    from relay.language.timefmt import format_when

    referral = db_session.scalars(select(Referral).filter_by(external_id="RF-2001")).one()
    clinic = get_clinic(db_session)
    start = referral.current_appointment.start_at

    texted = status_replies(referral, clinic, utcnow(), language="es")[0].variables
    assert texted["when"] == format_when(start, clinic.timezone, "es")
    assert texted["specialty"] == "cardiologia"
    assert texted["referral_kind"] == "referido de Dr. Helen Moore"
    assert texted["bring"] == "su identificacion con foto y su tarjeta del seguro"
    assert all(is_gsm7(value) for value in texted.values())

    spoken = status_replies(referral, clinic, utcnow(), spoken=True, language="es")[0].variables
    assert spoken["when"] == format_when_spoken(start, clinic.timezone, "es")
    assert spoken["when"].startswith("el ")
    assert (spoken["specialty"], spoken["bring"]) == (
        "cardiología",
        "su identificación con foto y su tarjeta del seguro",
    )

    english = status_replies(referral, clinic, utcnow())[0].variables
    assert (english["specialty"], english["bring"]) == ("cardiology", "your photo ID and insurance card")


def test_in_spanish_the_fallbacks_are_spanish(db_session):
    referral = db_session.scalars(select(Referral).filter_by(external_id="RF-2003")).one()  # authorization pending
    referral.authorization_submitted_on = None
    referral.patient.insurance_payer = None
    db_session.flush()
    variables = status_replies(referral, get_clinic(db_session), utcnow(), language="es")[0].variables
    assert (variables["payer"], variables["submitted_date"]) == ("su seguro", "recientemente")


def _scheduled_with_prep(db_session, *, prep: str | None, prep_es: str | None) -> Referral:
    referral = db_session.scalars(select(Referral).filter_by(external_id="RF-2001")).one()
    referral.status = ReferralStatus.SCHEDULED
    referral.current_appointment.start_at = utcnow() + timedelta(days=3)
    referral.specialist.prep, referral.specialist.prep_es = prep, prep_es
    db_session.flush()
    return referral


def _prep_said(referral: Referral, clinic, **how) -> str | None:
    replies = status_replies(referral, clinic, utcnow(), **how)
    return next((r.variables["prep"] for r in replies if r.response == "utter_appointment_prep"), None)


def test_a_spanish_speaker_gets_the_directorys_spanish_preparation(db_session):
    referral = _scheduled_with_prep(db_session, prep="Fast for 8 hours; water is fine.",
                                    prep_es="Ayune 8 horas; puede tomar agua. Traiga sus análisis.")  # fmt: skip
    clinic = get_clinic(db_session)
    texted = _prep_said(referral, clinic, language="es")
    assert texted == "Ayune 8 horas; puede tomar agua. Traiga sus analisis."  # GSM-7 spelling for a text
    assert is_gsm7(texted)
    assert _prep_said(referral, clinic, language="es", spoken=True).endswith("sus análisis.")  # a call keeps it
    assert _prep_said(referral, clinic) == "Fast for 8 hours; water is fine."  # English stays English


def test_without_a_spanish_preparation_the_english_one_is_said(db_session):
    referral = _scheduled_with_prep(db_session, prep="Fast for 8 hours; water is fine.", prep_es=None)
    clinic = get_clinic(db_session)
    assert _prep_said(referral, clinic, language="es") == "Fast for 8 hours; water is fine."
    # No preparation in either language: no preparation reply at all.
    referral = _scheduled_with_prep(db_session, prep=None, prep_es=None)
    assert _prep_said(referral, clinic, language="es") is None and _prep_said(referral, clinic) is None
