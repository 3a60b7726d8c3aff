"""POST /api/patients and PUT /api/patients/{mrn}, through the real app and database."""

import uuid

import pytest
from sqlalchemy import select

from relay.core.db import session_scope
from relay.models import Patient

# Every test here commits through the API: start from, and leave, a clean demo clinic.
pytestmark = pytest.mark.usefixtures("fresh_demo")

# In the fiction range (555-01xx) and on no demo patient.
FREE_PHONE = "(312) 555-0191"


def new_mrn() -> str:
    return f"T-{uuid.uuid4().hex[:12]}"


def new_patient(mrn: str, **fields) -> dict:
    return {"mrn": mrn, "name": "Rosa Testa", "dob": "1962-04-17"} | fields


def stored(mrn: str) -> Patient | None:
    with session_scope() as session:
        return session.scalars(select(Patient).filter_by(mrn=mrn)).one_or_none()


def test_both_need_the_token(api_client):
    mrn = new_mrn()
    assert api_client.post("/api/patients", json=new_patient(mrn)).status_code == 401
    assert api_client.put(f"/api/patients/{mrn}", json={"name": "X"}).status_code == 401
    assert stored(mrn) is None


def test_post_creates_a_patient_and_answers_without_the_dob_or_the_whole_number(api_client, auth_headers):
    mrn = new_mrn()
    body = new_patient(mrn, phone=FREE_PHONE, language="es-MX", insurance_payer="Aetna")

    response = api_client.post("/api/patients", json=body, headers=auth_headers)

    assert response.status_code == 201, response.text
    assert response.json() == {
        "mrn": mrn,
        "name": "Rosa Testa",
        "language": "es",
        "timezone": None,
        "phone_ending": "0191",
        "textable": True,
        "sms_consent": True,
        "mobile_problem": None,
    }
    assert "1962-04-17" not in response.text and "5550191" not in response.text
    patient = stored(mrn)
    assert patient is not None
    assert (patient.phone, str(patient.dob), patient.insurance_payer) == ("+13125550191", "1962-04-17", "Aetna")


def test_post_for_an_existing_mrn_is_409_and_changes_nothing(api_client, auth_headers):
    response = api_client.post(
        "/api/patients", json=new_patient("RFH-100045", name="Someone Else"), headers=auth_headers
    )
    assert response.status_code == 409
    assert "RFH-100045" in response.json()["detail"]
    patient = stored("RFH-100045")
    assert patient is not None and patient.name == "James Carter"


def test_put_creates_then_updates_then_leaves_unchanged(api_client, auth_headers):
    mrn = new_mrn()
    created = api_client.put(
        f"/api/patients/{mrn}", json={"name": "Rosa Testa", "dob": "1962-04-17"}, headers=auth_headers
    )
    assert created.status_code == 201, created.text

    updated = api_client.put(f"/api/patients/{mrn}", json={"name": "Rosa Delgado"}, headers=auth_headers)
    assert updated.status_code == 200, updated.text
    assert updated.json()["name"] == "Rosa Delgado"

    again = api_client.put(f"/api/patients/{mrn}", json={"name": "Rosa Delgado"}, headers=auth_headers)
    assert again.status_code == 200
    assert again.json() == updated.json()
    patient = stored(mrn)
    assert patient is not None and (patient.name, str(patient.dob)) == ("Rosa Delgado", "1962-04-17")


def test_put_keeps_the_fields_left_out_and_null_clears(api_client, auth_headers):
    body = {"timezone": "America/Denver", "insurance_payer": "Cigna", "language": "es"}
    assert api_client.put("/api/patients/RFH-100046", json=body, headers=auth_headers).status_code == 200

    response = api_client.put(
        "/api/patients/RFH-100046", json={"timezone": None, "insurance_member_id": None}, headers=auth_headers
    )

    assert response.status_code == 200, response.text
    assert (response.json()["timezone"], response.json()["language"]) == (None, "es")
    patient = stored("RFH-100046")
    assert patient is not None
    assert (patient.name, patient.insurance_payer, patient.phone) == ("Aisha Khan", "Cigna", "+13125550146")
    assert patient.insurance_member_id is None

    no_phone = api_client.put("/api/patients/RFH-100046", json={"phone": None}, headers=auth_headers)

    assert no_phone.status_code == 200, no_phone.text
    assert (no_phone.json()["phone_ending"], no_phone.json()["textable"]) == (None, False)
    assert no_phone.json()["mobile_problem"]


def test_a_new_patient_without_a_date_of_birth_is_400_with_the_reason(api_client, auth_headers):
    mrn = new_mrn()
    response = api_client.put(f"/api/patients/{mrn}", json={"name": "Rosa Testa"}, headers=auth_headers)
    assert response.status_code == 400
    assert "date of birth" in response.json()["detail"]
    assert stored(mrn) is None


def test_a_patient_without_a_usable_mobile_is_kept_but_not_textable(api_client, auth_headers):
    for phone in (None, "not a number"):
        mrn = new_mrn()
        response = api_client.post("/api/patients", json=new_patient(mrn, phone=phone), headers=auth_headers)
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["textable"], body["phone_ending"]) == (False, None)
        assert body["mobile_problem"], phone


def test_another_patients_number_is_flagged_not_an_error(api_client, auth_headers):
    mrn = new_mrn()
    response = api_client.post("/api/patients", json=new_patient(mrn, phone="(312) 555-0145"), headers=auth_headers)
    assert response.status_code == 201, response.text
    assert response.json()["textable"] is False and response.json()["mobile_problem"]
    carter = stored("RFH-100045")
    assert carter is not None and carter.phone == "+13125550145"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"mrn": "T-1", "name": "Rosa Testa"},  # no dob
        {"mrn": "T-1", "name": "Rosa Testa", "dob": "04/17/1962"},
        {"mrn": "T-1", "name": "Rosa Testa", "dob": "1962-02-30"},
        {"mrn": "T-1", "name": "Rosa Testa", "dob": 1962},
        {"mrn": "T-1", "name": "", "dob": "1962-04-17"},
        {"mrn": "T-1", "name": "Rosa Testa", "dob": "1962-04-17", "ssn": "123"},
        {"mrn": "T-1", "name": "Rosa Testa", "dob": "1962-04-17", "timezone": "Mars/Olympus"},
        {"mrn": "T-1", "name": "Rosa Testa", "dob": "1962-04-17", "language": "Spanish please"},
        {"mrn": "x" * 65, "name": "Rosa Testa", "dob": "1962-04-17"},
    ],
)
def test_a_malformed_body_is_422(api_client, auth_headers, body):
    assert api_client.post("/api/patients", json=body, headers=auth_headers).status_code == 422, body


@pytest.mark.parametrize("body", [{"name": None}, {"mrn": "RFH-1"}, {"dob": "yesterday"}, {"sms_consent": "maybe"}])
def test_a_malformed_put_is_422_and_changes_nothing(api_client, auth_headers, body):
    assert api_client.put("/api/patients/RFH-100045", json=body, headers=auth_headers).status_code == 422, body
    patient = stored("RFH-100045")
    assert patient is not None and patient.name == "James Carter"


def test_the_openapi_document_describes_both(api_client):
    paths = api_client.get("/openapi.json").json()["paths"]
    assert {"201", "400", "401", "409", "422"} <= set(paths["/api/patients"]["post"]["responses"])
    assert {"200", "201", "400", "401", "422"} <= set(paths["/api/patients/{mrn}"]["put"]["responses"])
