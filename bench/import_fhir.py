"""FHIR import benchmark: a clinic's Bundle of N patients through the one import core.

A generated Bundle (`bench_bundle`) of BENCH_FHIR_PATIENTS patients (10,000),
each with one ServiceRequest (the referral, active), one booked Appointment
ahead (start and end, in the clinic's zone, on its specialist's weekday
hours) and an active Coverage; around them BENCH_FHIR_SPECIALISTS
Practitioners (3, from 2 to 4), each with a PractitionerRole at a Location of
their own, the referring Practitioner who requests every referral, and one
payer Organization. It is written out as one JSON document (as the API
receives it) and then, from that same text:

- baseline: the pure parse with the FHIR library, `json.loads` and each
  entry's resource validated with
  `fhir.resources.R4B.get_fhir_model_class(type).model_validate(resource)`:
  what reading the Bundle costs before Relay does anything with it;
- first import: `relay.intake.fhir.read_bundle` + `relay.intake.core.import_batch`
  + commit, into a fresh, migrated database holding only a clinic row;
- re-import: the same again on the database the first import left
  (everything unchanged: nothing is written, nothing re-planned).

Each is reported in seconds and referrals/s, and as a ratio of its time to
the parse's time measured in the same run (import/parse, re-import/parse).
The first import is held to TARGET_REFERRALS_PER_S. The import's time is also
split into read_bundle, import_batch and the commit.

Checks (a run that fails them raises ImportCheckFailed, it is not a
measurement): the first report has every record created (N patients,
coverages, referrals and appointments; the directory's locations,
specialists and provider) and nothing updated or rejected, N referrals
re-planned; the second has every record unchanged and nothing re-planned;
the database holds N patients, referrals and appointments and a plan.

When the first import misses the target (or BENCH_FHIR_PROFILE=1), a
further first import into another fresh database runs under cProfile: the
top BENCH_PROFILE_TOP (25) functions by cumulative time, and own time by
layer.

Database: PostgreSQL when DATABASE_URL names it, in a scratch schema
(`bench_import_<pid>`, dropped at the end); otherwise a SQLite file in a
temporary directory. Migrated in-process (relay.ops.migrate.upgrade).
`python -m bench.import_fhir [patients]` prints the Markdown and writes
bench/results/fhir-import.json.
"""

import cProfile
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, func, select, text
from tqdm import tqdm

from bench.profile import ProfileStats
from relay.core.settings import PROJECT_ROOT

# Under bench/results/, which git ignores (`make bench` writes bench/results.{json,md}).
RESULTS_FILE = Path(__file__).resolve().parent / "results" / "fhir-import.json"

TARGET_REFERRALS_PER_S = 1000
DEFAULT_PATIENTS = 10_000
DEFAULT_SPECIALISTS = 3
PROFILE_TOP = 25

CLINIC_TZ = "America/Chicago"
EHR_BASE = "https://ehr.bench.example/fhir"
MR_TYPE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}
NPI = "http://hl7.org/fhir/sid/us-npi"
MRN_SYSTEM = "urn:bench:mrn"
# (display, specialty) of the specialists, in order; BENCH_FHIR_SPECIALISTS takes the first ones.
SPECIALTIES = (
    ("Dermatology", "394582007"),
    ("Gastroenterology", "394584008"),
    ("Cardiology", "394579002"),
    ("Orthopedics", "394801008"),
)
GIVEN = ("Olivia", "Liam", "Marisol", "Dennis", "Priya", "Samuel", "Ana", "Tomas", "Grace", "Ibrahim")
FAMILY = ("Brennan", "Gutierrez", "Kowalski", "Natarajan", "Osei", "Lindqvist", "Herrera", "Ward", "Nguyen", "Cohen")
PAYERS = ("Blue Cross Blue Shield", "Medicare", "UnitedHealthcare", "Cigna")
REASONS = ("Changing mole", "Chronic reflux", "Chest pain on exertion", "Knee pain", "Eczema flare")
DAY_START, SLOT_MINUTES, SLOTS_PER_DAY = clock(8), 30, 18  # 08:00 to 17:00 on weekdays

# Own time by layer, for the profile (first match wins; the rest is "other").
GROUPS = (
    ("FHIR models (fhir.resources + pydantic)", ("fhir/resources", "fhir_core", "pydantic")),
    ("database (SQLAlchemy + driver)", ("sqlalchemy/", "sqlite3", "psycopg")),
    ("outreach planning (relay/outreach)", ("/relay/outreach/",)),
    (
        "FHIR reading and mapping (relay/intake/fhir*.py)",
        ("/relay/intake/fhir.py", "/relay/intake/fhir_mapping.py", "/relay/intake/fhir_datatypes.py"),
    ),
    ("import core (relay/intake)", ("/relay/intake/",)),
    ("phone numbers (phonenumbers)", ("phonenumbers/",)),
    ("JSON", ("json/",)),
    ("other relay code", ("/relay/",)),
)


class ImportCheckFailed(RuntimeError):
    """An import did not do what the Bundle calls for: the run is not a measurement."""


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def _ratio(ours: float, base: float) -> float | None:
    return round(ours / base, 3) if base else None


# --- the Bundle -------------------------------------------------------------------


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": f"{EHR_BASE}/{resource['resourceType']}/{resource['id']}", "resource": resource}


def _weekdays(first: date, count: int) -> list[date]:
    days: list[date] = []
    day = first
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def bench_bundle(patients: int, *, today: date, specialists: int = DEFAULT_SPECIALISTS,
                 coverage: bool = True) -> dict[str, Any]:  # fmt: skip
    """A collection Bundle: the directory, then per patient a Patient, a Coverage, a ServiceRequest and an Appointment.

    Appointments are booked from tomorrow on, each specialist's on their own
    weekday slots (08:00 to 17:00 every 30 minutes), so no two share a slot.
    """
    if not 2 <= specialists <= len(SPECIALTIES):
        raise ValueError(f"between 2 and {len(SPECIALTIES)} specialists, not {specialists}")
    zone = ZoneInfo(CLINIC_TZ)
    resources: list[dict[str, Any]] = []
    for k, (specialty, code) in enumerate(SPECIALTIES[:specialists], start=1):
        resources += [
            {
                "resourceType": "Location",
                "id": f"loc-{k}",
                "identifier": [{"system": "urn:bench:location", "value": f"BENCH-LOC-{k}"}],
                "name": f"Bench {specialty} Center",
                "address": {"line": [f"{100 * k} N Clark St"], "city": "Chicago", "state": "IL", "postalCode": "60610"},
                "telecom": [{"system": "phone", "value": f"(312) 555-01{60 + k}"}],
            },
            {
                "resourceType": "Practitioner",
                "id": f"spec-{k}",
                "identifier": [{"system": NPI, "value": f"19{k:08d}"}],
                "name": [{"use": "official", "prefix": ["Dr."], "given": [GIVEN[k]], "family": FAMILY[-k]}],
            },
            {
                "resourceType": "PractitionerRole",
                "id": f"role-{k}",
                "practitioner": {"reference": f"Practitioner/spec-{k}"},
                "specialty": [{"coding": [{"system": "http://snomed.info/sct", "code": code, "display": specialty}]}],
                "location": [{"reference": f"Location/loc-{k}"}],
                "availableTime": [{"daysOfWeek": ["mon", "tue", "wed", "thu", "fri"],
                                   "availableStartTime": "08:00:00", "availableEndTime": "17:00:00"}],
            },
        ]  # fmt: skip
    resources += [
        {
            "resourceType": "Practitioner",
            "id": "pcp",
            "identifier": [{"system": NPI, "value": "1800000001"}],
            "name": [{"prefix": ["Dr."], "given": ["Helen"], "family": "Ward"}],
        },
        {"resourceType": "Organization", "id": "org-aetna", "name": "Aetna"},
    ]
    per_specialist = -(-patients // specialists)
    days = _weekdays(today + timedelta(days=1), -(-per_specialist // SLOTS_PER_DAY))
    for n in range(patients):
        pid, sid, k = f"pat-{n}", f"sr-{n}", n % specialists + 1
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [{"type": MR_TYPE, "system": MRN_SYSTEM, "value": f"BENCH-{n:07d}"}],
            "name": [{"use": "official", "given": [GIVEN[n % 10]], "family": f"{FAMILY[n // 10 % 10]}-{n}"}],
            "birthDate": (date(1940, 1, 1) + timedelta(days=n * 7 % 25_000)).isoformat(),
            "telecom": [
                {"system": "phone", "use": "home", "value": "(312) 555-0100"},
                {"system": "phone", "use": "mobile", "value": f"(312) {200 + n // 10_000:03d}-{n % 10_000:04d}"},
            ],
        }
        if n % 10 == 3:
            patient["communication"] = [{"language": {"coding": [{"code": "es-MX"}]}, "preferred": True}]
        resources.append(patient)
        if coverage:
            payor = {"reference": "Organization/org-aetna"} if n % 5 == 0 else {"display": PAYERS[n % len(PAYERS)]}
            resources.append({"resourceType": "Coverage", "id": f"cov-{n}", "status": "active",
                              "subscriberId": f"M-{n:08d}", "beneficiary": {"reference": f"Patient/{pid}"},
                              "payor": [payor]})  # fmt: skip
        resources.append({
            "resourceType": "ServiceRequest",
            "id": sid,
            "identifier": [{"system": "urn:bench:referral", "value": f"BENCH-R-{n:07d}"}],
            "status": "active",
            "intent": "order",
            "priority": "urgent" if n % 10 == 7 else "routine",
            "subject": {"reference": f"Patient/{pid}"},
            "requester": {"reference": "Practitioner/pcp"},
            "performer": [{"reference": f"Practitioner/spec-{k}"}],
            "reasonCode": [{"text": REASONS[n % len(REASONS)]}],
            "authoredOn": (today - timedelta(days=n % 20 + 1)).isoformat(),
        })  # fmt: skip
        slot = n // specialists
        start = datetime.combine(days[slot // SLOTS_PER_DAY], DAY_START, tzinfo=zone) + timedelta(
            minutes=SLOT_MINUTES * (slot % SLOTS_PER_DAY)
        )
        resources.append({
            "resourceType": "Appointment",
            "id": f"appt-{n}",
            "identifier": [{"system": "urn:bench:appointment", "value": f"BENCH-A-{n:07d}"}],
            "status": "booked",
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=SLOT_MINUTES)).isoformat(),
            "basedOn": [{"reference": f"ServiceRequest/{sid}"}],
            "participant": [
                {"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"},
                {"actor": {"reference": f"Practitioner/spec-{k}"}, "status": "accepted"},
                {"actor": {"reference": f"Location/loc-{k}"}, "status": "accepted"},
            ],
        })  # fmt: skip
    return {"resourceType": "Bundle", "type": "collection", "entry": [_entry(resource) for resource in resources]}


def expected_counts(patients: int, *, specialists: int, coverage: bool) -> dict[str, int]:
    """How many records of each kind the Bundle carries, as the import's report names them."""
    counts = {"locations": specialists, "providers": 1, "specialists": specialists, "patients": patients}
    if coverage:
        counts["coverages"] = patients
    return counts | {"referrals": patients, "appointments": patients}


# --- the baseline: the pure parse ---------------------------------------------------


def parse_bundle(document: str) -> int:
    """Read the JSON and validate every entry's resource with its fhir.resources R4B model; how many."""
    from fhir.resources.R4B import get_fhir_model_class

    entries = json.loads(document)["entry"]
    for entry in entries:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return len(entries)


# --- the database ---------------------------------------------------------------------


@contextmanager
def bench_database() -> Iterator[tuple[str, str]]:
    """A fresh, migrated database with one clinic row: (its URL, "sqlite" or "postgresql")."""
    from relay.core.db import get_engine
    from relay.ops.migrate import upgrade

    given = os.environ.get("DATABASE_URL", "")
    with tempfile.TemporaryDirectory(prefix="relay-bench-import-") as tmp:
        schema = None
        if given.startswith("postgresql"):
            from bench.outreach import _scratch_schema_url

            schema = f"bench_import_{os.getpid()}"
            admin = create_engine(given)
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
                connection.execute(text(f"CREATE SCHEMA {schema}"))
            url = _scratch_schema_url(given, schema)
        else:
            url = f"sqlite:///{Path(tmp) / 'import.db'}"
        try:
            upgrade(url)
            _add_clinic(url)
            yield url, "postgresql" if schema else "sqlite"
        finally:
            get_engine(url).dispose()
            if schema:
                with admin.begin() as connection:
                    connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
                admin.dispose()


def _add_clinic(url: str) -> None:
    from relay.core.db import session_scope
    from relay.models import Clinic

    with session_scope(url) as session:
        session.add(Clinic(name="Bench Specialty Group", region="US", timezone=CLINIC_TZ, sms_number="+13125550150",
                           voice_number="+13125550150", front_desk_number="+13125550151",
                           address="100 N Clark St, Chicago, IL 60610", hours="Mon-Fri 8:00-17:00"))  # fmt: skip


# --- the import -------------------------------------------------------------------------


def import_document(url: str, document: str) -> tuple[Any, dict[str, float]]:
    """read_bundle + import_batch + commit of the JSON text in a session of its own: the report, seconds by step."""
    from relay.core.db import new_session
    from relay.intake.core import import_batch
    from relay.intake.fhir import read_bundle

    session = new_session(url)
    try:
        started = time.perf_counter()
        batch = read_bundle(document)
        read = time.perf_counter()
        report = import_batch(session, batch, now=datetime.now(UTC), source="fhir")
        imported = time.perf_counter()
        session.commit()
        committed = time.perf_counter()
    finally:
        session.close()
    steps = {"read_bundle": read - started, "import_batch": imported - read, "commit": committed - imported}
    return report, steps | {"total": committed - started}


def check_report(report: Any, expected: dict[str, int], *, outcome: str, replanned: int) -> dict[str, dict[str, int]]:
    """The report's counts, kind by kind, when every record had `outcome`; ImportCheckFailed otherwise."""
    counts = report.as_dict()["counts"]
    wanted = {kind: {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0} | {outcome: n}
              for kind, n in expected.items()}  # fmt: skip
    problems = []
    if counts != wanted:
        problems.append(f"counts {counts}, expected {wanted}")
    if report.rejections:
        first = report.rejections[0]
        problems.append(f"{len(report.rejections)} rejected, first {first.kind} {first.record}: {first.reason}")
    if report.referrals_replanned != replanned:
        problems.append(f"{report.referrals_replanned} referrals re-planned, expected {replanned}")
    if problems:
        raise ImportCheckFailed(f"the {outcome!r} import: " + "; ".join(problems))
    return counts


def check_database(url: str, patients: int) -> dict[str, int]:
    """Rows the import left: N patients, referrals and appointments (all scheduled), and a plan."""
    from relay.core.db import session_scope
    from relay.models import Appointment, Patient, PlannedOutreach, Referral

    models = {"patients": Patient, "referrals": Referral, "appointments": Appointment,
              "planned_outreach": PlannedOutreach}  # fmt: skip
    with session_scope(url) as session:
        rows = {name: session.scalar(select(func.count()).select_from(model)) or 0 for name, model in models.items()}
        scheduled = session.scalar(select(func.count()).select_from(Referral).where(Referral.status == "scheduled"))
    if (rows["patients"], rows["referrals"], rows["appointments"], scheduled) != (patients,) * 4:
        raise ImportCheckFailed(f"the database holds {rows} with {scheduled} referrals scheduled; expected {patients}")
    if not rows["planned_outreach"]:
        raise ImportCheckFailed("the first import planned no outreach")
    return rows


# --- the profile --------------------------------------------------------------------------


def profile_first_import(document: str, *, top: int = PROFILE_TOP) -> dict[str, Any]:
    """A first import of `document` into another fresh database under cProfile: where its time goes."""
    from relay.core.db import new_session
    from relay.intake.core import import_batch
    from relay.intake.fhir import read_bundle

    with bench_database() as (url, _database):
        profiler = cProfile.Profile()
        session = new_session(url)
        try:
            started = time.perf_counter()
            profiler.enable()
            report = import_batch(session, read_bundle(document), now=datetime.now(UTC), source="fhir")
            session.commit()
            profiler.disable()
            wall = time.perf_counter() - started
        finally:
            session.close()
    stats = ProfileStats(profiler)
    total = sum(tottime for (_cc, _nc, tottime, _cum, _callers) in stats.stats.values())
    by_cumulative = sorted(stats.stats.items(), key=lambda item: item[1][3], reverse=True)
    relay_root = f"{PROJECT_ROOT}/relay/"
    layers = own_time_by_layer(stats)

    def table(rows: list) -> list[dict[str, Any]]:
        return [
            {"function": _label(label), "calls": calls, "own_s": round(own, 3), "cumulative_s": round(cumulative, 3),
             "share": round(cumulative / total, 3) if total else None}
            for label, (_cc, calls, own, cumulative, _callers) in rows
        ]  # fmt: skip

    return {
        "profiled_s": round(wall, 3),
        "referrals": report.counts["referrals"]["created"],
        "top_cumulative": table(by_cumulative[:top]),
        # The same, Relay's own functions only: where to look first.
        "top_relay_cumulative": table([row for row in by_cumulative if row[0][0].startswith(relay_root)][:top]),
        "own_time_by_layer": {
            name: {"s": round(seconds, 3), "share": round(seconds / total, 3) if total else None}
            for name, seconds in sorted(layers.items(), key=lambda item: -item[1])
        },
    }


def own_time_by_layer(stats: ProfileStats) -> dict[str, float]:
    """Seconds of own time per GROUPS layer, like bench.profile.own_time_by_group, but a built-in (file "~")
    goes by its name too: pydantic-core's validators and sqlite3's cursor methods are built-ins."""
    totals = {name: 0.0 for name, _ in GROUPS} | {"other": 0.0}
    for (filename, _line, name), (_cc, _nc, tottime, _cumtime, _callers) in stats.stats.items():
        where = f"{filename} {name}"
        layer = next((layer for layer, markers in GROUPS if any(marker in where for marker in markers)), "other")
        totals[layer] += tottime
    return totals


def _label(label: tuple[str, int, str]) -> str:
    filename, line, name = label
    if filename == "~":  # a built-in
        return name
    for marker in ("site-packages/", f"{PROJECT_ROOT}/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({name})"


# --- the whole run ---------------------------------------------------------------------------


def import_benchmarks(
    *,
    patients: int = _env_int("BENCH_FHIR_PATIENTS", DEFAULT_PATIENTS),
    specialists: int = _env_int("BENCH_FHIR_SPECIALISTS", DEFAULT_SPECIALISTS),
    coverage: bool = True,
    profile: bool | None = None,
    progress_factory=tqdm,
) -> dict[str, Any]:
    """Run the parse baseline, the first import and the re-import; a JSON-able dict of figures and checks.

    `profile`: None profiles only when the first import misses the target
    (BENCH_FHIR_PROFILE=1 always); True or False decides.
    """
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {"patients": patients, "specialists": specialists, "coverage": coverage},
        "target_referrals_per_s": TARGET_REFERRALS_PER_S,
    }
    today = datetime.now(ZoneInfo(CLINIC_TZ)).date()
    started = time.perf_counter()
    document = json.dumps(bench_bundle(patients, today=today, specialists=specialists, coverage=coverage))
    expected = expected_counts(patients, specialists=specialists, coverage=coverage)
    results["bundle"] = {"entries": len(json.loads(document)["entry"]), "mb": round(len(document) / 2**20, 1),
                         "generation_s": round(time.perf_counter() - started, 2)}  # fmt: skip
    # Warm: the R4B model classes are imported on first use, and so are the import's modules.
    parse_bundle(json.dumps(bench_bundle(2, today=today, specialists=specialists, coverage=coverage)))

    with bench_database() as (url, database):
        results["database"] = database
        phases: dict[str, tuple[Any, dict[str, float]]] = {}
        parse_s: dict[str, float] = {}
        for phase in ("first_import", "reimport"):
            # The baseline right before each import: drift in the machine's speed lands on both.
            with progress_factory(total=2, desc=f"fhir import: parse, then {phase}", unit="run") as bar:
                started = time.perf_counter()
                parsed = parse_bundle(document)
                parse_s[phase] = time.perf_counter() - started
                bar.update(1)
                if parsed != results["bundle"]["entries"]:
                    raise ImportCheckFailed(f"the parse read {parsed} of {results['bundle']['entries']} entries")
                phases[phase] = import_document(url, document)
                bar.update(1)
        first_counts = check_report(phases["first_import"][0], expected, outcome="created", replanned=patients)
        second_counts = check_report(phases["reimport"][0], expected, outcome="unchanged", replanned=0)
        results["rows_after"] = check_database(url, patients)
    results["checks"] = {"first_import": first_counts, "reimport": second_counts}

    def figure(seconds: float) -> dict[str, float]:
        return {"seconds": round(seconds, 3), "referrals_per_s": round(patients / seconds, 1)}

    for phase, (_report, steps) in phases.items():
        results[f"parse_before_{phase}"] = figure(parse_s[phase])
        results[phase] = figure(steps["total"]) | {
            "ratio_to_parse": _ratio(steps["total"], parse_s[phase]),
            "steps_s": {step: round(seconds, 3) for step, seconds in steps.items() if step != "total"},
        }
    results["meets_target"] = results["first_import"]["referrals_per_s"] >= TARGET_REFERRALS_PER_S
    if profile is None:
        profile = not results["meets_target"] or os.environ.get("BENCH_FHIR_PROFILE") == "1"
    if profile:
        with progress_factory(total=1, desc="fhir import: first import under cProfile", unit="run") as bar:
            results["profile"] = profile_first_import(document, top=_env_int("BENCH_PROFILE_TOP", PROFILE_TOP))
            bar.update(1)
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    return results


def import_markdown(results: dict[str, Any]) -> list[str]:
    """The results as Markdown lines: a heading "## FHIR import" and tables."""
    settings, bundle = results["settings"], results["bundle"]
    target = results["target_referrals_per_s"]
    verdict = "met" if results["meets_target"] else "**missed**"
    patients = settings["patients"]
    lines = [
        "## FHIR import",
        "",
        f"Database: {results['database']}; a Bundle of {patients:,} patients, each with a referral "
        f"(ServiceRequest), a booked Appointment ahead{' and a Coverage' if settings['coverage'] else ''}; "
        f"{settings['specialists']} specialists (Practitioner, PractitionerRole, Location), a referring "
        f"Practitioner: {bundle['entries']:,} entries, {bundle['mb']} MB of JSON.",
        "",
        f"### First import (target: at least {target:,} referrals/s: {verdict})",
        "",
        "| | seconds | referrals/s | time ratio to the parse |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label in (("first_import", "first import: `read_bundle` + `import_batch` + commit, empty database"),
                       ("reimport", "re-import of the same Bundle, nothing changed")):  # fmt: skip
        parse, figure = results[f"parse_before_{key}"], results[key]
        lines += [
            f"| parse only (baseline): `json.loads` + R4B `model_validate` of every entry "
            f"| {parse['seconds']} | {parse['referrals_per_s']:,.0f} | 1 |",
            f"| {label} | {figure['seconds']} | {figure['referrals_per_s']:,.0f} | {figure['ratio_to_parse']} |",
        ]
    lines += ["", "| steps (s) | `read_bundle` | `import_batch` | commit |", "| --- | ---: | ---: | ---: |"]
    for key, label in (("first_import", "first import"), ("reimport", "re-import")):
        steps = results[key]["steps_s"]
        lines.append(f"| {label} | {steps['read_bundle']} | {steps['import_batch']} | {steps['commit']} |")
    lines += [
        "",
        f"Checked: first import {patients:,} patients, referrals and appointments created (and the directory), "
        f"nothing updated or rejected, {patients:,} referrals re-planned; re-import all unchanged, none re-planned. "
        "Each import's ratio is to the parse measured right before it, on the same JSON text.",
    ]
    if "profile" in results:
        profile = results["profile"]
        lines += [
            "",
            f"### Where the first import's time goes (cProfile, {profile['profiled_s']} s profiled)",
            "",
            "| layer (own time) | s | share |",
            "| --- | ---: | ---: |",
            *[f"| {name} | {layer['s']} | {layer['share']} |" for name, layer in profile["own_time_by_layer"].items()],
            "",
            "| function (by cumulative time) | calls | own s | cumulative s | share |",
            "| --- | ---: | ---: | ---: | ---: |",
            *[f"| `{row['function']}` | {row['calls']:,} | {row['own_s']} | {row['cumulative_s']} | {row['share']} |"
              for row in profile["top_cumulative"]],
            "",
            "| Relay's own functions (by cumulative time) | calls | own s | cumulative s | share |",
            "| --- | ---: | ---: | ---: | ---: |",
            *[f"| `{row['function']}` | {row['calls']:,} | {row['own_s']} | {row['cumulative_s']} | {row['share']} |"
              for row in profile["top_relay_cumulative"]],
            "",
            "Shares are of the profiled run's total own time; cProfile slows Python-heavy code (SQLAlchemy) most.",
        ]  # fmt: skip
    return lines


def main(patients: int | None = None) -> int:
    results = import_benchmarks(patients=patients) if patients else import_benchmarks()
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(results, indent=2) + "\n")
    print("\n".join(import_markdown(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main(*(int(arg) for arg in sys.argv[1:])))
