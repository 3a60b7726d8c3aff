"""The FHIR import benchmark runs end to end with a small Bundle (no figure is asserted: timing is for `make bench`).

Marked `bench`, like every harness smoke test, so the quick SQLite pass
(`-m "not rasa and not bench"`) leaves it out; it needs neither Rasa nor
Redis, only the temporary SQLite database it makes itself.
"""

import json
from datetime import date
from types import SimpleNamespace

import pytest

from bench.import_fhir import (
    ImportCheckFailed,
    bench_bundle,
    check_report,
    expected_counts,
    import_benchmarks,
    import_markdown,
)

pytestmark = pytest.mark.bench

PATIENTS, SPECIALISTS = 50, 3
EXPECTED = {"locations": 3, "providers": 1, "specialists": 3, "patients": 50, "coverages": 50, "referrals": 50,
            "appointments": 50}  # fmt: skip


class _NoProgress:
    """Stands for tqdm: the bars would only clutter the test output."""

    def __init__(self, **_options) -> None:
        pass

    def __enter__(self) -> "_NoProgress":
        return self

    def __exit__(self, *_exc) -> None:
        pass

    def update(self, _count: int) -> None:
        pass


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patched:
        # A temporary SQLite file of the bench's own, whatever database the run uses.
        patched.setenv("DATABASE_URL", f"sqlite:///{tmp_path_factory.mktemp('import-bench') / 'unused.db'}")
        return import_benchmarks(patients=PATIENTS, specialists=SPECIALISTS, profile=True,
                                 progress_factory=_NoProgress)  # fmt: skip


def test_the_bundle_holds_the_directory_and_four_resources_per_patient():
    bundle = bench_bundle(PATIENTS, today=date(2026, 3, 6), specialists=SPECIALISTS)  # a Friday
    types = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "collection")
    counts = {"Location": 3, "PractitionerRole": 3, "Practitioner": 4, "Organization": 1, "Patient": 50,
              "Coverage": 50, "ServiceRequest": 50, "Appointment": 50}  # fmt: skip
    assert {resource_type: types.count(resource_type) for resource_type in counts} == counts
    assert len(types) == sum(counts.values())
    appointments = [
        entry["resource"] for entry in bundle["entry"] if entry["resource"]["resourceType"] == "Appointment"
    ]
    slots = {(a["participant"][1]["actor"]["reference"], a["start"]) for a in appointments}
    assert len(slots) == PATIENTS  # no specialist is booked twice at once
    assert min(a["start"] for a in appointments) >= "2026-03-09T08:00"  # the next weekday, from opening time
    assert expected_counts(PATIENTS, specialists=SPECIALISTS, coverage=True) == EXPECTED
    with pytest.raises(ValueError):
        bench_bundle(1, today=date(2026, 3, 6), specialists=5)


def test_the_imports_are_measured_against_the_parse_and_their_counts_checked(results):
    assert results["database"] == "sqlite"
    assert results["bundle"]["entries"] == 3 * 3 + 2 + 4 * PATIENTS
    for phase in ("first_import", "reimport"):
        parse, figure = results[f"parse_before_{phase}"], results[phase]
        assert parse["seconds"] > 0 and figure["seconds"] > 0 and figure["referrals_per_s"] > 0
        assert figure["ratio_to_parse"] > 0
        assert set(figure["steps_s"]) == {"read_bundle", "import_batch", "commit"}
    assert results["checks"]["first_import"] == {
        kind: {"created": n, "updated": 0, "unchanged": 0, "rejected": 0} for kind, n in EXPECTED.items()
    }
    assert results["checks"]["reimport"] == {
        kind: {"created": 0, "updated": 0, "unchanged": n, "rejected": 0} for kind, n in EXPECTED.items()
    }
    rows = results["rows_after"]
    assert (rows["patients"], rows["referrals"], rows["appointments"]) == (PATIENTS,) * 3
    assert rows["planned_outreach"] > 0
    assert isinstance(results["meets_target"], bool) and results["target_referrals_per_s"] == 1000


def test_the_profile_names_the_import_core(results):
    profile = results["profile"]
    assert profile["referrals"] == PATIENTS and len(profile["top_cumulative"]) == 25
    functions = [row["function"] for row in profile["top_relay_cumulative"]]
    assert any(function.endswith("(import_batch)") for function in functions)
    assert all(function.startswith("relay/") for function in functions)
    layers = profile["own_time_by_layer"]
    assert (
        layers["database (SQLAlchemy + driver)"]["s"] > 0 and layers["FHIR models (fhir.resources + pydantic)"]["s"] > 0
    )
    assert sum(layer["share"] for layer in layers.values()) == pytest.approx(1, abs=0.01)


def test_the_results_are_json_and_markdown(results):
    assert json.loads(json.dumps(results)) == results
    lines = import_markdown(results)
    assert lines[0] == "## FHIR import"
    text = "\n".join(lines)
    assert "### First import (target: at least 1,000 referrals/s:" in text and "### Where the first import" in text
    assert text.count("parse only (baseline)") == 2


def test_a_report_with_wrong_counts_fails_loudly():
    def report(counts: dict, replanned: int = 2, rejections: tuple = ()) -> SimpleNamespace:
        return SimpleNamespace(as_dict=lambda: {"counts": counts}, rejections=list(rejections),
                               referrals_replanned=replanned)  # fmt: skip

    right = {"referrals": {"created": 2, "updated": 0, "unchanged": 0, "rejected": 0}}
    assert check_report(report(right), {"referrals": 2}, outcome="created", replanned=2) == right
    short = {"referrals": {"created": 1, "updated": 0, "unchanged": 0, "rejected": 1}}
    rejected = SimpleNamespace(kind="referrals", record="BENCH-R-1", reason="unknown patient")
    with pytest.raises(ImportCheckFailed, match="1 rejected"):
        check_report(report(short, rejections=[rejected]), {"referrals": 2}, outcome="created", replanned=2)
    with pytest.raises(ImportCheckFailed, match="re-planned"):
        check_report(report(right, replanned=0), {"referrals": 2}, outcome="created", replanned=2)
