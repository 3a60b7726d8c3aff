from datetime import datetime, timedelta

from tests.support import demo_moment, demo_today


def test_the_api_needs_the_bearer_token(api_client):
    assert api_client.get("/api/referrals/RF-2001").status_code == 401
    wrong = api_client.get("/api/referrals/RF-2001", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_a_referral_with_its_appointment_in_iso_8601_with_offset(api_client, auth_headers):
    body = api_client.get("/api/referrals/RF-2001", headers=auth_headers).json()
    assert (body["id"], body["status"], body["type"]) == ("RF-2001", "scheduled", "provider")
    assert body["specialist"]["name"] == "Dr. Amara Okafor"
    assert body["specialist"]["facility"] == "Lakeside Heart Center"
    assert body["authorization"]["required"] is False
    appointment = body["appointment"]
    assert (appointment["id"], appointment["status"]) == ("AP-3001", "scheduled")
    start = datetime.fromisoformat(appointment["start"])
    assert start.utcoffset() is not None and start.utcoffset() in (timedelta(hours=-6), timedelta(hours=-5))
    assert start == demo_moment(3, "10:00")
    assert (start.hour, start.minute) == (10, 0)  # local clinic time


def test_a_referral_waiting_for_authorization(api_client, auth_headers):
    body = api_client.get("/api/referrals/RF-2003", headers=auth_headers).json()
    assert body["status"] == "authorization_pending"
    assert body["authorization"] == {
        "required": True,
        "status": "pending",
        "submitted_on": (demo_today() - timedelta(days=3)).isoformat(),
        "payer_reference": "PA-77120",
    }
    assert body["appointment"] is None


def test_the_referral_reason_is_not_in_the_api(api_client, auth_headers):
    text = api_client.get("/api/referrals/RF-2001", headers=auth_headers).text
    assert "angina" not in text.lower() and "reason" not in text


def test_an_unknown_referral_is_404_with_a_reason(api_client, auth_headers):
    response = api_client.get("/api/referrals/RF-9999", headers=auth_headers)
    assert response.status_code == 404
    assert "RF-9999" in response.json()["detail"]


def test_the_openapi_document_describes_the_api(api_client):
    spec = api_client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/api/referrals/{referral_id}", "/api/conversations", "/health", "/webhooks/twilio/sms"):
        assert path in paths
    assert "401" in paths["/api/referrals/{referral_id}"]["get"]["responses"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
