"""POST /api/referrals and PUT /api/referrals/{id}, through the real app and database."""

import uuid

import pytest
from sqlalchemy import select

from relay.core.db import session_scope
from relay.models import AuthorizationStatus, Referral, ReferralPriority, ReferralStatus, ReferralType
from tests.api.test_openapi_vocabulary import _enum_of
from tests.support import demo_today

# Every test here commits through the API: start from, and leave, a clean demo clinic.
pytestmark = pytest.mark.usefixtures("fresh_demo")

PENDING = ("planned", "queued")


def new_id() -> str:
    return f"RF-T{uuid.uuid4().hex[:10]}"


def outreach(api_client, headers, referral_id: str) -> list[dict]:
    response = api_client.get("/api/outreach", params={"referral_id": referral_id}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def stored(external_id: str) -> Referral | None:
    with session_scope() as session:
        return session.scalars(select(Referral).filter_by(external_id=external_id)).one_or_none()


def test_both_need_the_token(api_client):
    referral_id = new_id()
    body = {"id": referral_id, "patient_mrn": "RFH-100046", "specialist_key": "park"}
    assert api_client.post("/api/referrals", json=body).status_code == 401
    assert api_client.put(f"/api/referrals/{referral_id}", json={"priority": "urgent"}).status_code == 401
    assert stored(referral_id) is None


def test_post_creates_a_referral_and_plans_its_outreach(api_client, auth_headers):
    referral_id = new_id()
    body = {
        "id": referral_id,
        "patient_mrn": "RFH-100046",
        "specialist_key": "park",
        "referred_by": "moore",
        "type": "provider",
        "status": "ready_to_schedule",
        "priority": "urgent",
        "reason": "Changing mole on the back.",
        "received_on": "2026-11-16",
        "authorization": {"required": True, "status": "approved", "reference": "PA-1", "submitted_on": "2026-11-17"},
    }

    response = api_client.post("/api/referrals", json=body, headers=auth_headers)

    assert response.status_code == 201, response.text
    out = response.json()
    assert out == api_client.get(f"/api/referrals/{referral_id}", headers=auth_headers).json()  # as GET gives it
    assert (out["id"], out["patient_mrn"], out["type"], out["status"], out["priority"], out["received_on"]) == (
        referral_id, "RFH-100046", "provider", "ready_to_schedule", "urgent", "2026-11-16",
    )  # fmt: skip
    assert out["specialist"]["key"] == "park" and out["appointment"] is None
    assert out["authorization"] == {
        "required": True, "status": "approved", "submitted_on": "2026-11-17", "payer_reference": "PA-1",
    }  # fmt: skip
    assert "mole" not in response.text  # the clinical reason is stored, never given back
    referral = stored(referral_id)
    assert referral is not None and referral.reason == "Changing mole on the back."
    plan = outreach(api_client, auth_headers, referral_id)
    assert any(row["kind"] == "scheduling_invite" and row["state"] in PENDING for row in plan)


def test_post_fills_in_what_a_minimal_referral_leaves_out(api_client, auth_headers):
    referral_id = new_id()
    body = {"id": referral_id, "patient_mrn": "RFH-100046", "specialist_key": "park"}

    response = api_client.post("/api/referrals", json=body, headers=auth_headers)

    assert response.status_code == 201, response.text
    out = response.json()
    assert (out["type"], out["status"], out["priority"]) == ("self", "received", "routine")
    assert out["received_on"] == demo_today().isoformat()


def test_post_for_an_existing_id_is_409_and_changes_nothing(api_client, auth_headers):
    body = {"id": "RF-2002", "patient_mrn": "RFH-100046", "specialist_key": "okafor"}
    response = api_client.post("/api/referrals", json=body, headers=auth_headers)
    assert response.status_code == 409
    assert "RF-2002" in response.json()["detail"]
    assert api_client.get("/api/referrals/RF-2002", headers=auth_headers).json()["specialist"]["key"] == "park"


def test_put_creates_a_referral(api_client, auth_headers):
    referral_id = new_id()
    body = {"patient_mrn": "RFH-100047", "specialist_key": "silva", "status": "received"}
    response = api_client.put(f"/api/referrals/{referral_id}", json=body, headers=auth_headers)
    assert response.status_code == 201, response.text
    assert response.json()["id"] == referral_id


def test_put_updates_a_field_and_again_changes_nothing(api_client, auth_headers):
    response = api_client.put("/api/referrals/RF-2002", json={"priority": "urgent"}, headers=auth_headers)
    assert response.status_code == 200, response.text
    assert response.json()["priority"] == "urgent"
    assert response.json()["status"] == "ready_to_schedule"  # left out: kept
    written = stored("RF-2002")
    assert written is not None

    again = api_client.put("/api/referrals/RF-2002", json={"priority": "urgent"}, headers=auth_headers)

    assert again.status_code == 200
    assert again.json() == response.json()
    unchanged = stored("RF-2002")
    assert unchanged is not None and unchanged.updated_at == written.updated_at  # no write at all


def test_put_of_a_new_status_replans_the_outreach(api_client, auth_headers):
    referral_id = new_id()
    body = {"id": referral_id, "patient_mrn": "RFH-100046", "specialist_key": "park", "status": "ready_to_schedule"}
    assert api_client.post("/api/referrals", json=body, headers=auth_headers).status_code == 201
    invites = [row for row in outreach(api_client, auth_headers, referral_id) if row["kind"] == "scheduling_invite"]
    assert [row["state"] for row in invites] == ["planned"]

    response = api_client.put(f"/api/referrals/{referral_id}", json={"status": "cancelled"}, headers=auth_headers)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    after = outreach(api_client, auth_headers, referral_id)
    assert not any(row["kind"].startswith("scheduling") and row["state"] in PENDING for row in after)
    assert {row["state"] for row in after if row["id"] == invites[0]["id"]} == {"cancelled"}


def test_put_null_clears_the_optional_fields(api_client, auth_headers):
    referral_id = new_id()
    body = {
        "id": referral_id,
        "patient_mrn": "RFH-100046",
        "specialist_key": "park",
        "referred_by": "moore",
        "authorization": {"required": True, "status": "pending", "reference": "PA-9", "submitted_on": "2026-11-17"},
    }
    assert api_client.post("/api/referrals", json=body, headers=auth_headers).status_code == 201
    change = {"referred_by": None, "authorization": {"status": None, "reference": None, "submitted_on": None}}

    response = api_client.put(f"/api/referrals/{referral_id}", json=change, headers=auth_headers)

    assert response.status_code == 200, response.text
    assert response.json()["authorization"] == {
        "required": True, "status": None, "submitted_on": None, "payer_reference": None,
    }  # fmt: skip
    referral = stored(referral_id)
    assert referral is not None and referral.referring_provider_id is None


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"specialist_key": "dr-nobody"}, "dr-nobody"),
        ({"patient_mrn": "NO-SUCH-MRN"}, "NO-SUCH-MRN"),
        ({"referred_by": "dr-who"}, "dr-who"),
    ],
    ids=["specialist", "patient", "referring-provider"],
)
def test_an_unknown_reference_is_400_naming_it_and_nothing_is_written(api_client, auth_headers, change, named):
    referral_id = new_id()
    body = {"id": referral_id, "patient_mrn": "RFH-100046", "specialist_key": "park"} | change

    created = api_client.post("/api/referrals", json=body, headers=auth_headers)
    updated = api_client.put("/api/referrals/RF-2002", json=change, headers=auth_headers)

    for response in (created, updated):
        assert response.status_code == 400, response.text
        assert named in response.json()["detail"]
    assert stored(referral_id) is None  # rejected, not invented
    assert api_client.get(f"/api/referrals/{referral_id}", headers=auth_headers).status_code == 404
    kept = api_client.get("/api/referrals/RF-2002", headers=auth_headers).json()
    assert (kept["patient_mrn"], kept["specialist"]["key"]) == ("RFH-100046", "park")


def test_a_new_referral_by_put_needs_its_specialist(api_client, auth_headers):
    referral_id = new_id()
    response = api_client.put(f"/api/referrals/{referral_id}", json={"patient_mrn": "RFH-100046"}, headers=auth_headers)
    assert response.status_code == 400
    assert "specialist" in response.json()["detail"]
    assert stored(referral_id) is None


@pytest.mark.parametrize(
    "change",
    [
        {"colour": "red"},
        {"status": "lost"},
        {"type": "walk_in"},
        {"priority": "whenever"},
        {"received_on": "11/5/2026"},
        {"received_on": 1763251200},
        {"reason": "x" * 2001},
        {"authorization": {"status": "maybe"}},
        {"authorization": {"submitted_on": "yesterday"}},
        {"authorization": {"approved": True}},
    ],
)
def test_a_malformed_body_is_422(api_client, auth_headers, change):
    body = {"id": new_id(), "patient_mrn": "RFH-100046", "specialist_key": "park"} | change
    assert api_client.post("/api/referrals", json=body, headers=auth_headers).status_code == 422, change
    assert api_client.put("/api/referrals/RF-2002", json=change, headers=auth_headers).status_code == 422, change


@pytest.mark.parametrize(
    "body",
    [{}, {"id": "RF-T1", "patient_mrn": "RFH-100046"}, {"id": "RF-T1", "specialist_key": "park"}],
)
def test_a_post_without_the_needed_fields_is_422(api_client, auth_headers, body):
    assert api_client.post("/api/referrals", json=body, headers=auth_headers).status_code == 422


@pytest.mark.parametrize("change", [{"patient_mrn": None}, {"specialist_key": None}, {"status": None}, {"id": "RF-2"}])
def test_a_put_cannot_null_what_a_referral_must_have_nor_carry_the_id(api_client, auth_headers, change):
    assert api_client.put("/api/referrals/RF-2002", json=change, headers=auth_headers).status_code == 422


def test_the_openapi_document_describes_both(api_client):
    paths = api_client.get("/openapi.json").json()["paths"]
    assert {"201", "400", "401", "409", "422"} <= set(paths["/api/referrals"]["post"]["responses"])
    put = paths["/api/referrals/{referral_id}"]["put"]
    assert {"200", "201", "400", "401", "422"} <= set(put["responses"])
    assert "get" in paths["/api/referrals/{referral_id}"]  # the reading side is still there


def test_the_request_bodies_list_relays_words(api_client):
    schemas = api_client.get("/openapi.json").json()["components"]["schemas"]
    for model in ("ReferralIn", "ReferralChanges"):
        for field, enum in (("status", ReferralStatus), ("type", ReferralType), ("priority", ReferralPriority)):
            assert _enum_of(schemas[model]["properties"][field], schemas) == [member.value for member in enum]
    authorization = schemas["ReferralAuthorization"]["properties"]["status"]
    assert _enum_of(authorization, schemas) == [member.value for member in AuthorizationStatus]
    assert schemas["ReferralChanges"]["additionalProperties"] is False
    assert set(schemas["ReferralIn"]["required"]) == {"id", "patient_mrn", "specialist_key"}
