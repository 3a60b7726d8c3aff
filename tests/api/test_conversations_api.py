from datetime import datetime

import pytest

from tests.webhooks.twilio_helpers import post_sms

pytestmark = pytest.mark.usefixtures("rasa_stopped")


def test_conversation_history_by_any_phone_format_oldest_first(api_client, auth_headers, fresh_demo):
    post_sms(api_client, from_phone="+13125550146", body="first message", sid="SMc1")
    post_sms(api_client, from_phone="+13125550146", body="second message", sid="SMc2")
    response = api_client.get("/api/conversations", params={"phone": "312.555.0146"}, headers=auth_headers)
    assert response.status_code == 200
    body = response.json()
    assert body["phone"] == "+13125550146"
    assert body["patient_mrn"] == "RFH-100046"
    messages = body["messages"]
    assert [(m["direction"], m["channel"]) for m in messages] == [("inbound", "sms"), ("outbound", "sms")] * 2
    assert [m["body"] for m in messages if m["direction"] == "inbound"] == ["first message", "second message"]
    times = [datetime.fromisoformat(m["created_at"]) for m in messages]
    assert times == sorted(times) and all(t.utcoffset() is not None for t in times)


def test_conversations_need_the_token(api_client):
    assert api_client.get("/api/conversations", params={"phone": "3125550146"}).status_code == 401


def test_a_bad_phone_is_400_and_an_unknown_one_404(api_client, auth_headers):
    bad = api_client.get("/api/conversations", params={"phone": "abc"}, headers=auth_headers)
    assert bad.status_code == 400 and "phone" in bad.json()["detail"]
    unknown = api_client.get("/api/conversations", params={"phone": "(312) 555-0199"}, headers=auth_headers)
    assert unknown.status_code == 404


def _lock(phone: str) -> str:
    """Three wrong dates of birth, as the bot would check them; returns the conversation id."""
    from relay.core.db import session_scope
    from relay.identity import verification
    from relay.records import conversations

    with session_scope() as session:
        conversation = conversations.find_or_open(session, phone=phone)
        for _ in range(3):
            outcome = verification.check_dob(session, conversation=conversation, text="1/1/1901").outcome
        assert outcome == "locked"
        return conversation.public_id


def _audit_actions(conversation_id: str) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from relay.core.db import session_scope
    from relay.models import AuditEvent, Conversation

    with session_scope() as session:
        conversation = session.scalars(select(Conversation).filter_by(public_id=conversation_id)).one()
        events = session.scalars(select(AuditEvent).filter_by(conversation_id=conversation.id).order_by(AuditEvent.id))
        return [(e.actor, e.action) for e in events]


def test_staff_unlock_a_locked_conversation_and_the_patient_can_verify_again(api_client, auth_headers, fresh_demo):
    from relay.core.db import session_scope
    from relay.identity import verification
    from relay.models import Conversation

    conversation_id = _lock("+13125550146")
    unlocked = api_client.post(f"/api/conversations/{conversation_id}/unlock", headers=auth_headers)
    assert unlocked.status_code == 200
    assert (unlocked.json()["locked"], unlocked.json()["verified"]) == (False, False)
    actions = _audit_actions(conversation_id)
    assert ("bot", "verification.locked") in actions and actions[-1] == ("api", "verification.unlocked")
    with session_scope() as session:
        conversation = session.query(Conversation).filter_by(public_id=conversation_id).one()
        assert conversation.failed_verifications == 0
        # A fresh count: one wrong date is not a lock any more, and the right one verifies.
        assert verification.check_dob(session, conversation=conversation, text="1/1/1901").outcome == "mismatch"
        assert verification.check_dob(session, conversation=conversation, text="2/17/1991").outcome == "verified"


def test_unlocking_needs_a_lock_a_known_id_and_the_token(api_client, auth_headers, fresh_demo):
    from relay.core.db import session_scope
    from relay.records import conversations

    with session_scope() as session:
        open_id = conversations.find_or_open(session, phone="+13125550146").public_id
    not_locked = api_client.post(f"/api/conversations/{open_id}/unlock", headers=auth_headers)
    assert not_locked.status_code == 409 and "not locked" in not_locked.json()["detail"]
    assert api_client.post("/api/conversations/nope/unlock", headers=auth_headers).status_code == 404
    locked_id = _lock("+13125550145")
    assert api_client.post(f"/api/conversations/{locked_id}/unlock").status_code == 401
    assert ("api", "verification.unlocked") not in _audit_actions(locked_id)  # nothing changed without the token
