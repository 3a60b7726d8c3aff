"""POST /api/appointments and PUT /api/appointments/{id}, through the real app and database."""

import uuid
from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from relay.core.db import session_scope
from relay.models import Appointment, AppointmentStatus
from tests.api.test_openapi_vocabulary import _enum_of
from tests.support import demo_moment

# Every test here commits through the API: start from, and leave, a clean demo clinic.
pytestmark = pytest.mark.usefixtures("fresh_demo")

PENDING = ("planned", "queued")


def new_id() -> str:
    return f"AP-T{uuid.uuid4().hex[:10]}"


def outreach(api_client, headers, referral_id: str) -> list[dict]:
    response = api_client.get("/api/outreach", params={"referral_id": referral_id}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def pending_reminders(plan: list[dict], appointment_id: str) -> set[datetime]:
    return {
        datetime.fromisoformat(row["due_at"])
        for row in plan
        if row["kind"] == "reminder" and row["state"] in PENDING and row["appointment_id"] == appointment_id
    }


def stored(external_id: str) -> Appointment | None:
    with session_scope() as session:
        return session.scalars(select(Appointment).filter_by(external_id=external_id)).one_or_none()


def test_both_need_the_token(api_client):
    appointment_id = new_id()
    body = {"id": appointment_id, "referral_id": "RF-2002", "start": demo_moment(4, "09:00").isoformat()}
    assert api_client.post("/api/appointments", json=body).status_code == 401
    assert api_client.put("/api/appointments/AP-3001", json={"status": "confirmed"}).status_code == 401
    assert stored(appointment_id) is None


def test_post_books_the_referral_and_plans_confirmation_and_reminders(api_client, auth_headers):
    appointment_id = new_id()
    start = demo_moment(4, "09:00")
    body = {"id": appointment_id, "referral_id": "RF-2002", "start": start.isoformat()}  # UTC offset +00:00

    response = api_client.post("/api/appointments", json=body, headers=auth_headers)

    assert response.status_code == 201, response.text
    out = response.json()
    assert (out["id"], out["referral_id"], out["specialist_key"], out["status"], out["version"]) == (
        appointment_id, "RF-2002", "park", "scheduled", 1,
    )  # fmt: skip
    assert out["duration_minutes"] == 20  # Dr. Park's slot
    answered = datetime.fromisoformat(out["start"])
    assert answered == start and (answered.hour, answered.minute) == (9, 0)  # in the clinic's zone
    referral = api_client.get("/api/referrals/RF-2002", headers=auth_headers).json()
    assert referral["status"] == "scheduled" and referral["appointment"]["id"] == appointment_id
    kinds = {row["kind"] for row in outreach(api_client, auth_headers, "RF-2002") if row["state"] in PENDING}
    assert {"confirmation", "reminder"} <= kinds


def test_post_for_an_existing_id_is_409(api_client, auth_headers):
    body = {"id": "AP-3001", "referral_id": "RF-2002", "start": demo_moment(4, "09:00").isoformat()}
    response = api_client.post("/api/appointments", json=body, headers=auth_headers)
    assert response.status_code == 409 and "AP-3001" in response.json()["detail"]
    appointment = stored("AP-3001")
    assert appointment is not None and appointment.version == 1


def test_a_new_start_moves_the_reminders_and_the_same_again_changes_nothing(api_client, auth_headers):
    appointment_id = new_id()
    # Computed before travelling: demo_moment counts its days from the (travelled) today.
    first, moved = demo_moment(3, "10:00"), demo_moment(6, "11:00")
    day_before_first, days_before_moved = demo_moment(2, "10:00"), (demo_moment(3, "10:00"), demo_moment(5, "10:00"))
    with time_machine.travel(demo_moment(1, "11:00"), tick=False):
        body = {"id": appointment_id, "referral_id": "RF-2002", "start": first.isoformat()}
        assert api_client.post("/api/appointments", json=body, headers=auth_headers).status_code == 201
        # The cadence: 3 and 1 days before at 10:00 and 2 hours before; the 3-day one is already past.
        assert pending_reminders(outreach(api_client, auth_headers, "RF-2002"), appointment_id) == {
            day_before_first,
            first - timedelta(hours=2),
        }

        change = {"start": moved.isoformat()}
        response = api_client.put(f"/api/appointments/{appointment_id}", json=change, headers=auth_headers)

        assert response.status_code == 200, response.text
        out = response.json()
        assert datetime.fromisoformat(out["start"]) == moved and out["version"] == 2
        assert (out["referral_id"], out["status"]) == ("RF-2002", "scheduled")
        reminders = pending_reminders(outreach(api_client, auth_headers, "RF-2002"), appointment_id)
        assert reminders == {*days_before_moved, moved - timedelta(hours=2)}

        again = api_client.put(f"/api/appointments/{appointment_id}", json=change, headers=auth_headers)

        assert again.status_code == 200
        assert again.json() == out  # the version did not move
        assert pending_reminders(outreach(api_client, auth_headers, "RF-2002"), appointment_id) == reminders


def test_an_existing_appointment_is_updated_and_a_null_specialist_keeps_its_own(api_client, auth_headers):
    response = api_client.put(
        "/api/appointments/AP-3001",
        json={"status": "confirmed", "duration_minutes": 45, "specialist_key": None},
        headers=auth_headers,
    )
    assert response.status_code == 200, response.text
    out = response.json()
    assert (out["status"], out["duration_minutes"], out["specialist_key"], out["version"]) == (
        "confirmed", 45, "okafor", 2,
    )  # fmt: skip
    assert datetime.fromisoformat(out["start"]) == demo_moment(3, "10:00")


def test_put_creates_an_appointment(api_client, auth_headers):
    appointment_id = new_id()
    body = {"referral_id": "RF-2002", "start": "2030-03-05T09:20:00-06:00", "status": "confirmed"}
    response = api_client.put(f"/api/appointments/{appointment_id}", json=body, headers=auth_headers)
    assert response.status_code == 201, response.text
    assert (response.json()["status"], response.json()["start"]) == ("confirmed", "2030-03-05T09:20:00-06:00")


def test_a_new_appointment_by_put_needs_a_start(api_client, auth_headers):
    appointment_id = new_id()
    response = api_client.put(
        f"/api/appointments/{appointment_id}", json={"referral_id": "RF-2002"}, headers=auth_headers
    )
    assert response.status_code == 400
    assert "start" in response.json()["detail"]
    assert stored(appointment_id) is None


@pytest.mark.parametrize(
    ("change", "named"),
    [({"referral_id": "RF-NOPE"}, "RF-NOPE"), ({"specialist_key": "dr-nobody"}, "dr-nobody")],
    ids=["referral", "specialist"],
)
def test_an_unknown_reference_is_400_naming_it_and_nothing_is_written(api_client, auth_headers, change, named):
    appointment_id = new_id()
    body = {"id": appointment_id, "referral_id": "RF-2002", "start": demo_moment(4, "09:00").isoformat()} | change

    created = api_client.post("/api/appointments", json=body, headers=auth_headers)
    updated = api_client.put("/api/appointments/AP-3001", json=change, headers=auth_headers)

    for response in (created, updated):
        assert response.status_code == 400, response.text
        assert named in response.json()["detail"]
    assert stored(appointment_id) is None
    kept = stored("AP-3001")
    assert kept is not None and kept.version == 1
    assert api_client.get("/api/referrals/RF-2002", headers=auth_headers).json()["status"] == "ready_to_schedule"


def test_a_start_without_an_offset_is_422_saying_so(api_client, auth_headers):
    response = api_client.put("/api/appointments/AP-3001", json={"start": "2030-03-05T09:20:00"}, headers=auth_headers)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "start"] and "timezone" in error["msg"]
    appointment = stored("AP-3001")
    assert appointment is not None and appointment.version == 1


@pytest.mark.parametrize(
    "change",
    [
        {"colour": "red"},
        {"status": "booked"},
        {"duration_minutes": 0},
        {"duration_minutes": 24 * 60 + 1},
        {"start": "next Tuesday"},
        {"start": None},
        {"referral_id": None},
        {"id": "AP-1"},
    ],
)
def test_a_malformed_put_is_422(api_client, auth_headers, change):
    assert api_client.put("/api/appointments/AP-3001", json=change, headers=auth_headers).status_code == 422, change


@pytest.mark.parametrize(
    "body", [{}, {"id": "AP-T1", "referral_id": "RF-2002"}, {"id": "AP-T1", "start": "2030-03-05T09:20:00-06:00"}]
)
def test_a_post_without_the_needed_fields_is_422(api_client, auth_headers, body):
    assert api_client.post("/api/appointments", json=body, headers=auth_headers).status_code == 422


def test_the_openapi_document_describes_both(api_client):
    paths = api_client.get("/openapi.json").json()["paths"]
    assert {"201", "400", "401", "409", "422"} <= set(paths["/api/appointments"]["post"]["responses"])
    assert {"200", "201", "400", "401", "422"} <= set(paths["/api/appointments/{appointment_id}"]["put"]["responses"])


def test_the_request_bodies_list_relays_words(api_client):
    schemas = api_client.get("/openapi.json").json()["components"]["schemas"]
    for model in ("AppointmentIn", "AppointmentChanges"):
        status = schemas[model]["properties"]["status"]
        assert _enum_of(status, schemas) == [member.value for member in AppointmentStatus]
        assert schemas[model]["additionalProperties"] is False
    assert set(schemas["AppointmentIn"]["required"]) == {"id", "referral_id", "start"}
