"""A turn slower than the webhook's deadline: Twilio gets an empty answer in time, the reply follows through
the REST API once, and answers keep the order of the questions. Rasa is faked (its timing is the point);
Twilio's REST API is the local fake behind the official client."""

import threading
import time

import pytest
from sqlalchemy import select

from relay.core.db import session_scope
from relay.core.settings import get_settings
from relay.models import Conversation, Handoff, Message
from tests.webhooks.twilio_helpers import post_sms, twiml_messages

JAMES = "+13125550145"
CLINIC = "+13125550100"
SLOW = 2.0  # seconds the fake Rasa takes for a "slow" message: far past the deadline below


@pytest.fixture
def short_deadline(monkeypatch, fake_rasa, fake_twilio, fresh_demo):
    monkeypatch.setenv("SMS_TURN_DEADLINE_SECONDS", "0.5")
    get_settings.cache_clear()
    yield fake_rasa, fake_twilio
    get_settings.cache_clear()


def _wait_for_sent(fake_twilio, count: int, ceiling: float = 20.0) -> list[dict]:
    """The messages Twilio's API got, once there are `count` of them (a wait, not a timing assertion)."""
    give_up = time.monotonic() + ceiling
    while len(fake_twilio.sent) < count and time.monotonic() < give_up:
        time.sleep(0.05)
    return fake_twilio.sent


def _stored() -> list[tuple[str, str, str, int | None]]:
    with session_scope() as session:
        conversation = session.scalars(select(Conversation).filter_by(phone=JAMES)).one()
        messages = session.scalars(select(Message).filter_by(conversation_id=conversation.id).order_by(Message.id))
        return [(m.direction, m.author, m.body, m.in_reply_to_id) for m in messages]


def test_a_turn_within_the_deadline_is_answered_inline_and_nothing_goes_through_rest(short_deadline, api_client):
    _, fake_twilio = short_deadline
    assert twiml_messages(post_sms(api_client, from_phone=JAMES, body="hello")) == ["you said: hello"]
    assert fake_twilio.sent == []


def test_a_slow_turn_answers_empty_then_sends_its_reply_once_through_rest(short_deadline, api_client):
    fake_rasa, fake_twilio = short_deadline
    fake_rasa.delays["when is my appointment"] = SLOW
    response = post_sms(api_client, from_phone=JAMES, body="when is my appointment")
    assert response.status_code == 200 and twiml_messages(response) == []  # Twilio is answered, empty

    [sent] = _wait_for_sent(fake_twilio, 1)
    assert (sent["to"], sent["from"], sent["body"]) == (JAMES, CLINIC, "you said: when is my appointment")
    time.sleep(0.3)
    assert len(fake_twilio.sent) == 1  # once
    inbound, outbound = _stored()
    assert inbound[:3] == ("inbound", "patient", "when is my appointment")
    assert outbound[:3] == ("outbound", "bot", "you said: when is my appointment")
    with session_scope() as session:
        first = session.scalars(select(Message).filter_by(body="when is my appointment")).one()
        assert outbound[3] == first.id and first.processed_at is not None  # stored as its answer


def test_a_later_message_is_answered_after_the_slow_one_never_before_it(short_deadline, api_client):
    fake_rasa, fake_twilio = short_deadline
    fake_rasa.delays["first question"] = SLOW
    answers: dict[str, list[str]] = {}

    def text(body: str) -> None:
        answers[body] = twiml_messages(post_sms(api_client, from_phone=JAMES, body=body))

    first = threading.Thread(target=text, args=("first question",))
    first.start()
    while "first question" not in fake_rasa.messages:  # the first turn is with Rasa
        time.sleep(0.01)
    text("second question")  # Rasa would answer this one at once
    first.join()

    delivered = [m["body"] for m in _wait_for_sent(fake_twilio, 1)] + answers["second question"]
    if answers["second question"] == []:  # it too waited past its deadline: both went through REST
        delivered = [m["body"] for m in _wait_for_sent(fake_twilio, 2)]
    assert answers["first question"] == []
    assert delivered == ["you said: first question", "you said: second question"]
    assert fake_rasa.messages == ["first question", "second question"]  # Rasa got the second only after


def test_the_webhook_answers_empty_for_a_slow_turn_even_when_the_reply_cannot_be_sent(short_deadline, api_client):
    """Twilio refuses the late reply: it is stored as failed and a person is asked to answer."""
    fake_rasa, fake_twilio = short_deadline
    fake_rasa.delays["slow and unlucky"] = SLOW
    fake_twilio.fail_next(status=500, code=20500, count=5)
    assert twiml_messages(post_sms(api_client, from_phone=JAMES, body="slow and unlucky")) == []
    give_up = time.monotonic() + 20
    while time.monotonic() < give_up:
        with session_scope() as session:
            failed = session.scalars(select(Message).filter_by(direction="outbound", delivery_status="failed")).all()
            if failed:
                break
        time.sleep(0.05)
    assert [m.body for m in failed] == ["you said: slow and unlucky"]
    with session_scope() as session:
        conversation = session.scalars(select(Conversation).filter_by(phone=JAMES)).one()
        reasons = session.scalars(select(Handoff.reason).filter_by(conversation_id=conversation.id)).all()
        assert reasons == ["reply_not_sent"]
