"""A clinic's FHIR Bundle through the import core: rows, statuses, idempotency, re-planning, broken input."""

import copy
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from relay.intake.core import import_batch
from relay.intake.fhir import FhirInputError, read_bundle, read_ndjson
from relay.models import (
    Appointment,
    AuditEvent,
    BookedSlot,
    ConsentEvent,
    Patient,
    PlannedOutreach,
    Referral,
    ReferringProvider,
    Specialist,
)
from relay.models.outreach import OutreachState
from tests.fhir_clinic import TZ, appointment_day, clinic_bundle

# Noon in Chicago on a fixed day: the import's clock, whatever the hour of the run.
NOW = datetime(2031, 3, 3, 18, 0, tzinfo=UTC)


def _import(session, data, now=NOW):
    return import_batch(session, read_bundle(data), now=now, source="fhir")


def _patient(session, mrn):
    return session.scalars(select(Patient).filter_by(mrn=mrn)).one()


def _referral(session, external_id):
    return session.scalars(select(Referral).filter_by(external_id=external_id)).one()


def _plan(session, referral):
    rows = session.scalars(select(PlannedOutreach).where(PlannedOutreach.referral_id == referral.id)).all()
    return sorted((row.idempotency_key, row.state, row.due_at) for row in rows)


def test_a_clinic_bundle_becomes_the_clinics_rows(db_session):
    report = _import(db_session, clinic_bundle(NOW.date()))

    counts = report.as_dict()["counts"]
    assert counts["patients"]["created"] == 5
    assert counts["specialists"]["created"] == 2
    assert counts["referrals"]["created"] == 5
    assert counts["appointments"]["created"] == 2
    assert counts["locations"]["created"] == 2
    assert counts["providers"]["created"] == 1
    assert report.rejections == []

    derm = db_session.scalars(select(Specialist).filter_by(key="1912345678")).one()
    assert (derm.name, derm.specialty, derm.facility) == (
        "Dr. Ingrid Lindqvist",
        "Dermatology",
        "Northside Dermatology",
    )
    assert derm.address == "800 N Clark St, Suite 210, Chicago, IL 60610"
    assert derm.phone == "+13125550160"
    assert sorted((block.weekday, block.start_time.hour, block.end_time.hour) for block in derm.availability) == [
        (1, 9, 12),
        (3, 9, 12),
    ]

    spanish = _patient(db_session, "NS-1002")
    assert (spanish.language, spanish.phone, spanish.insurance_payer) == ("es", "+13125550172", "Aetna")
    no_mobile = _patient(db_session, "NS-1003")
    assert no_mobile.phone is None and no_mobile.mobile_problem == "no mobile number on file"
    assert not no_mobile.sms_consent  # the home number is never texted
    assert _patient(db_session, "NS-1001").sms_consent

    statuses = {
        external_id: _referral(db_session, external_id).status
        for external_id in ("NS-R-1", "NS-R-2", "NS-R-3", "NS-R-4", "NS-R-5")
    }
    assert statuses == {
        "NS-R-1": "scheduled",  # active, with a booked appointment
        "NS-R-2": "ready_to_schedule",
        "NS-R-3": "authorization_pending",  # on-hold, its prior authorization Task in progress
        "NS-R-4": "ready_to_schedule",
        "NS-R-5": "completed",
    }
    pending = _referral(db_session, "NS-R-3")
    assert (pending.authorization_status, pending.authorization_reference) == ("pending", "PA-77812")
    assert _referral(db_session, "NS-R-1").reason == "Changing mole on left shoulder"  # stored for staff
    assert _referral(db_session, "NS-R-4").priority == "urgent"

    booked = db_session.scalars(select(Appointment).filter_by(external_id="NS-A-1")).one()
    assert booked.start_at.astimezone(UTC).date() == appointment_day(NOW.date())
    assert booked.duration_minutes == 30
    assert booked.ehr_synced_version == booked.version  # the EHR sent it: nothing to write back
    assert db_session.scalars(select(BookedSlot).filter_by(appointment_id=booked.id)).one().start_at == booked.start_at

    reminders = _plan(db_session, _referral(db_session, "NS-R-1"))
    assert any(state == OutreachState.PLANNED for _, state, _ in reminders)
    # Planned for the patient without a mobile, but set aside: never sent.
    assert {state for _, state, _ in _plan(db_session, pending)} <= {OutreachState.SKIPPED}


def test_importing_the_same_bundle_again_changes_and_plans_nothing(db_session):
    bundle = clinic_bundle(NOW.date())
    _import(db_session, bundle)
    plan_before = {ref: _plan(db_session, _referral(db_session, ref)) for ref in ("NS-R-1", "NS-R-2", "NS-R-3")}
    outreach_before = db_session.scalar(select(func.count()).select_from(PlannedOutreach))
    audits_before = db_session.scalar(select(func.count()).select_from(AuditEvent))
    consents_before = db_session.scalar(select(func.count()).select_from(ConsentEvent))

    report = _import(db_session, copy.deepcopy(bundle), now=NOW + timedelta(hours=1))

    assert report.total("created") == report.total("updated") == report.total("rejected") == 0
    assert report.total("unchanged") == sum(counter["unchanged"] for counter in report.counts.values()) > 20
    assert report.referrals_replanned == 0
    assert db_session.scalar(select(func.count()).select_from(PlannedOutreach)) == outreach_before
    assert db_session.scalar(select(func.count()).select_from(AuditEvent)) == audits_before
    assert db_session.scalar(select(func.count()).select_from(ConsentEvent)) == consents_before
    assert {ref: _plan(db_session, _referral(db_session, ref)) for ref in plan_before} == plan_before


def test_a_new_appointment_time_moves_its_reminders(db_session):
    bundle = clinic_bundle(NOW.date())
    _import(db_session, bundle)
    referral = _referral(db_session, "NS-R-1")
    old = {key: due for key, state, due in _plan(db_session, referral) if state == OutreachState.PLANNED}

    moved = copy.deepcopy(bundle)
    appointment = next(e["resource"] for e in moved["entry"] if e["resource"].get("id") == "appt-1")
    start = datetime.fromisoformat(appointment["start"]) + timedelta(days=2)  # Thursday, same hour
    appointment["start"], appointment["end"] = start.isoformat(), (start + timedelta(minutes=30)).isoformat()
    report = _import(db_session, moved)

    assert report.as_dict()["counts"]["appointments"] == {"created": 0, "updated": 1, "unchanged": 1, "rejected": 0}
    stored = db_session.scalars(select(Appointment).filter_by(external_id="NS-A-1")).one()
    assert stored.start_at == start.astimezone(UTC)
    assert db_session.scalars(select(BookedSlot).filter_by(appointment_id=stored.id)).one().start_at == stored.start_at
    plan = _plan(db_session, referral)
    new = {key: due for key, state, due in plan if state == OutreachState.PLANNED}
    superseded = {key for key, state, _ in plan if state == OutreachState.CANCELLED}
    gone, added = old.keys() - new.keys(), new.keys() - old.keys()
    assert gone and gone <= superseded, "the reminders for the old time are cancelled"
    # The reminders before the visit come two days later, as the visit does (a new confirmation goes now).
    # Compared on the clinic's wall clock: a DST change may fall in between.
    local = ZoneInfo(TZ)
    moved_dues = sorted(new[key].astimezone(local).replace(tzinfo=None) for key in added if new[key] > NOW)
    assert moved_dues
    assert moved_dues == sorted(
        old[key].astimezone(local).replace(tzinfo=None) + timedelta(days=2) for key in gone if old[key] > NOW
    )


def test_status_follows_the_ehr_authorization_and_appointments(db_session):
    bundle = clinic_bundle(NOW.date())
    _import(db_session, bundle)
    changed = copy.deepcopy(bundle)
    for entry in changed["entry"]:
        resource = entry["resource"]
        if resource.get("id") == "task-auth-3":
            resource["status"] = "completed"  # the insurer approved
        if resource.get("id") == "sr-3":
            resource["status"] = "active"
        if resource.get("id") == "appt-1":
            resource["status"] = "noshow"
    _import(db_session, changed, now=NOW + timedelta(days=1))

    approved = _referral(db_session, "NS-R-3")
    assert (approved.status, approved.authorization_status) == ("ready_to_schedule", "approved")
    missed = _referral(db_session, "NS-R-1")
    assert missed.status == "no_show"
    assert (
        db_session.scalars(select(BookedSlot).join(Appointment).filter(Appointment.external_id == "NS-A-1")).all() == []
    )
    events = db_session.scalars(
        select(AuditEvent).where(AuditEvent.referral_id == missed.id, AuditEvent.action == "referral.status_changed")
    ).all()
    assert [(event.details["from"], event.details["to"], event.actor) for event in events] == [
        ("scheduled", "no_show", "import:fhir")
    ]


def test_a_broken_bundle_imports_its_good_records_and_names_each_problem(db_session):
    good = {"resourceType": "Patient", "id": "ok-1", "identifier": [{"type": {"coding": [{"code": "MR"}]},
            "value": "BRK-1"}], "name": [{"text": "Good Record"}], "birthDate": "1990-01-01",
            "telecom": [{"system": "phone", "use": "mobile", "value": "(312) 555-0190"}]}  # fmt: skip
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": good},
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "no-id",
                    "name": [{"text": "No Identifier"}],
                    "birthDate": "1990-01-01",
                }
            },
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "bad-date",
                    "birthDate": "1980-13-45",
                    "identifier": [{"type": {"coding": [{"code": "MR"}]}, "value": "BRK-2"}],
                }
            },
            {
                "resource": {
                    "resourceType": "ServiceRequest",
                    "id": "orphan",
                    "status": "active",
                    "intent": "order",
                    "identifier": [{"value": "BRK-R-1"}],
                    "subject": {"reference": "Patient/nobody"},
                    "performer": [{"reference": "Practitioner/nobody"}],
                }
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": "obs-1",
                    "status": "final",
                    "code": {"text": "weight"},
                }
            },
            {"request": {"method": "POST", "url": "Patient"}},
        ],
    }
    report = _import(db_session, bundle)

    assert _patient(db_session, "BRK-1").name == "Good Record"
    problems = {(item.kind, item.record): item.reason for item in report.rejections}
    assert "MRN" in problems[("patients", "Patient/no-id")]
    assert "birthDate" in problems[("patients", "Patient/bad-date")]
    assert "1980-13-45" not in problems[("patients", "Patient/bad-date")]  # no values (PHI) in reasons
    assert problems[("referrals", "BRK-R-1")] == "unknown patient Patient/nobody"
    assert "Observation is not a resource Relay imports" in problems[("records", "Observation/obs-1")]
    assert problems[("records", "entry 6")] == "the entry has no resource"
    assert report.as_dict()["counts"]["patients"] == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 2}
    assert db_session.scalars(select(Referral).filter_by(external_id="BRK-R-1")).first() is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "not JSON"),
        ('{"resourceType": "Patient"}', "expected a FHIR Bundle"),
        ('{"resourceType": "Bundle", "type": "document"}', "Bundle of type"),
        ("[1, 2]", "a JSON object"),
    ],
)
def test_input_that_is_not_a_bundle_is_refused_whole(body, message):
    with pytest.raises(FhirInputError, match=message):
        read_bundle(body)


def test_bulk_export_ndjson_reads_like_a_bundle(db_session):
    resources = [entry["resource"] for entry in clinic_bundle(NOW.date())["entry"]]
    # Bulk Data files have no fullUrls: references are Type/id.
    lines = [json.dumps(resource).replace("urn:uuid:", "Location/") for resource in reversed(resources)]
    lines += ["", "{broken"]
    batch = read_ndjson(lines)
    report = import_batch(db_session, batch, now=NOW, source="fhir")
    assert report.as_dict()["counts"]["referrals"]["created"] == 5
    assert [(item.record, item.reason) for item in report.rejections] == [
        (f"line {len(lines)}", "the line is not JSON")
    ]


def test_a_stop_outlives_the_import_and_a_shared_number_is_not_texted(db_session):
    db_session.add(ConsentEvent(phone="+13125550171", consented=False, source="sms:STOP", at=NOW - timedelta(days=1)))
    bundle = clinic_bundle(NOW.date())
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource.get("id") == "pat-5":  # the same mobile as pat-4, as families share phones
            resource["telecom"] = [{"system": "phone", "use": "mobile", "value": "312 555 0174"}]
    _import(db_session, bundle)

    assert not _patient(db_session, "NS-1001").sms_consent
    shared = _patient(db_session, "NS-1005")
    assert shared.phone is None and shared.mobile_problem == "the mobile number on file is another patient's"
    assert _patient(db_session, "NS-1004").phone == "+13125550174"


def test_the_wall_clock_hour_does_not_matter(db_session):
    late = datetime(2031, 3, 4, 2, 2, tzinfo=UTC)  # 20:02 in Chicago: quiet hours
    report = _import(db_session, clinic_bundle(late.date()), now=late)
    assert report.total("rejected") == 0
    assert str(_referral(db_session, "NS-R-1").status) == "scheduled"


def test_a_line_nested_too_deeply_is_one_rejection():
    batch = read_ndjson(["[" * 100_000 + "]" * 100_000, json.dumps({"resourceType": "Organization", "id": "o"})])
    assert [(item.record, item.reason) for item in batch.rejected] == [
        ("line 1", "the line is nested too deeply to be a FHIR resource")
    ]


def _slot_bundle(*slots: tuple[str, str, str]) -> dict:
    """Dr. Lindqvist's Schedule and the given Slots (id, start, status), 30 minutes each."""
    entries = [{"resource": {"resourceType": "Schedule", "id": "sched-derm",
                             "actor": [{"reference": "Practitioner/prac-derm"}]}}]  # fmt: skip
    for slot_id, start, status in slots:
        begin = datetime.fromisoformat(start)
        entries.append({"resource": {"resourceType": "Slot", "id": slot_id, "schedule": {"reference":
                        "Schedule/sched-derm"}, "status": status, "start": begin.isoformat(),
                        "end": (begin + timedelta(minutes=30)).isoformat()}})  # fmt: skip
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def test_published_slots_are_what_the_specialist_offers(db_session):
    from relay.scheduling.slots import offer_slots
    from relay.scheduling.time_windows import parse_time_request

    _import(db_session, clinic_bundle(NOW.date()))
    day = appointment_day(NOW.date()) + timedelta(days=7)
    at = lambda hour: datetime.combine(day, datetime.min.time().replace(hour=hour), tzinfo=ZoneInfo(TZ))  # noqa: E731
    report = _import(db_session, _slot_bundle(("s-1", at(9).isoformat(), "free"), ("s-2", at(10).isoformat(), "busy"),
                                              ("s-3", at(11).isoformat(), "free")))  # fmt: skip
    assert report.as_dict()["counts"]["slots"]["created"] == 3

    derm = db_session.scalars(select(Specialist).filter_by(key="1912345678")).one()
    window = parse_time_request(f"{day:%A %B} {day.day}", now=NOW, tz=TZ)
    offer = offer_slots(db_session, specialist_id=derm.id, window=window, now=NOW, tz=TZ)
    assert offer.slots == [at(9).astimezone(UTC), at(11).astimezone(UTC)]  # not the busy one, nor weekly hours


def test_a_conflict_the_checks_miss_is_one_rejection_and_the_rest_lands(db_session):
    _import(db_session, clinic_bundle(NOW.date()))
    start = datetime.combine(appointment_day(NOW.date()) + timedelta(days=14), datetime.min.time(), tzinfo=UTC)
    bundle = _slot_bundle(("dup-a", start.isoformat(), "free"), ("dup-b", start.isoformat(), "free"))
    bundle["entry"].append({"resource": {"resourceType": "Patient", "id": "late", "identifier": [{"type": {
        "coding": [{"code": "MR"}]}, "value": "NS-2000"}], "name": [{"text": "Late Arrival"}],
        "birthDate": "1970-01-01"}})  # fmt: skip

    report = _import(db_session, bundle)

    # Two Slots of one Schedule at the same time: the database's unique constraint refuses the second.
    assert report.as_dict()["counts"]["slots"] == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 1}
    [rejection] = report.rejections
    assert rejection.kind == "slots" and "the database refused it" in rejection.reason
    assert _patient(db_session, "NS-2000").name == "Late Arrival"


def test_a_partial_import_leaves_what_it_does_not_mention_alone(db_session):
    _import(db_session, clinic_bundle(NOW.date()))
    only_olivia = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {**next(e["resource"] for e in clinic_bundle(NOW.date())["entry"]
                             if e["resource"].get("id") == "pat-1"), "name": [{"text": "Olivia Brennan-Shaw"}]}}
    ]}  # fmt: skip
    report = _import(db_session, only_olivia)

    assert report.as_dict()["counts"] == {"patients": {"created": 0, "updated": 1, "unchanged": 0, "rejected": 0}}
    assert _patient(db_session, "NS-1001").name == "Olivia Brennan-Shaw"
    assert _patient(db_session, "NS-1001").insurance_payer == "Blue Cross Blue Shield"  # Coverage not sent: kept
    assert _referral(db_session, "NS-R-1").status == "scheduled"
    assert db_session.scalar(select(func.count()).select_from(Patient).where(Patient.mrn.like("NS-%"))) == 5


def test_a_task_whose_referral_came_earlier_approves_it(db_session):
    _import(db_session, clinic_bundle(NOW.date()))
    approved = {
        "resourceType": "Task",
        "id": "task-auth-3",
        "identifier": [{"value": "PA-77812"}],
        "status": "completed",
        "intent": "order",
        "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "approve"}]},
        "focus": {"reference": "ServiceRequest/sr-3"},
    }
    report = _import(db_session, {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": approved}]})

    assert report.as_dict()["counts"] == {"authorizations": {"created": 0, "updated": 1, "unchanged": 0, "rejected": 0}}
    referral = _referral(db_session, "NS-R-3")
    assert (referral.authorization_status, referral.ehr_status) == ("approved", "on-hold")
    assert referral.status == "ready_to_schedule"  # on-hold only for the authorization, which is in


def test_orders_that_are_not_referrals_are_refused_and_outside_doctors_are_referrers(db_session):
    bundle = clinic_bundle(NOW.date())
    lab = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "sr-2")
    lab["category"] = [{"coding": [{"system": "http://snomed.info/sct", "code": "108252007", "display": "Lab"}]}]
    bundle["entry"].append({"resource": {"resourceType": "Practitioner", "id": "prac-outside",
                                         "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi",
                                                         "value": "1945678901"}],
                                         "name": [{"text": "Dr. Omar Haddad"}]}})  # fmt: skip
    report = _import(db_session, bundle)

    problems = {(item.kind, item.record): item.reason for item in report.rejections}
    assert "not a referral" in problems[("referrals", "ServiceRequest/sr-2")]
    assert db_session.scalars(select(Referral).filter_by(external_id="NS-R-2")).first() is None
    outside = db_session.scalars(select(ReferringProvider).filter_by(key="1945678901")).one()
    assert outside.name == "Dr. Omar Haddad"
    assert db_session.scalars(select(Specialist).filter_by(key="1945678901")).first() is None


def test_a_status_the_source_states_starts_the_campaign_again(db_session):
    from relay.intake.records import Batch, ReferralRecord

    _import(db_session, clinic_bundle(NOW.date()))
    later = NOW + timedelta(days=3)
    batch = Batch()
    batch.add(ReferralRecord(external_id="NS-R-2", status="cancelled"))
    import_batch(db_session, batch, now=later, source="api")

    referral = _referral(db_session, "NS-R-2")
    events = db_session.scalars(
        select(AuditEvent).where(AuditEvent.referral_id == referral.id, AuditEvent.action == "referral.status_changed")
    ).all()
    assert [(e.details["from"], e.details["to"], e.actor, e.at) for e in events] == [
        ("ready_to_schedule", "cancelled", "import:api", later)
    ]
    # The ready-to-schedule campaign is cancelled; the cancelled one is dated from the stated change.
    planned = [key for key, state, _ in _plan(db_session, referral) if state == OutreachState.PLANNED]
    assert planned and all(f":cancelled@{later.isoformat()}" in key for key in planned)
    earlier = [state for key, state, _ in _plan(db_session, referral) if ":ready_to_schedule@" in key]
    assert earlier and set(earlier) == {OutreachState.CANCELLED}
