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


@pytest.mark.parametrize("referral_type", [t.value for t in ReferralType])
@pytest.mark.parametrize("status", [s.value for s in ReferralStatus])
@pytest.mark.parametrize("upcoming", [True, False])
def test_each_type_and_status_gets_a_complete_private_reply(db_session, referral_type, status, upcoming):
    referral = db_session.scalars(select(Referral).filter_by(external_id="RF-2001")).one()
    referral.type, referral.status = referral_type, status
    appointment: Appointment = referral.current_appointment
    appointment.start_at = utcnow() + (timedelta(days=3) if upcoming else -timedelta(days=3))
    db_session.flush()

    replies = status_replies(referral, get_clinic(db_session), utcnow())
    assert replies
    texts = []
    for reply in replies:
        assert reply.response in RESPONSES, f"{reply.response} is not in the domain"
        for variation in RESPONSES[reply.response]:
            needed = set(re.findall(r"{(\w+)}", variation["text"]))
            assert needed <= set(reply.variables), f"{reply.response} needs {needed - set(reply.variables)}"
            texts.append(variation["text"].format(**reply.variables))
    for text in texts:
        assert referral.reason not in text and "angina" not in text.lower()
        assert is_gsm7(text), text
    # The first variation is the text message; the webhook joins replies into one SMS.
    sms = "\n\n".join(RESPONSES[r.response][0]["text"].format(**r.variables) for r in replies)
    assert segments(sms) <= 2, sms


def test_every_domain_response_is_gsm7():
    for name, variations in RESPONSES.items():
        for variation in variations:
            assert is_gsm7(variation["text"]), f"{name}: {variation['text']!r}"


def test_on_a_call_dates_are_spoken(db_session):
    from relay.language.spoken import format_when_spoken

    referral = db_session.scalars(select(Referral).filter_by(external_id="RF-2001")).one()
    clinic = get_clinic(db_session)
    spoken = status_replies(referral, clinic, utcnow(), spoken=True)[0].variables["when"]
    assert spoken == format_when_spoken(referral.current_appointment.start_at, clinic.timezone)
    assert " A M" in spoken or " P M" in spoken
