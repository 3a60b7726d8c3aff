"""POST /api/import/fhir and /api/import/csv, through the real app and database."""

import json
import uuid
from typing import get_args

import pytest
from sqlalchemy import select

from api.imports import CsvKind
from relay.core.db import session_scope
from relay.intake.csv_files import CSV_KINDS
from relay.models import Patient, Referral

# Every test here commits through the API: start from, and leave, a clean demo clinic.
pytestmark = pytest.mark.usefixtures("fresh_demo")

MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}


def mrn() -> str:
    return f"T-{uuid.uuid4().hex[:12]}"


def fhir_patient(mrn: str, *, family: str = "Testa", birth_date: str | None = "1980-04-02") -> dict:
    resource: dict = {
        "resourceType": "Patient",
        "id": f"pat-{mrn}",
        "identifier": [{"type": MR, "value": mrn}],
        "name": [{"family": family, "given": ["Ana"]}],
    }
    if birth_date:
        resource["birthDate"] = birth_date
    return resource


def bundle(*resources: dict) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": resource} for resource in resources],
    }


def post_fhir(api_client, headers, body: bytes | str, content_type: str):
    return api_client.post("/api/import/fhir", content=body, headers=headers | {"Content-Type": content_type})


def stored_patients(*mrns: str) -> dict[str, str]:
    with session_scope() as session:
        return dict(session.execute(select(Patient.mrn, Patient.name).where(Patient.mrn.in_(mrns))).all())


def test_both_imports_need_the_token(api_client):
    body = json.dumps(bundle(fhir_patient(mrn())))
    assert (
        api_client.post("/api/import/fhir", content=body, headers={"Content-Type": "application/fhir+json"}).status_code
        == 401
    )
    files = {"file": ("patients.csv", b"mrn,name,dob\n", "text/csv")}
    assert api_client.post("/api/import/csv", params={"kind": "patients"}, files=files).status_code == 401


@pytest.mark.parametrize("content_type", ["application/fhir+json", "application/json; charset=utf-8"])
def test_a_bundle_is_imported_and_the_report_says_what_happened(api_client, auth_headers, content_type):
    first, second = mrn(), mrn()
    body = json.dumps(bundle(fhir_patient(first), fhir_patient(second, family="Testb")))

    response = post_fhir(api_client, auth_headers, body, content_type)

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["counts"]["patients"] == {"created": 2, "updated": 0, "unchanged": 0, "rejected": 0}
    assert report["rejected"] == []
    assert set(stored_patients(first, second)) == {first, second}


def test_the_same_bundle_again_changes_nothing(api_client, auth_headers):
    body = json.dumps(bundle(fhir_patient(mrn())))
    assert post_fhir(api_client, auth_headers, body, "application/fhir+json").status_code == 200
    again = post_fhir(api_client, auth_headers, body, "application/fhir+json")
    assert again.status_code == 200
    assert again.json()["counts"]["patients"] == {"created": 0, "updated": 0, "unchanged": 1, "rejected": 0}


def test_a_bundle_with_one_bad_entry_still_imports_the_good_ones(api_client, auth_headers):
    good, bad = mrn(), mrn()
    body = json.dumps(bundle(fhir_patient(good), fhir_patient(bad, birth_date=None)))

    response = post_fhir(api_client, auth_headers, body, "application/fhir+json")

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["counts"]["patients"] == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 1}
    [rejection] = report["rejected"]
    assert rejection["kind"] == "patients" and "date of birth" in rejection["reason"]
    assert set(stored_patients(good, bad)) == {good}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),
        (json.dumps({"resourceType": "Patient", "id": "x"}).encode(), "Bundle"),
        (json.dumps([1, 2]).encode(), "Bundle"),
    ],
    ids=["broken", "empty", "nested", "a-patient", "a-list"],
)
def test_what_is_not_a_bundle_is_400_with_a_reason_and_imports_nothing(api_client, auth_headers, body, words):
    with session_scope() as session:
        before = session.query(Patient).count()

    response = post_fhir(api_client, auth_headers, body, "application/fhir+json")

    assert response.status_code == 400, response.text
    assert words in response.json()["detail"]
    with session_scope() as session:
        assert session.query(Patient).count() == before


def test_bulk_data_ndjson_is_imported(api_client, auth_headers):
    first, second = mrn(), mrn()
    # Raw UTF-8, as exports write it; U+2028 is legal inside a JSON string and ends no NDJSON line.
    resources = (fhir_patient(first, family="Mu\u2028ller"), fhir_patient(second, family="Nu\u00f1ez"))
    body = "\n".join(json.dumps(resource, ensure_ascii=False) for resource in resources) + "\n"

    response = post_fhir(api_client, auth_headers, body.encode(), "application/fhir+ndjson")

    assert response.status_code == 200, response.text
    assert response.json()["counts"]["patients"]["created"] == 2
    assert set(stored_patients(first, second)) == {first, second}


def test_another_content_type_is_415_naming_the_accepted_ones(api_client, auth_headers):
    response = post_fhir(api_client, auth_headers, json.dumps(bundle()), "text/plain")
    assert response.status_code == 415
    assert "application/fhir+json" in response.json()["detail"]


PATIENTS_CSV = """mrn,name,dob,phone,language
{first},Rosa Testa,1962-04-17,,es
{second},Tom Testb,11/23/1949,,en
"""


def upload(api_client, headers, kind: str, text: str | bytes):
    data = text.encode() if isinstance(text, str) else text
    return api_client.post(
        "/api/import/csv", params={"kind": kind}, files={"file": (f"{kind}.csv", data, "text/csv")}, headers=headers
    )


def test_a_csv_upload_is_imported(api_client, auth_headers):
    first, second = mrn(), mrn()
    # A byte-order mark, as spreadsheets write it, is no part of the first column's name.
    response = upload(api_client, auth_headers, "patients", "\ufeff" + PATIENTS_CSV.format(first=first, second=second))

    assert response.status_code == 200, response.text
    assert response.json()["counts"]["patients"] == {"created": 2, "updated": 0, "unchanged": 0, "rejected": 0}
    assert stored_patients(first, second) == {first: "Rosa Testa", second: "Tom Testb"}


def test_a_csv_referral_for_an_unknown_specialist_is_rejected_by_row_and_the_rest_imported(api_client, auth_headers):
    good, bad = f"RF-{uuid.uuid4().hex[:8]}", f"RF-{uuid.uuid4().hex[:8]}"
    text = (
        "id,patient_mrn,specialist_key,type,status,reason,received_on\n"
        f"{good},RFH-100046,park,self,received,Rash.,2026-11-16\n"
        f"{bad},RFH-100046,dr-nobody,self,received,Rash.,2026-11-16\n"
    )
    response = upload(api_client, auth_headers, "referrals", text)

    assert response.status_code == 200, response.text
    [rejection] = response.json()["rejected"]
    assert bad in rejection["record"] and "dr-nobody" in rejection["reason"]
    with session_scope() as session:
        stored = session.scalars(select(Referral.external_id).where(Referral.external_id.in_([good, bad]))).all()
    assert stored == [good]


def test_a_csv_without_a_required_column_is_400_naming_it(api_client, auth_headers):
    response = upload(api_client, auth_headers, "patients", f"mrn,name\n{mrn()},Rosa Testa\n")
    assert response.status_code == 400
    assert "dob" in response.json()["detail"]


def test_a_csv_that_is_not_utf8_is_400(api_client, auth_headers):
    response = upload(api_client, auth_headers, "patients", "mrn,name,dob\nT-1,Jos\xe9,1962-04-17\n".encode("latin-1"))
    assert response.status_code == 400
    assert "UTF-8" in response.json()["detail"]


def test_an_unknown_kind_or_no_file_is_422_listing_the_kinds(api_client, auth_headers):
    response = upload(api_client, auth_headers, "invoices", "a,b\n")
    assert response.status_code == 422
    message = json.dumps(response.json()["detail"])
    assert all(kind in message for kind in CSV_KINDS)
    no_file = api_client.post("/api/import/csv", params={"kind": "patients"}, headers=auth_headers)
    assert no_file.status_code == 422


def test_the_api_offers_the_kinds_the_csv_reader_reads():
    assert set(get_args(CsvKind)) == set(CSV_KINDS)


def test_the_openapi_document_describes_both_imports(api_client):
    paths = api_client.get("/openapi.json").json()["paths"]
    fhir = paths["/api/import/fhir"]["post"]
    assert {"application/fhir+json", "application/json", "application/fhir+ndjson"} <= set(
        fhir["requestBody"]["content"]
    )
    assert {"200", "400", "401", "415"} <= set(fhir["responses"])
    assert fhir["security"] == [{"HTTPBearer": []}]
    csv = paths["/api/import/csv"]["post"]
    assert "multipart/form-data" in csv["requestBody"]["content"]
    [kind] = [parameter for parameter in csv["parameters"] if parameter["name"] == "kind"]
    assert kind["schema"]["enum"] == list(CSV_KINDS)
    assert {"200", "400", "401", "422"} <= set(csv["responses"])


@pytest.fixture
def failing_commits(database, monkeypatch):
    """The app as a client meets it (errors are answers, not raised) with a database that refuses every commit."""
    from fastapi.testclient import TestClient
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    from api.app import create_app

    def refuse(_session):
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(Session, "commit", refuse)
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client
    monkeypatch.undo()


def _import_and_create(client, headers) -> tuple[tuple[int, int], tuple[str, str]]:
    first, second = mrn(), mrn()
    imported = post_fhir(client, headers, json.dumps(bundle(fhir_patient(first))), "application/fhir+json")
    created = client.put(f"/api/patients/{second}", json={"name": "Ana Testa", "dob": "1980-04-02"}, headers=headers)
    return (imported.status_code, created.status_code), (first, second)


def test_a_failed_commit_is_a_500_never_a_success(failing_commits, auth_headers):
    # The writing doors commit before they answer (FastAPI's default would commit after the 201 went out).
    statuses, _ = _import_and_create(failing_commits, auth_headers)
    assert statuses == (500, 500)


def test_a_failed_commit_leaves_nothing_behind(failing_commits, auth_headers, monkeypatch):
    _, (first, second) = _import_and_create(failing_commits, auth_headers)
    monkeypatch.undo()  # commits work again, to read
    assert stored_patients(first, second) == {}
