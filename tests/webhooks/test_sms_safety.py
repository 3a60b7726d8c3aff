"""Emergencies through the real webhook, with Rasa stopped: the answer never depends on the model."""

import pytest
from sqlalchemy import select

from relay.core.db import session_scope
from relay.inbound.safety import MEDICAL_REPLY, MENTAL_HEALTH_REPLY
from relay.messaging.handoffs import open_handoff
from relay.models import AuditEvent, Conversation, Handoff, Message
from relay.records import conversations
from tests.webhooks.twilio_helpers import post_sms, twiml_messages

JAMES, UNKNOWN = "+13125550145", "+13125550199"

pytestmark = pytest.mark.usefixtures("rasa_stopped", "fresh_demo")


def _handoffs() -> list[tuple[str, str, str]]:
    with session_scope() as session:
        return [(h.reason, h.priority, h.status) for h in session.scalars(select(Handoff).order_by(Handoff.id))]


def test_chest_pain_gets_911_and_an_urgent_handoff(api_client):
    response = post_sms(api_client, from_phone=JAMES, body="I have crushing chest pain")
    assert twiml_messages(response) == [MEDICAL_REPLY]
    assert "911" in MEDICAL_REPLY
    # Only the emergency handoff: Rasa (stopped) was never called, or a rasa_unavailable one would exist.
    assert _handoffs() == [("emergency_medical", "urgent", "open")]
    with session_scope() as session:
        conversation = session.scalars(select(Conversation).filter_by(phone=JAMES)).one()
        assert conversation.needs_staff
        inbound, outbound = conversation.messages
        assert (inbound.body, outbound.body, outbound.author) == ("I have crushing chest pain", MEDICAL_REPLY, "system")
        assert outbound.in_reply_to_id == inbound.id and inbound.processed_at is not None
        opened = session.scalars(select(AuditEvent).filter_by(action="handoff.opened")).one()
        assert opened.details["priority"] == "urgent" and "chest" not in str(opened.details)


@pytest.mark.parametrize("body", ["i want to die", "thinking about suicide"])
def test_a_mental_health_crisis_gets_988(api_client, body):
    response = post_sms(api_client, from_phone=UNKNOWN, body=body)
    assert twiml_messages(response) == [MENTAL_HEALTH_REPLY]
    assert "988" in MENTAL_HEALTH_REPLY and "911" in MENTAL_HEALTH_REPLY
    assert _handoffs() == [("emergency_mental_health", "urgent", "open")]


def test_an_emergency_during_a_handoff_still_gets_911_and_raises_it_to_urgent(api_client):
    with session_scope() as session:
        conversation = conversations.find_or_open(session, phone=JAMES)
        open_handoff(session, conversation=conversation, reason="patient_request")
    response = post_sms(api_client, from_phone=JAMES, body="cant breath")
    assert twiml_messages(response) == [MEDICAL_REPLY]
    assert _handoffs() == [("emergency_medical", "urgent", "open")]
    with session_scope() as session:
        escalated = session.scalars(select(AuditEvent).filter_by(action="handoff.escalated")).one()
        assert (escalated.details["from_reason"], escalated.details["reason"]) == (
            "patient_request",
            "emergency_medical",
        )


def test_each_emergency_message_gets_the_advice_again(api_client):
    for sid in ("SMem1", "SMem2"):
        response = post_sms(api_client, from_phone=JAMES, body="severe bleeding", sid=sid)
        assert twiml_messages(response) == [MEDICAL_REPLY]
    assert len(_handoffs()) == 1
    with session_scope() as session:
        assert len(session.scalars(select(Message).filter_by(direction="inbound")).all()) == 2
