"""The handoff queue API: list, staff reply by SMS (to the fake Twilio), resolve and hand back to the bot."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from relay.core.db import session_scope
from relay.core.settings import get_settings
from relay.inbound.turns import RASA_DOWN_REPLY
from relay.messaging.handoffs import open_handoff
from relay.models import AuditEvent, Conversation, Handoff, Message
from relay.records import conversations
from tests.webhooks.twilio_helpers import CLINIC_NUMBER, post_sms, twiml_messages

JAMES, AISHA, TOM, UNKNOWN = "+13125550145", "+13125550146", "+13125550151", "+13125550199"

pytestmark = pytest.mark.usefixtures("rasa_stopped", "fresh_demo")


def _handoff(
    phone: str, *, reason: str = "patient_request", priority: str = "normal", opened_at: datetime | None = None
) -> int:
    with session_scope() as session:
        conversation = conversations.find_or_open(session, phone=phone)
        return open_handoff(session, conversation=conversation, reason=reason, priority=priority, now=opened_at).id


def test_the_queue_lists_urgent_first_then_oldest_first(api_client, auth_headers):
    base = datetime.now(UTC) - timedelta(hours=3)
    normal_old = _handoff(JAMES, opened_at=base)
    urgent_new = _handoff(AISHA, reason="emergency_medical", priority="urgent", opened_at=base + timedelta(hours=2))
    normal_new = _handoff(UNKNOWN, opened_at=base + timedelta(hours=1))
    post_sms(api_client, from_phone=UNKNOWN, body="hello?")

    response = api_client.get("/api/handoffs", params={"status": "open"}, headers=auth_headers)
    assert response.status_code == 200
    rows = response.json()
    assert [r["id"] for r in rows] == [urgent_new, normal_old, normal_new]
    first = rows[0]
    assert (first["status"], first["priority"], first["reason"], first["patient_mrn"]) == (
        "open", "urgent", "emergency_medical", "RFH-100046",
    )  # fmt: skip
    assert datetime.fromisoformat(first["opened_at"]) == base + timedelta(hours=2)
    with session_scope() as session:
        stranger = session.scalars(select(Conversation).filter_by(phone=UNKNOWN)).one()
        assert rows[2]["conversation_id"] == stranger.public_id
    assert rows[2]["patient_mrn"] is None
    assert datetime.fromisoformat(rows[2]["last_message_at"]) == stranger.last_message_at
    assert "phone" not in first  # the queue is ids, not numbers


def test_the_queue_filters_by_status_and_refuses_other_values(api_client, auth_headers):
    handoff_id = _handoff(JAMES)
    api_client.post(f"/api/handoffs/{handoff_id}/resolve", headers=auth_headers)
    assert api_client.get("/api/handoffs", params={"status": "open"}, headers=auth_headers).json() == []
    resolved = api_client.get("/api/handoffs", params={"status": "resolved"}, headers=auth_headers).json()
    assert [r["id"] for r in resolved] == [handoff_id] and resolved[0]["resolved_at"]
    assert len(api_client.get("/api/handoffs", headers=auth_headers).json()) == 1
    bad = api_client.get("/api/handoffs", params={"status": "closed"}, headers=auth_headers)
    assert bad.status_code == 400 and "status" in bad.json()["detail"]


def test_every_handoff_endpoint_needs_the_token(api_client):
    handoff_id = _handoff(JAMES)
    assert api_client.get("/api/handoffs").status_code == 401
    assert api_client.post(f"/api/handoffs/{handoff_id}/reply", json={"body": "hi"}).status_code == 401
    assert api_client.post(f"/api/handoffs/{handoff_id}/resolve").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert api_client.get("/api/handoffs", headers=wrong).status_code == 401


def test_a_staff_reply_reaches_twilio_from_the_clinic_number(api_client, auth_headers, fake_twilio):
    post_sms(api_client, from_phone=JAMES, body="when is my appointment")  # Rasa down: handoff
    [handoff] = api_client.get("/api/handoffs", params={"status": "open"}, headers=auth_headers).json()
    body = "Hi James, this is Dana at Riverside. Your appointment is confirmed."

    response = api_client.post(f"/api/handoffs/{handoff['id']}/reply", json={"body": body}, headers=auth_headers)
    assert response.status_code == 201, response.text
    out = response.json()

    [request] = fake_twilio.created_requests()
    settings = get_settings()
    assert request.auth == (settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value())
    assert request.headers["authorization"].startswith("Basic ")
    assert (request.form["From"], request.form["To"], request.form["Body"]) == (CLINIC_NUMBER, JAMES, body)
    assert request.form["StatusCallback"] == "https://relay.example.test/webhooks/twilio/status"
    [sent] = fake_twilio.sent
    assert (out["twilio_sid"], out["delivery_status"], out["conversation_id"]) == (
        sent["sid"], "queued", handoff["conversation_id"],
    )  # fmt: skip

    history = api_client.get("/api/conversations", params={"phone": JAMES}, headers=auth_headers).json()
    last = history["messages"][-1]
    assert (last["direction"], last["author"], last["body"], last["delivery_status"]) == (
        "outbound",
        "staff",
        body,
        "queued",
    )
    with session_scope() as session:
        replied = session.scalars(select(AuditEvent).filter_by(action="handoff.replied")).one()
        assert replied.details == {"handoff_id": handoff["id"], "message_id": out["message_id"]}


def test_resolving_hands_the_conversation_back_to_the_bot(api_client, auth_headers):
    assert twiml_messages(post_sms(api_client, from_phone=JAMES, body="hi")) == [RASA_DOWN_REPLY]
    assert twiml_messages(post_sms(api_client, from_phone=JAMES, body="hello?"))[0].startswith("Thanks")
    assert twiml_messages(post_sms(api_client, from_phone=JAMES, body="hello??")) == []
    [handoff] = api_client.get("/api/handoffs", params={"status": "open"}, headers=auth_headers).json()

    response = api_client.post(f"/api/handoffs/{handoff['id']}/resolve", headers=auth_headers)
    assert response.status_code == 200
    assert response.json()["status"] == "resolved" and response.json()["resolved_at"]
    with session_scope() as session:
        assert not session.scalars(select(Conversation).filter_by(phone=JAMES)).one().needs_staff
        resolved = session.scalars(select(AuditEvent).filter_by(action="handoff.resolved")).one()
        assert resolved.details["handoff_id"] == handoff["id"]

    # The next message reaches the Rasa path again (Rasa is stopped: the apology, and a new handoff).
    assert twiml_messages(post_sms(api_client, from_phone=JAMES, body="when is my appointment")) == [RASA_DOWN_REPLY]
    again = api_client.post(f"/api/handoffs/{handoff['id']}/resolve", headers=auth_headers)
    assert again.status_code == 409


def test_resolving_one_of_several_open_handoffs_keeps_needs_staff(api_client, auth_headers):
    first = _handoff(JAMES)
    with session_scope() as session:  # a second open one, as a race between two openers could leave
        conversation = session.scalars(select(Conversation).filter_by(phone=JAMES)).one()
        session.add(Handoff(conversation_id=conversation.id, reason="verification_locked", priority="high"))
    assert api_client.post(f"/api/handoffs/{first}/resolve", headers=auth_headers).status_code == 200
    with session_scope() as session:
        assert session.scalars(select(Conversation).filter_by(phone=JAMES)).one().needs_staff


def test_reply_and_resolve_answer_404_for_an_unknown_handoff(api_client, auth_headers):
    assert api_client.post("/api/handoffs/999999/reply", json={"body": "hi"}, headers=auth_headers).status_code == 404
    assert api_client.post("/api/handoffs/999999/resolve", headers=auth_headers).status_code == 404


def test_no_reply_on_a_resolved_handoff(api_client, auth_headers, fake_twilio):
    handoff_id = _handoff(JAMES)
    api_client.post(f"/api/handoffs/{handoff_id}/resolve", headers=auth_headers)
    response = api_client.post(f"/api/handoffs/{handoff_id}/reply", json={"body": "hi"}, headers=auth_headers)
    assert response.status_code == 409 and "resolved" in response.json()["detail"]
    assert fake_twilio.requests == []


def test_no_reply_to_a_number_that_opted_out(api_client, auth_headers, fake_twilio):
    post_sms(api_client, from_phone=JAMES, body="STOP")
    handoff_id = _handoff(JAMES)
    response = api_client.post(f"/api/handoffs/{handoff_id}/reply", json={"body": "hi"}, headers=auth_headers)
    assert response.status_code == 409 and "opted out" in response.json()["detail"]
    assert fake_twilio.requests == []
    post_sms(api_client, from_phone=JAMES, body="START")
    assert (
        api_client.post(f"/api/handoffs/{handoff_id}/reply", json={"body": "hi"}, headers=auth_headers).status_code
        == 201
    )


@pytest.mark.parametrize("payload", [{}, {"body": ""}, {"body": "   "}, {"body": "x" * 1601}, {"text": "hi"}])
def test_the_reply_body_is_checked(api_client, auth_headers, fake_twilio, payload):
    handoff_id = _handoff(JAMES)
    response = api_client.post(f"/api/handoffs/{handoff_id}/reply", json=payload, headers=auth_headers)
    assert response.status_code == 422
    assert fake_twilio.requests == []


def test_a_1600_character_reply_is_accepted(api_client, auth_headers, fake_twilio):
    handoff_id = _handoff(JAMES)
    response = api_client.post(f"/api/handoffs/{handoff_id}/reply", json={"body": "x" * 1600}, headers=auth_headers)
    assert response.status_code == 201


@pytest.mark.parametrize(("status", "code"), [(400, 21211), (429, 20429), (500, 20500)])
def test_a_twilio_refusal_is_502_and_nothing_is_stored(api_client, auth_headers, fake_twilio, status, code):
    handoff_id = _handoff(JAMES)
    fake_twilio.fail_next(status=status, code=code)
    response = api_client.post(f"/api/handoffs/{handoff_id}/reply", json={"body": "hi"}, headers=auth_headers)
    assert response.status_code == 502 and str(code) in response.json()["detail"]
    with session_scope() as session:
        assert session.scalars(select(Message).filter_by(author="staff")).first() is None
        assert session.scalars(select(AuditEvent).filter_by(action="handoff.replied")).first() is None


def test_the_endpoints_are_described_in_openapi(api_client):
    paths = api_client.get("/openapi.json").json()["paths"]
    assert set(paths["/api/handoffs"]["get"]["responses"]) >= {"200", "400", "401"}
    assert set(paths["/api/handoffs/{handoff_id}/reply"]["post"]["responses"]) >= {
        "201",
        "401",
        "404",
        "409",
        "422",
        "502",
    }
    assert set(paths["/api/handoffs/{handoff_id}/resolve"]["post"]["responses"]) >= {"200", "401", "404", "409"}
    listed = paths["/api/handoffs"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed["type"] == "array" and listed["items"]["$ref"].endswith("/HandoffOut")
