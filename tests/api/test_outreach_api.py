"""POST /api/referrals/{id}/status and GET /api/outreach, through the real app and database."""

from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from relay.core.db import session_scope
from relay.models import Referral
from relay.scheduling.booking import book_slot
from tests.relay.outreach.helpers import free_slots
from tests.support import demo_moment

pytestmark = pytest.mark.usefixtures("fresh_demo")


def post_status(api_client, headers, referral_id: str, body: dict):
    return api_client.post(f"/api/referrals/{referral_id}/status", json=body, headers=headers)


def outreach(api_client, headers, referral_id: str) -> list[dict]:
    response = api_client.get("/api/outreach", params={"referral_id": referral_id}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_both_endpoints_need_the_token(api_client):
    assert api_client.post("/api/referrals/RF-2003/status", json={"status": "declined"}).status_code == 401
    assert api_client.get("/api/outreach", params={"referral_id": "RF-2003"}).status_code == 401


def test_received_to_completed_is_400_listing_the_allowed_transitions(api_client, auth_headers):
    response = post_status(api_client, auth_headers, "RF-2012", {"status": "completed"})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["current"] == "received" and detail["requested"] == "completed"
    assert detail["allowed"] == ["authorization_pending", "ready_to_schedule", "declined", "cancelled"]
    assert "received to completed" in detail["message"]
    assert api_client.get("/api/referrals/RF-2012", headers=auth_headers).json()["status"] == "received"


def test_ready_to_schedule_to_scheduled_without_an_appointment_is_400(api_client, auth_headers):
    response = post_status(api_client, auth_headers, "RF-2002", {"status": "scheduled"})
    assert response.status_code == 400
    assert response.json()["detail"]["allowed"] == ["cancelled"]
    assert "booking an appointment" in response.json()["detail"]["message"]


def test_unknown_referral_is_404_and_malformed_bodies_are_422(api_client, auth_headers):
    assert post_status(api_client, auth_headers, "RF-9999", {"status": "declined"}).status_code == 404
    for body in (
        {},
        {"status": "lost"},
        {"status": "declined", "colour": "red"},
        {"status": "ready_to_schedule", "authorization": {"status": "maybe"}},
        {"status": "ready_to_schedule", "authorization": {"submitted_on": "yesterday"}},
        {"status": "ready_to_schedule", "authorization": {"reference": "x" * 65}},
    ):
        assert post_status(api_client, auth_headers, "RF-2003", body).status_code == 422, body
    assert api_client.post("/api/referrals/RF-2003/status", content="nope", headers=auth_headers).status_code == 422


def test_authorization_approved_plans_a_scheduling_invite_with_the_clinics_offset(api_client, auth_headers):
    moment = demo_moment(1, "11:00")
    with time_machine.travel(moment, tick=False):
        response = post_status(
            api_client,
            auth_headers,
            "RF-2003",
            {
                "status": "ready_to_schedule",
                "authorization": {"status": "approved", "reference": "PA-77120", "submitted_on": "2026-01-05"},
            },
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body == api_client.get("/api/referrals/RF-2003", headers=auth_headers).json()  # as GET returns it
        assert body["status"] == "ready_to_schedule"
        assert body["authorization"] == {
            "required": True, "status": "approved", "submitted_on": "2026-01-05", "payer_reference": "PA-77120",
        }  # fmt: skip
        plan = outreach(api_client, auth_headers, "RF-2003")

    assert [(row["kind"], row["state"], row["channel"]) for row in plan] == [
        ("scheduling_invite", "planned", "sms"),
        ("scheduling_nudge", "planned", "sms"),
        ("scheduling_nudge", "planned", "sms"),
        ("leakage_handoff", "planned", "staff"),
    ]
    invite = plan[0]
    due = datetime.fromisoformat(invite["due_at"])
    assert due.utcoffset() in (timedelta(hours=-6), timedelta(hours=-5))
    assert due == moment and (due.hour, due.minute) == (11, 0)
    assert (invite["template"], invite["language"], invite["error_code"]) == ("scheduling_invite", "en", None)
    assert [datetime.fromisoformat(row["due_at"]) - moment for row in plan[1:]] == [
        timedelta(days=2), timedelta(days=5), timedelta(days=7),
    ]  # fmt: skip
    assert [row["due_at"] for row in plan] == sorted(row["due_at"] for row in plan)


def test_completed_plans_a_review_request_2_hours_after_the_visit(api_client, auth_headers):
    visit = demo_moment(3, "10:00")  # James Carter with Dr. Okafor, 30 minutes
    with time_machine.travel(visit + timedelta(hours=1), tick=False):
        response = post_status(api_client, auth_headers, "RF-2001", {"status": "completed"})
        assert response.status_code == 200, response.text
        assert response.json()["appointment"]["status"] == "completed"
        plan = outreach(api_client, auth_headers, "RF-2001")
    reviews = [row for row in plan if row["kind"] == "review_request"]
    assert len(reviews) == 1 and reviews[0]["state"] == "planned"
    assert datetime.fromisoformat(reviews[0]["due_at"]) == demo_moment(3, "12:30")
    assert reviews[0]["appointment_id"] == "AP-3001"


def test_booking_replans_and_the_plan_lists_the_appointments_rows_in_spanish_for_maria(api_client, auth_headers):
    with session_scope() as session:
        maria = session.scalars(select(Referral).filter_by(external_id="RF-2011")).one()
        slot = free_slots(session, maria.specialist_id, 1)
        book_slot(session, referral=maria, start_at=slot[0], now=demo_moment(0, "11:00"), actor="bot")
        numeric = str(maria.id)
    plan = outreach(api_client, auth_headers, numeric)  # Relay's numeric id works too
    assert {row["kind"] for row in plan} == {"confirmation", "reminder"}
    assert {row["language"] for row in plan} == {"es"}
    assert sum(row["kind"] == "reminder" and row["state"] == "planned" for row in plan) == 3


def test_outreach_needs_a_known_referral_id(api_client, auth_headers):
    missing = api_client.get("/api/outreach", headers=auth_headers)
    assert missing.status_code == 400 and "referral_id" in missing.json()["detail"]
    assert api_client.get("/api/outreach", params={"referral_id": "RF-9999"}, headers=auth_headers).status_code == 404


def test_the_openapi_document_describes_both(api_client):
    paths = api_client.get("/openapi.json").json()["paths"]
    post = paths["/api/referrals/{referral_id}/status"]["post"]
    assert {"200", "400", "401", "404", "422"} <= set(post["responses"])
    assert "completed and declined are final" in post["description"]
    get = paths["/api/outreach"]["get"]
    assert {"200", "400", "401", "404"} <= set(get["responses"])
    assert get["parameters"][0]["name"] == "referral_id"
