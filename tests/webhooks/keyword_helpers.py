"""For the keyword tests: the reply a text gets through the real webhook, the consent ledger, the flag."""

from sqlalchemy import select

from relay.core.db import session_scope
from relay.models import ConsentEvent, Patient
from tests.webhooks.twilio_helpers import post_sms, twiml_messages

JAMES, TOM, MARIA, UNKNOWN = "+13125550145", "+13125550151", "+13125550154", "+13125550199"
# Tom's seed consent is false; Maria's record says Spanish.


def ledger(phone: str) -> list[tuple[bool, str]]:
    """The number's consent events from texts, oldest first (the seed's own rows left out)."""
    with session_scope() as session:
        events = session.scalars(select(ConsentEvent).filter_by(phone=phone).order_by(ConsentEvent.id))
        return [(e.consented, e.source) for e in events if e.source not in ("seed", "import:demo")]


def consent_flag(phone: str) -> bool:
    with session_scope() as session:
        return session.scalars(select(Patient).filter_by(phone=phone)).one().sms_consent


def reply(api_client, phone: str, body: str, sid: str | None = None, **fields) -> list[str]:
    """The texts of the TwiML answer ([] for an empty <Response/>); `fields` adds form fields such as OptOutType."""
    response = post_sms(api_client, from_phone=phone, body=body, sid=sid, **fields)
    assert response.status_code == 200, response.text
    return twiml_messages(response)
