"""The audit log viewer: newest first, filtered by person, patient and action, 50 a page; viewing it is audited."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from relay.core.db import session_scope
from relay.models import AuditEvent, Patient, Referral, StaffRole
from relay.records.audit import record
from tests.console.support import make_account, sign_in

JAMES_MRN, AISHA_MRN = "RFH-100045", "RFH-100046"


@pytest.fixture
def admin(fresh_demo, clock):
    return make_account(clock, email="ada@clinic.example", name="Ada Admin", role=StaffRole.ADMIN)


def _patient(mrn: str) -> Patient:
    with session_scope() as session:
        return session.scalars(select(Patient).filter_by(mrn=mrn)).one()


def _shown(page: str) -> set[int]:
    return {int(value) for value in re.findall(r'<tr data-event="(\d+)">', page)}


def _row(page: str, event_id: int) -> str:
    match = re.search(rf'<tr data-event="{event_id}">.*?</tr>', page, re.S)
    assert match, page
    return match.group(0)


def _ids(*conditions) -> set[int]:
    with session_scope() as session:
        return set(session.scalars(select(AuditEvent.id).where(*conditions)))


def _referral_of(patient: Patient) -> Referral:
    with session_scope() as session:
        referral = session.scalars(select(Referral).filter_by(patient_id=patient.id)).first()
        assert referral is not None
        return referral


def _events(clock, kim_id: int) -> dict[str, int]:
    """A few events by different actors about two patients; their ids by a name."""
    james, aisha = _patient(JAMES_MRN), _patient(AISHA_MRN)
    referral = _referral_of(james)
    with session_scope() as session:
        made = {
            "kim claims james": record(session, actor=f"staff:{kim_id}", action="handoff.claimed",
                                       patient_id=james.id, referral_id=referral.id, details={"handoff_id": 7},
                                       now=clock.now - timedelta(minutes=30)),
            "kim views aisha": record(session, actor=f"staff:{kim_id}", action="console.viewed", patient_id=aisha.id,
                                      details={"page": "queue", "session": 3}, now=clock.now - timedelta(minutes=20)),
            "kim signs out": record(session, actor=f"staff:{kim_id}", action="staff.signed_out",
                                    now=clock.now - timedelta(minutes=10)),
            "bot tells james": record(session, actor="bot", action="referral.disclosed", patient_id=james.id,
                                      now=clock.now - timedelta(minutes=5)),
            "system texts aisha": record(session, actor="system", action="phone.flagged", patient_id=aisha.id,
                                         now=clock.now - timedelta(minutes=4)),
        }  # fmt: skip
        session.flush()
        return {name: event.id for name, event in made.items()}


def test_filtering_by_person_shows_exactly_their_events(console, admin, clock):
    kim = make_account(clock, email="kim@clinic.example", name="Kim Park")
    made = _events(clock, kim.id)
    sign_in(console, admin, clock)
    expected = _ids(AuditEvent.actor == f"staff:{kim.id}")
    page = console.get(f"/console/audit?user={kim.id}")
    assert page.status_code == 200
    assert _shown(page.text) == expected
    assert {made["kim claims james"], made["kim views aisha"], made["kim signs out"]} <= expected
    assert made["bot tells james"] not in expected
    assert f'<option value="{kim.id}" selected>Kim Park (kim@clinic.example)</option>' in page.text

    claimed = _row(page.text, made["kim claims james"])
    assert "Kim Park" in claimed and "Handoff claimed" in claimed and "James Carter (RFH-100045)" in claimed
    assert "Tue, Mar 10 at 9:30:10 AM" in claimed  # the clinic's time (Chicago, CDT), to the second
    assert "<dt>handoff_id</dt><dd>7</dd>" in claimed
    assert _referral_of(_patient(JAMES_MRN)).external_id in claimed


def test_filtering_by_patient_shows_exactly_their_events_and_the_view_is_audited(console, admin, clock):
    kim = make_account(clock, email="kim@clinic.example", name="Kim Park")
    made = _events(clock, kim.id)
    james = _patient(JAMES_MRN)
    sign_in(console, admin, clock)
    expected = _ids(AuditEvent.patient_id == james.id)
    page = console.get(f"/console/audit?patient={JAMES_MRN.lower()}")  # as typed, in any case
    assert _shown(page.text) == expected
    assert {made["kim claims james"], made["bot tells james"]} <= expected
    assert "Bot" in _row(page.text, made["bot tells james"])
    assert console.get(f"/console/audit?patient={james.id}").status_code == 200  # a patient id works too

    both = console.get(f"/console/audit?patient={JAMES_MRN}&user={kim.id}")
    assert _shown(both.text) == {made["kim claims james"]}
    by_action = console.get("/console/audit?action=phone.flagged")
    assert _shown(by_action.text) == _ids(AuditEvent.action == "phone.flagged") and made["system texts aisha"] in (
        _shown(by_action.text))  # fmt: skip

    views = _ids(AuditEvent.actor == f"staff:{admin.id}", AuditEvent.action == "console.viewed",
                 AuditEvent.patient_id == james.id)  # fmt: skip
    assert views  # the admin saw James's name on the audit log: that is recorded too
    with session_scope() as session:
        assert {session.get_one(AuditEvent, i).details["page"] for i in views} == {"audit"}


def test_an_unknown_patient_or_person_shows_no_events_rather_than_all(console, admin, clock):
    sign_in(console, admin, clock)
    unknown = console.get("/console/audit?patient=RFH-999999")
    assert unknown.status_code == 200 and "No patient has the MRN or id RFH-999999" in unknown.text
    assert _shown(unknown.text) == set()
    assert _shown(console.get("/console/audit?user=99999").text) == set()
    assert _shown(console.get("/console/audit?page=abc").text)  # a bad page number is the first page


def test_the_log_is_newest_first_fifty_a_page(console, admin, clock):
    with session_scope() as session:
        for minute in range(60):
            record(session, actor="system", action="import.batch", details={"rows": minute},
                   now=clock.now - timedelta(minutes=minute + 1))  # fmt: skip
    sign_in(console, admin, clock)
    expected = _ids(AuditEvent.action == "import.batch")
    first = console.get("/console/audit?action=import.batch")
    second = console.get("/console/audit?action=import.batch&page=2")
    assert len(_shown(first.text)) == 50 and _shown(first.text) | _shown(second.text) == expected
    assert "page 1 of 2" in first.text and 'href="/console/audit?action=import.batch&amp;page=2"' in first.text
    rows_minutes = [int(v) for v in re.findall(r"<dt>rows</dt><dd>(\d+)</dd>", first.text + second.text)]
    assert rows_minutes == sorted(rows_minutes)  # newest (fewest minutes ago) first, across both pages


def test_staff_cannot_open_the_audit_log(console, account, clock):
    sign_in(console, account, clock)
    answer = console.get("/console/audit")
    assert answer.status_code == 403 and "Only admins can open this page" in answer.text


def test_details_read_as_lines_of_ids_and_counts():
    from console.user_pages import detail_lines

    details = {"user_id": 3, "counts": {"patients": {"created": 11, "updated": 0}}, "ids": [4, 5]}
    assert detail_lines(details) == [
        ("counts.patients", "created 11, updated 0"),
        ("ids", "4, 5"),
        ("user_id", "3"),
    ]
    assert detail_lines({}) == []
    # On the page, a staff account's id reads as the person, by name and email.
    staff = {3: "Kim Park (kim@clinic.example)"}
    assert detail_lines({"user_id": 3, "role": "staff"}, staff) == [
        ("account", "Kim Park (kim@clinic.example)"),
        ("role", "staff"),
    ]
    assert detail_lines({"user_id": 9}, staff) == [("account", "account 9 (not on file)")]
