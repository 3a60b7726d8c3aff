"""The SMS webhook's edges, with Rasa not running (the real 'Rasa is down' path)."""

import threading

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from relay.core.db import session_scope
from relay.inbound.turns import RASA_DOWN_REPLY
from relay.models import Conversation, Handoff, Message
from tests.webhooks.twilio_helpers import CLINIC_NUMBER, post_sms, twiml_messages

JAMES = "+13125550145"

pytestmark = pytest.mark.usefixtures("rasa_stopped")


def _count(model) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_bad_signature_is_refused_and_nothing_is_stored(api_client, fresh_demo):
    params = {"MessageSid": "SMbad", "From": JAMES, "To": CLINIC_NUMBER, "Body": "when is my appt"}
    forged = RequestValidator("not-the-auth-token").compute_signature(
        "https://relay.example.test/webhooks/twilio/sms", params
    )
    response = api_client.post("/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": forged})
    assert response.status_code == 403
    assert "signature" in response.json()["detail"].lower()
    assert _count(Message) == 0 and _count(Conversation) == 0


def test_a_missing_signature_is_refused(api_client, fresh_demo):
    params = {"MessageSid": "SMnosig", "From": JAMES, "To": CLINIC_NUMBER, "Body": "hi"}
    assert api_client.post("/webhooks/twilio/sms", data=params).status_code == 403
    assert _count(Message) == 0


def test_a_signature_for_another_url_is_refused(api_client, fresh_demo):
    """Signed for the URL the test client sees, not the public one Twilio calls."""
    params = {"MessageSid": "SMurl", "From": JAMES, "To": CLINIC_NUMBER, "Body": "hi"}
    signature = RequestValidator("test-auth-token").compute_signature("http://testserver/webhooks/twilio/sms", params)
    response = api_client.post("/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


def test_a_tampered_body_is_refused(api_client, fresh_demo):
    from relay.ops.chat import signed_sms_request

    params, headers = signed_sms_request(from_phone=JAMES, to_phone=CLINIC_NUMBER, body="hi")
    params["Body"] = "something else"
    assert api_client.post("/webhooks/twilio/sms", data=params, headers=headers).status_code == 403


def test_missing_fields_get_400_with_the_field_named(api_client, fresh_demo):
    response = post_sms(api_client, from_phone=JAMES, body="hi", From=None)
    assert response.status_code == 400
    assert "From" in response.json()["detail"]
    assert _count(Message) == 0


def test_a_malformed_from_number_gets_400(api_client, fresh_demo):
    response = post_sms(api_client, from_phone="not-a-number", body="hi")
    assert response.status_code == 400
    assert "From" in response.json()["detail"]
    assert _count(Message) == 0 and _count(Conversation) == 0


def test_when_rasa_does_not_answer_the_patient_gets_an_apology_and_staff_a_handoff(api_client, fresh_demo):
    response = post_sms(api_client, from_phone="(312) 555-0145", body="when is my appointment?", sid="SMdown1")
    assert response.status_code == 200
    assert twiml_messages(response) == [RASA_DOWN_REPLY]
    with session_scope() as session:
        conversation = session.scalars(select(Conversation)).one()
        assert conversation.phone == JAMES  # normalised from the national format
        assert conversation.needs_staff
        handoff = session.scalars(select(Handoff)).one()
        assert (handoff.reason, handoff.status) == ("rasa_unavailable", "open")
        inbound, outbound = conversation.messages
        assert (inbound.direction, inbound.body, inbound.twilio_sid) == (
            "inbound",
            "when is my appointment?",
            "SMdown1",
        )
        assert inbound.processed_at is not None
        assert (outbound.direction, outbound.in_reply_to_id) == ("outbound", inbound.id)


def test_a_retried_message_sid_gets_the_same_reply_and_stores_nothing_new(api_client, fresh_demo):
    first = post_sms(api_client, from_phone=JAMES, body="hello", sid="SMretry")
    rows = _count(Message), _count(Handoff)
    second = post_sms(api_client, from_phone=JAMES, body="hello", sid="SMretry")
    assert second.status_code == 200
    assert twiml_messages(second) == twiml_messages(first)
    assert (_count(Message), _count(Handoff)) == rows == (2, 1)


def test_two_copies_arriving_at_once_are_processed_once(api_client, fresh_demo):
    results: list = []
    barrier = threading.Barrier(4)

    def send():
        barrier.wait()
        results.append(post_sms(api_client, from_phone=JAMES, body="status pls", sid="SMtwins"))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in results] == [200] * 4
    assert {tuple(twiml_messages(r)) for r in results} == {(RASA_DOWN_REPLY,)}
    with session_scope() as session:
        inbound = session.scalars(select(Message).filter_by(direction="inbound")).all()
        assert [m.twilio_sid for m in inbound] == ["SMtwins"]
    assert _count(Message) == 2


def test_a_hung_rasa_gets_the_apology_within_the_timeout(api_client, fresh_demo, monkeypatch):
    """A Rasa that accepts the connection and never answers (stuck, overloaded)."""
    import socket

    from relay.core.settings import get_settings

    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    monkeypatch.setenv("RASA_URL", f"http://127.0.0.1:{hung.getsockname()[1]}")
    monkeypatch.setenv("RASA_TIMEOUT_SECONDS", "1")
    get_settings.cache_clear()
    try:
        response = post_sms(api_client, from_phone=JAMES, body="where is my referral", sid="SMhung")
    finally:
        hung.close()
        get_settings.cache_clear()
    assert twiml_messages(response) == [RASA_DOWN_REPLY]
    with session_scope() as session:
        assert session.scalars(select(Handoff)).one().reason == "rasa_unavailable"
        assert session.scalars(select(Message).filter_by(twilio_sid="SMhung")).one().body == "where is my referral"
