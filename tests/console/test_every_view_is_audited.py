"""Every console page that shows a patient's data writes an audit event: who, which patient, which page, when.

The walk is over the console's own routers, so a new page cannot slip by: each
GET route is either visited here and must record a view of the patients it
shows, or is listed with the reason it shows no patient data.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from console.app import ROUTERS
from relay.core.db import session_scope
from relay.messaging.handoffs import open_handoff
from relay.models import AuditEvent, Patient, Referral, StaffRole
from relay.records import conversations
from tests.console.support import Account, Clock, make_account, sign_in

JAMES = "+13125550145"
SAID = "can I talk to a person"
HTMX = {"HX-Request": "true"}


@dataclass(frozen=True)
class Shown:
    """What the walk knows of the patient data on the page: James Carter, with an open handoff and a referral."""

    handoff_id: int
    patient_id: int
    referral: str


@dataclass(frozen=True)
class Visit:
    url: Callable[[Shown], str]
    htmx: bool = False  # a fragment the page fetches by itself


# GET routes that show a patient's data, and how to open each on James Carter's data.
PATIENT_PAGES: dict[str, Visit] = {
    "/console/": Visit(lambda s: "/console/"),
    "/console/queue/rows": Visit(lambda s: "/console/queue/rows", htmx=True),
    "/console/handoffs/{handoff_id}": Visit(lambda s: f"/console/handoffs/{s.handoff_id}"),
    "/console/handoffs/{handoff_id}/timeline": Visit(lambda s: f"/console/handoffs/{s.handoff_id}/timeline", htmx=True),
    "/console/referrals": Visit(lambda s: "/console/referrals?q=carter"),
    "/console/referrals/{external_id}": Visit(lambda s: f"/console/referrals/{s.referral}"),
    "/console/audit": Visit(lambda s: f"/console/audit?patient={s.patient_id}"),
    "/console/simulator": Visit(lambda s: f"/console/simulator?patient={s.patient_id}"),
    "/console/simulator/thread": Visit(lambda s: f"/console/simulator/thread?phone=%2B{JAMES[1:]}", htmx=True),
}

# GET routes that show no patient's data, and why.
NO_PATIENT_DATA: dict[str, str] = {
    "/console/sign-in": "the sign-in form",
    "/console/sign-in/code": "the second-factor form",
    "/console/enrol/{token}": "a staff member's enrolment: their own password and authenticator",
    "/console/faqs": "FAQ content: the clinic's answers, no patient",
    "/console/faqs/new": "an empty FAQ form",
    "/console/faqs/{key}": "one FAQ entry",
    "/console/users": "staff accounts, no patient",
}


def _get_routes() -> set[str]:
    return {route.path for router in ROUTERS for route in router.routes if "GET" in getattr(route, "methods", ())}


def test_every_get_route_is_either_walked_here_or_shows_no_patient():
    routes = _get_routes()
    assert routes == set(PATIENT_PAGES) | set(NO_PATIENT_DATA), (
        "classify the new console route(s) here: "
        f"{sorted(routes - set(PATIENT_PAGES) - set(NO_PATIENT_DATA))}; gone: "
        f"{sorted((set(PATIENT_PAGES) | set(NO_PATIENT_DATA)) - routes)}"
    )
    assert not set(PATIENT_PAGES) & set(NO_PATIENT_DATA)


@pytest.fixture
def shown(fresh_demo, clock: Clock) -> Shown:
    with session_scope() as session:
        conversation = conversations.find_or_open(session, phone=JAMES)
        conversations.record_message(session, conversation=conversation, direction="inbound", channel="sms",
                                     author="patient", body=SAID,
                                     now=clock.now - timedelta(minutes=5))  # fmt: skip
        referral = session.scalars(select(Referral).filter_by(patient_id=conversation.patient_id)).first()
        assert referral is not None and conversation.patient_id is not None
        handoff = open_handoff(session, conversation=conversation, reason="patient_request", referral_id=referral.id,
                               now=clock.now - timedelta(minutes=5))  # fmt: skip
        return Shown(handoff_id=handoff.id, patient_id=conversation.patient_id, referral=referral.external_id)


@pytest.fixture
def admin(fresh_demo, clock: Clock) -> Account:
    """An admin opens every page (the audit log is theirs only)."""
    return make_account(clock, email="ada@clinic.example", name="Ada Admin", role=StaffRole.ADMIN)


def _views(actor: str) -> list[AuditEvent]:
    with session_scope() as session:
        events = list(session.scalars(select(AuditEvent).filter_by(actor=actor, action="console.viewed")))
        session.expunge_all()
        return events


@pytest.mark.usefixtures("rasa_stopped")
@pytest.mark.parametrize("route", sorted(PATIENT_PAGES))
def test_each_page_showing_a_patient_records_who_saw_which_patient_where(
    console: TestClient, admin: Account, clock: Clock, shown: Shown, route: str
):
    assert sign_in(console, admin, clock).status_code == 303
    actor = f"staff:{admin.id}"
    before = {event.id for event in _views(actor)}
    visit = PATIENT_PAGES[route]

    page = console.get(visit.url(shown), headers=HTMX if visit.htmx else {})

    assert page.status_code == 200, page.text[:500]
    with session_scope() as session:
        name = session.get_one(Patient, shown.patient_id).name
    # The page does show the patient: by name, or their message (the simulator's thread).
    assert name in page.text or SAID in page.text
    new = [event for event in _views(actor) if event.id not in before]
    about_james = [event for event in new if event.patient_id == shown.patient_id]
    assert about_james, f"{route} showed {name} and wrote no console.viewed event for them"
    assert all(event.at == clock.now and event.details.get("page") for event in about_james)


def test_the_routes_without_patient_data_really_show_none(console: TestClient, admin: Account, clock: Clock, shown):
    """A spot check of the list above: an admin opening them writes no view and shows no patient's name."""
    assert sign_in(console, admin, clock).status_code == 303
    actor = f"staff:{admin.id}"
    before = len(_views(actor))
    with session_scope() as session:
        name = session.get_one(Patient, shown.patient_id).name
    for url in ("/console/faqs", "/console/faqs/new", "/console/faqs/parking", "/console/users"):
        page = console.get(url)
        assert page.status_code == 200 and name not in page.text, url
    assert len(_views(actor)) == before
