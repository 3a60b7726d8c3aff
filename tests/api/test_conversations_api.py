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
