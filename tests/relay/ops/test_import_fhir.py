"""`relay import fhir`: a Bundle file, or the NDJSON files of a Bulk Data export, through the import core."""

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from relay.core.db import session_scope
from relay.models import Patient, Referral
from relay.ops.cli import main
from tests.fhir_clinic import TZ, clinic_bundle


def _bundle() -> dict:
    return clinic_bundle(datetime.now(ZoneInfo(TZ)).date())


def test_a_bundle_file_imports_and_a_second_run_changes_nothing(fresh_demo, tmp_path, capsys):
    path = tmp_path / "northside.json"
    path.write_text(json.dumps(_bundle()))

    assert main(["import", "fhir", str(path)]) == 0
    assert "patients        5 created, 0 updated, 0 unchanged, 0 rejected" in capsys.readouterr().out
    with session_scope() as session:
        assert session.scalars(select(Referral).filter_by(external_id="NS-R-3")).one().status == (
            "authorization_pending"
        )

    assert main(["import", "fhir", str(path)]) == 0
    out = capsys.readouterr().out
    assert "referrals       0 created, 0 updated, 5 unchanged, 0 rejected" in out
    counted = [line.split() for line in out.splitlines() if "created" in line]
    assert len(counted) == 7 and all((words[1], words[3]) == ("0", "0") for words in counted)  # none created or updated


def test_bulk_export_files_are_one_batch_in_any_order(fresh_demo, tmp_path, capsys):
    by_type: dict[str, list[str]] = {}
    for entry in _bundle()["entry"]:
        resource = entry["resource"]
        text = json.dumps(resource).replace("urn:uuid:", "Location/")  # NDJSON has no fullUrls
        by_type.setdefault(resource["resourceType"], []).append(text)
    files = []
    for resource_type in sorted(by_type, reverse=True):  # Appointment last is not needed: any order
        path = tmp_path / f"{resource_type}.ndjson"
        path.write_text("\n".join(by_type[resource_type]) + "\n")
        files.append(str(path))

    assert main(["import", "fhir", *files]) == 0
    assert "appointments    2 created" in capsys.readouterr().out
    with session_scope() as session:
        assert session.scalars(select(Patient).filter_by(mrn="NS-1002")).one().language == "es"


def test_a_file_that_is_not_a_bundle_is_refused_whole(fresh_demo, tmp_path, capsys):
    path = tmp_path / "broken.json"
    path.write_text('{"resourceType": "Bundle", "type": "collection", "entry": [')
    assert main(["import", "fhir", str(path)]) == 2
    assert "not JSON" in capsys.readouterr().err
    with session_scope() as session:
        assert session.scalars(select(Patient).filter_by(mrn="NS-1001")).first() is None


def test_a_bundle_with_a_bad_record_imports_the_rest_and_says_so(fresh_demo, tmp_path, capsys):
    bundle = _bundle()
    bundle["entry"].append({"resource": {"resourceType": "Appointment", "id": "lost", "status": "booked",
                                         "start": "2031-01-01T10:00:00Z", "end": "2031-01-01T10:30:00Z",
                                         "participant": [{"actor": {"reference": "Patient/pat-1"},
                                                          "status": "accepted"}]}})  # fmt: skip
    path = tmp_path / "northside.json"
    path.write_text(json.dumps(bundle))
    assert main(["import", "fhir", str(path)]) == 1
    out = capsys.readouterr().out
    assert "rejected appointments Appointment/lost: it is not based on a referral" in out
    assert "referrals       5 created" in out
