"""The sync with an EHR's FHIR server, against a real HTTP fake of it (tests/fake_fhir.py) and the real database.

The clinic on the fake is tests/fhir_clinic.py's (Northside Specialty Group),
stored resource by resource as a server keeps them. Time is one clock (see
Clock) that the fake, the sync and Relay's own timestamps read, moved by the
tests.
"""

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import SecretStr
from sqlalchemy import func, select

from relay.core.db import session_scope
from relay.core.settings import Settings, get_settings
from relay.intake import fhir_sync
from relay.intake.fhir_client import FhirClient, FhirError, SmartBackendAuth
from relay.intake.fhir_sync import CLOCK_SKEW_MARGIN, SYNC_ORDER, SyncSummary, fhir_instant, sync_fhir
from relay.models import Appointment, FhirSyncCursor, Patient, Referral, Specialist
from relay.models.referral import AppointmentStatus, ReferralStatus
from relay.scheduling.booking import book_slot, cancel_appointment, confirm_appointment
from tests.fake_fhir import FakeFhir, SmartClient
from tests.fhir_clinic import TZ, clinic_bundle, next_weekday
from tests.support import demo_today, free_port

IDENTIFIER_SYSTEM = "https://relay.example.test/fhir/appointment-id"
PAGE_SIZE = 2  # small, so that the clinic's five patients and referrals take several pages


class Clock:
    """The test's one clock, standing still until moved: the fake stamps meta.lastUpdated with it, the sync
    is given it as `now`, and Relay's own timestamps (updated_at) read it through time-machine."""

    def __init__(self) -> None:
        self._travel = time_machine.travel(datetime.now(UTC).replace(microsecond=0), tick=False)
        self._coordinates = self._travel.start()

    def __call__(self) -> datetime:
        return datetime.now(UTC)

    def advance(self, **delta: float) -> None:
        self._coordinates.shift(timedelta(**delta))

    def stop(self) -> None:
        self._travel.stop()


@pytest.fixture
def clock() -> Iterator[Clock]:
    moving = Clock()
    yield moving
    moving.stop()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeFhir]:
    server = FakeFhir(clock=clock).start()
    yield server
    server.stop()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(fake: FakeFhir, sleeps: list[float]) -> Iterator[FhirClient]:
    with FhirClient(fake.base_url, max_attempts=3, backoff_base=0.5, sleep=sleeps.append) as fhir:
        yield fhir


def put_clinic(fake: FakeFhir, clock: Clock) -> None:
    """The clinic as its EHR stores it (a Bundle's urn:uuid references become Type/id), then time passes."""
    bundle = clinic_bundle(demo_today())
    literal = {e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
    for entry in bundle["entry"]:
        text = json.dumps(entry["resource"])
        for urn, reference in literal.items():
            text = text.replace(json.dumps(urn), json.dumps(reference))
        fake.put(json.loads(text))
    clock.advance(minutes=10)  # past the sync's safety margin: what follows is "later"


def sync(client: FhirClient, clock: Clock, **options: Any) -> SyncSummary:
    """One sync at the clock's time; then time passes, more than the safety margin."""
    summary = sync_fhir(client, now=clock(), page_size=PAGE_SIZE, identifier_system=IDENTIFIER_SYSTEM, **options)
    clock.advance(minutes=10)
    return summary


def cursors(fake: FakeFhir) -> dict[str, FhirSyncCursor]:
    with session_scope() as session:
        rows = session.scalars(select(FhirSyncCursor).filter_by(base_url=fake.base_url)).all()
        return {row.resource_type: row for row in rows}


def count(session, model: type, *criteria: Any) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*criteria))


def searches_of(fake: FakeFhir, since: int = 0) -> list[tuple[str, dict[str, list[str]]]]:
    """(type, query) of the type searches and (`page`, query) of the page reads after request number `since`."""
    found = []
    for request in fake.api_requests("GET")[since:]:
        kind = request.path.removeprefix("/fhir").strip("/") or "page"
        found.append((kind, request.query))
    return found


# --- (a) changes arrive, and only the changes -----------------------------------


@pytest.mark.usefixtures("fresh_demo")
def test_the_clinic_on_the_server_arrives_in_one_sync_and_a_later_change_alone_in_the_next(fake, client, clock):
    put_clinic(fake, clock)
    first = sync(client, clock)

    assert {kind: first.by_type[kind]["created"] for kind in ("Location", "Patient", "Coverage", "Appointment")} == {
        "Location": 2,
        "Patient": 5,
        "Coverage": 5,
        "Appointment": 2,
    }
    # The referring physician has no role at the clinic, so the Practitioner search can't make a specialist of
    # her; she arrives as the referrals' referring provider, with the ServiceRequests that name her.
    assert {(r.kind, r.record) for r in first.rejections} <= {("specialists", "1934567890")}
    with session_scope() as session:
        olivia = session.scalars(select(Patient).filter_by(mrn="NS-1001")).one()
        assert (olivia.name, olivia.fhir_id, olivia.phone) == ("Olivia Brennan", "pat-1", "+13125550171")
        marisol = session.scalars(select(Patient).filter_by(fhir_id="pat-2")).one()
        assert marisol.insurance_payer == "Aetna"  # the payer's name from the Organization the Coverage includes
        dermatologist = session.scalars(select(Specialist).filter_by(fhir_id="prac-derm")).one()
        assert (dermatologist.fhir_role_id, dermatologist.facility) == ("role-derm", "Northside Dermatology")
        referrals = {r.fhir_id: r for r in session.scalars(select(Referral).where(Referral.fhir_id.is_not(None)))}
        assert referrals["sr-1"].status == ReferralStatus.SCHEDULED  # its appointment is booked
        assert referrals["sr-1"].referring_provider.name == "Dr. Helen Ward"
        assert (referrals["sr-3"].authorization_status, referrals["sr-3"].authorization_reference) == (
            "pending",
            "PA-77812",
        )  # the prior authorization Task, brought in with its ServiceRequest
        booked = session.scalars(select(Appointment).filter_by(fhir_id="appt-1")).one()
        assert booked.ehr_synced_version == booked.version  # the EHR sent it: nothing to write back
    assert first.write_back.written == 0 and fake.api_requests("POST") == fake.api_requests("PUT") == []

    first_sync_time = clock() - timedelta(minutes=10)
    renamed = fake.get("Patient", "pat-4")
    assert renamed is not None
    renamed["name"][0]["family"] = "Natarajan-Rao"
    fake.put(renamed)
    clock.advance(minutes=10)
    before = len(fake.api_requests("GET"))
    second_sync_time = clock()
    second = sync(client, clock)

    assert (second.total("created"), second.total("updated"), second.total("unchanged"), second.rejections) == (
        0,
        1,
        0,
        [],
    )
    assert second.by_type["Patient"]["updated"] == 1
    with session_scope() as session:
        assert session.scalars(select(Patient.name).filter_by(fhir_id="pat-4")).one() == "Priya Natarajan-Rao"
    # Every type was asked for what changed since the first round started, and nothing more was read.
    bound = f"gt{fhir_instant(first_sync_time - CLOCK_SKEW_MARGIN)}"
    assert [(kind, query["_lastUpdated"]) for kind, query in searches_of(fake, before)] == [
        (kind, [bound]) for kind, _ in SYNC_ORDER
    ]
    assert {row.since for row in cursors(fake).values()} == {second_sync_time - CLOCK_SKEW_MARGIN}


# --- (b) a crash between pages ---------------------------------------------------


class Crash(Exception):
    pass


def crash_on_page(monkeypatch: pytest.MonkeyPatch, resource_type: str, page: int) -> None:
    """The import of that page of that type dies (once), as a killed process would between pages."""
    real = fhir_sync.import_batch
    seen = {"pages": 0}

    def import_batch(session, batch, *, now, source):
        if source == f"fhir:{resource_type}":
            seen["pages"] += 1
            if seen["pages"] == page:
                raise Crash(f"{resource_type} page {page}")
        return real(session, batch, now=now, source=source)

    monkeypatch.setattr(fhir_sync, "import_batch", import_batch)


@pytest.mark.usefixtures("fresh_demo")
def test_a_sync_that_dies_between_pages_goes_on_from_the_stored_next_page(fake, client, clock, monkeypatch):
    put_clinic(fake, clock)
    crashed_at = clock()
    crash_on_page(monkeypatch, "Patient", 2)
    with pytest.raises(Crash):
        sync(client, clock)

    stopped = cursors(fake)
    assert stopped["Patient"].next_url is not None and stopped["Patient"].pages_read == 1
    assert stopped["Patient"].since is None  # the round is not over
    assert stopped["Location"].next_url is None and stopped["Location"].since == crashed_at - CLOCK_SKEW_MARGIN
    assert "Coverage" not in stopped  # what comes after the crash waits for the next run
    with session_scope() as session:
        assert set(session.scalars(select(Patient.fhir_id).where(Patient.fhir_id.is_not(None)))) == {"pat-1", "pat-2"}

    monkeypatch.undo()
    clock.advance(minutes=30)
    before = len(fake.api_requests("GET"))
    resumed = sync(client, clock)

    assert resumed.resumed == ["Patient"]
    patient_reads = [(kind, query) for kind, query in searches_of(fake, before) if kind in ("Patient", "page")]
    stored_page = fake.api_requests("GET")[before:][4]  # after Location, Practitioner, PractitionerRole, Slot
    assert f"{fake.origin}{stored_page.path}?{stored_page.url_query}" == stopped["Patient"].next_url
    assert all(kind != "Patient" for kind, _ in patient_reads)  # no new Patient search: it went on where it was
    assert resumed.by_type["Patient"]["created"] == 3 and resumed.by_type["Patient"]["updated"] == 0
    with session_scope() as session:
        assert count(session, Patient, Patient.fhir_id.is_not(None)) == 5
        assert count(session, Referral, Referral.fhir_id.is_not(None)) == 5
        assert count(session, Appointment, Appointment.fhir_id.is_not(None)) == 2
    # The resumed round keeps its start, and the rounds after it start no later (a Coverage read now names
    # a Patient whose round began when the crashed run did).
    assert {row.since for row in cursors(fake).values()} == {crashed_at - CLOCK_SKEW_MARGIN}
    assert all(row.next_url is None for row in cursors(fake).values())


@pytest.mark.usefixtures("fresh_demo")
def test_a_stored_page_the_server_no_longer_keeps_reads_the_round_again(fake, client, clock, monkeypatch):
    put_clinic(fake, clock)
    crash_on_page(monkeypatch, "Patient", 2)
    with pytest.raises(Crash):
        sync(client, clock)
    monkeypatch.undo()
    fake.expire_searches()

    again = sync(client, clock)

    assert again.resumed == []
    assert (again.by_type["Patient"]["created"], again.by_type["Patient"]["unchanged"]) == (3, 2)
    assert all(row.next_url is None for row in cursors(fake).values())


# --- (c) the write-back ------------------------------------------------------------


def marisols_referral(session) -> Referral:
    return session.scalars(select(Referral).filter_by(fhir_id="sr-2")).one()


def book_marisol(clock: Clock) -> tuple[int, datetime]:
    """Relay books Marisol's gastroenterology referral (ready to schedule) on a Monday at 14:00, her GI's hours."""
    day = next_weekday(demo_today(), 0)
    start = datetime.combine(day, time(14), tzinfo=ZoneInfo(TZ)).astimezone(UTC)
    with session_scope() as session:
        referral = marisols_referral(session)
        assert referral.status == ReferralStatus.READY_TO_SCHEDULE
        appointment = book_slot(session, referral=referral, start_at=start, now=clock(), actor="test")
        session.flush()
        return appointment.id, start


def created_appointments(fake: FakeFhir) -> list[dict]:
    return [a for a in fake.all("Appointment") if a["id"] not in ("appt-1", "appt-5")]


@pytest.mark.usefixtures("fresh_demo")
def test_a_booking_made_in_relay_is_posted_once_and_its_cancellation_is_a_put(fake, client, clock, sleeps):
    put_clinic(fake, clock)
    sync(client, clock)
    appointment_id, start = book_marisol(clock)
    fake.fail_next(1, status=500, method="POST")

    written = sync(client, clock)

    assert (written.write_back.written, written.write_back.failed) == (1, 0)
    assert [r.answered for r in fake.api_requests("POST", "Appointment")] == [500, 201]  # retried after a back-off
    assert len(sleeps) == 1
    [posted] = created_appointments(fake)
    assert posted["status"] == "booked"
    assert datetime.fromisoformat(posted["start"]) == start
    assert datetime.fromisoformat(posted["end"]) == start + timedelta(minutes=30)
    assert posted["basedOn"] == [{"reference": "ServiceRequest/sr-2"}]
    assert {p["actor"]["reference"] for p in posted["participant"]} == {"Patient/pat-2", "Practitioner/prac-gi"}
    assert posted["identifier"] == [{"system": IDENTIFIER_SYSTEM, "value": f"relay-appointment-{appointment_id}"}]
    with session_scope() as session:
        ours = session.get_one(Appointment, appointment_id)
        assert (ours.fhir_id, ours.ehr_synced_version) == (posted["id"], ours.version)

    # The next sync reads the EHR's copy back (it changed since the last round): nothing to change, nothing to write.
    echoed = sync(client, clock)
    assert echoed.by_type["Appointment"]["unchanged"] == 1
    assert (echoed.total("created"), echoed.total("updated"), echoed.write_back.written) == (0, 0, 0)
    assert [r.answered for r in fake.api_requests("POST")] == [500, 201]
    assert len(created_appointments(fake)) == 1

    with session_scope() as session:
        cancel_appointment(session, appointment=session.get_one(Appointment, appointment_id), now=clock(), actor="test")
    cancelled = sync(client, clock)

    assert cancelled.write_back.written == 1
    [put] = fake.api_requests("PUT")
    assert put.path == f"/fhir/Appointment/{posted['id']}" and put.headers["if-match"] == 'W/"1"'
    assert put.body["status"] == "cancelled"
    assert fake.api_requests("POST", "Appointment")[-1].answered == 201  # still the one create
    stored = fake.get("Appointment", posted["id"])
    assert stored is not None and (stored["status"], stored["meta"]["versionId"]) == ("cancelled", "2")
    with session_scope() as session:
        ours = session.get_one(Appointment, appointment_id)
        assert ours.status == AppointmentStatus.CANCELLED and ours.ehr_synced_version == ours.version
    assert sync(client, clock).write_back.written == 0


@pytest.mark.usefixtures("fresh_demo")
def test_an_update_keeps_what_the_ehr_has_and_relay_does_not(fake, client, clock):
    """Cancelling the EHR's own appointment changes its status and time, not its other participants."""
    put_clinic(fake, clock)
    sync(client, clock)
    with session_scope() as session:
        olivias = session.scalars(select(Appointment).filter_by(fhir_id="appt-1")).one()
        cancel_appointment(session, appointment=olivias, now=clock(), actor="test")

    assert sync(client, clock).write_back.written == 1

    stored = fake.get("Appointment", "appt-1")
    assert stored is not None and stored["status"] == "cancelled"
    assert stored["identifier"] == [{"value": "NS-A-1"}]  # the EHR's identifier; none of Relay's added
    assert {p["actor"]["reference"] for p in stored["participant"]} == {
        "Patient/pat-1",
        "Practitioner/prac-derm",
        "Location/loc-north",
    }
    assert fake.api_requests("POST") == []


@pytest.mark.usefixtures("fresh_demo")
def test_a_change_made_while_the_write_back_runs_is_written_next_time_not_undone_by_the_echo(fake, client, clock):
    put_clinic(fake, clock)
    sync(client, clock)
    appointment_id, _ = book_marisol(clock)

    def patient_cancels_meanwhile(method: str, path: str, status: int) -> None:
        if method == "POST" and path.endswith("/Appointment") and status == 201:
            fake.after_request = None
            clock.advance(seconds=1)  # after the EHR stored the booking, before Relay heard back
            with session_scope() as session:
                appointment = session.get_one(Appointment, appointment_id)
                cancel_appointment(session, appointment=appointment, now=clock(), actor="test")

    fake.after_request = patient_cancels_meanwhile
    sync(client, clock)

    with session_scope() as session:
        ours = session.get_one(Appointment, appointment_id)
        assert ours.fhir_id is not None  # the EHR's id is kept whatever happened meanwhile
        assert ours.ehr_synced_version is None  # the booking was written, but Relay has moved on: not in sync
    # The next sync reads the booking back from the EHR, but the cancellation is newer: it is written, not undone.
    after = sync(client, clock)
    assert (after.deferred, after.write_back.written) == (1, 1)
    assert [r.method for r in fake.api_requests() if "/Appointment" in r.path and r.method != "GET"] == ["POST", "PUT"]
    stored = fake.get("Appointment", ours.fhir_id)
    assert stored is not None and stored["status"] == "cancelled"
    with session_scope() as session:
        ours = session.get_one(Appointment, appointment_id)
        assert ours.status == AppointmentStatus.CANCELLED and ours.ehr_synced_version == ours.version
        assert marisols_referral(session).status == ReferralStatus.CANCELLED


@pytest.mark.usefixtures("fresh_demo")
def test_a_change_in_the_ehr_after_one_in_relay_wins(fake, client, clock):
    """The patient confirms in Relay, then the clinic cancels in the EHR: the cancellation stands, none is written."""
    put_clinic(fake, clock)
    sync(client, clock)
    with session_scope() as session:
        olivias = session.scalars(select(Appointment).filter_by(fhir_id="appt-1")).one()
        confirm_appointment(session, appointment=olivias, now=clock(), actor="test")
    clock.advance(minutes=1)
    cancelled = fake.get("Appointment", "appt-1")
    assert cancelled is not None
    fake.put(cancelled | {"status": "cancelled"})
    clock.advance(minutes=10)

    summary = sync(client, clock)

    assert (summary.deferred, summary.by_type["Appointment"]["updated"], summary.write_back.written) == (0, 1, 0)
    with session_scope() as session:
        olivias = session.scalars(select(Appointment).filter_by(fhir_id="appt-1")).one()
        assert olivias.status == AppointmentStatus.CANCELLED and olivias.ehr_synced_version == olivias.version
    assert fake.api_requests("PUT") == []


@pytest.mark.usefixtures("fresh_demo")
def test_a_confirmation_is_not_written_when_the_ehr_already_says_booked(fake, client, clock):
    put_clinic(fake, clock)
    sync(client, clock)
    with session_scope() as session:
        olivias = session.scalars(select(Appointment).filter_by(fhir_id="appt-1")).one()
        confirm_appointment(session, appointment=olivias, now=clock(), actor="test")

    assert sync(client, clock).write_back.written == 1

    assert fake.api_requests("PUT") == []  # read, found saying "booked" at that time already: no write, no echo
    with session_scope() as session:
        olivias = session.scalars(select(Appointment).filter_by(fhir_id="appt-1")).one()
        assert olivias.status == AppointmentStatus.CONFIRMED and olivias.ehr_synced_version == olivias.version


@pytest.mark.usefixtures("fresh_demo")
def test_a_write_back_that_keeps_failing_is_left_for_the_next_run(fake, client, clock):
    put_clinic(fake, clock)
    sync(client, clock)
    appointment_id, _ = book_marisol(clock)
    fake.fail_next(3, status=503, method="POST")  # every attempt of this run

    failed = sync(client, clock)

    assert (failed.write_back.written, failed.write_back.failed) == (0, 1)
    assert created_appointments(fake) == []
    retried = sync(client, clock)
    assert retried.write_back.written == 1 and len(created_appointments(fake)) == 1
    with session_scope() as session:
        ours = session.get_one(Appointment, appointment_id)
        assert ours.ehr_synced_version == ours.version


@pytest.mark.usefixtures("fresh_demo")
def test_a_create_whose_answer_was_lost_is_not_made_twice(fake, client, clock):
    """The EHR stored the POST but its answer never came: the retry, a conditional create, finds the first one."""
    put_clinic(fake, clock)
    sync(client, clock)
    appointment_id, _ = book_marisol(clock)
    fake.lose_next_answers(1, method="POST")

    assert sync(client, clock).write_back.written == 1

    # Served, answered 503 on the way back; retried: the condition finds the first (200, not 201 Created).
    assert [r.answered for r in fake.api_requests("POST", "Appointment")] == [503, 200]
    [posted] = created_appointments(fake)
    with session_scope() as session:
        ours = session.get_one(Appointment, appointment_id)
        assert (ours.fhir_id, ours.ehr_synced_version) == (posted["id"], ours.version)


@pytest.mark.usefixtures("fresh_demo")
def test_a_crash_after_the_ehr_took_a_booking_leaves_no_twin(fake, client, clock, monkeypatch):
    """Relay dies after the POST, before it stored the EHR's id: the next sync knows the EHR's copy by identifier."""
    put_clinic(fake, clock)
    sync(client, clock)
    appointment_id, _ = book_marisol(clock)

    def die(*_args: Any) -> None:
        raise Crash("after the POST")

    monkeypatch.setattr(fhir_sync, "_mark_synced", die)
    with pytest.raises(Crash):
        sync(client, clock)
    monkeypatch.undo()
    clock.advance(minutes=10)

    again = sync(client, clock)

    assert again.total("created") == 0  # the EHR's copy is our appointment, not a new one
    assert len(fake.api_requests("POST", "Appointment")) == 1
    [posted] = created_appointments(fake)
    with session_scope() as session:
        ours = session.get_one(Appointment, appointment_id)
        assert (ours.fhir_id, ours.ehr_synced_version) == (posted["id"], ours.version)
        assert count(session, Appointment, Appointment.referral_id == ours.referral_id) == 1


# --- (d) authentication -------------------------------------------------------------


def private_key(kind: str) -> Any:
    if kind == "RS384":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP384R1())


def write_pem(key: Any, path: Path) -> Path:
    pkcs8 = serialization.PrivateFormat.PKCS8
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption()))
    return path


def fhir_settings(**values: Any) -> Settings:
    return get_settings().model_copy(update={"fhir_max_attempts": 2, **values})


@pytest.mark.usefixtures("fresh_demo")
@pytest.mark.parametrize("algorithm", ["RS384", "ES384"])
def test_smart_backend_services_signs_an_assertion_the_server_verifies(clock, tmp_path, algorithm):
    key = private_key(algorithm)
    fake = FakeFhir(clock=clock, smart_client=SmartClient("relay-client", "relay-key-1", key.public_key())).start()
    try:
        settings = fhir_settings(fhir_base_url=fake.base_url, fhir_client_id="relay-client",
                                 fhir_private_key_file=str(write_pem(key, tmp_path / "key.pem")),
                                 fhir_key_id="relay-key-1")  # fmt: skip
        with FhirClient.from_settings(settings, sleep=lambda _: None) as client:
            sync(client, clock)

            [accepted] = fake.accepted_assertions
            assert accepted["header"]["alg"] == algorithm and accepted["header"]["kid"] == "relay-key-1"
            claims = accepted["claims"]
            assert claims["iss"] == claims["sub"] == "relay-client"
            assert claims["aud"] == fake.token_url  # found in .well-known/smart-configuration
            assert claims["jti"] and 0 < claims["exp"] - claims["iat"] <= 300
            token_requests = [r for r in fake.requests if r.path == "/auth/token"]
            assert len(token_requests) == 1 and token_requests[0].body["scope"] == settings.fhir_scope
            assert {r.answered for r in fake.api_requests()} == {200}  # one token for the whole sync

            # Ten minutes on, the five-minute token is renewed before it is used: no request is refused.
            sync(client, clock)
            assert len(fake.accepted_assertions) == 2
            assert fake.accepted_assertions[1]["claims"]["jti"] != claims["jti"]  # never the same assertion twice
            assert {r.answered for r in fake.api_requests()} == {200}

            client.search_page("Location", {})  # a fresh token (the sync's ten minutes outlived the last)
            fake.revoke_tokens()  # a token may also stop working early: a 401 fetches a new one, once
            before = len(fake.api_requests())
            client.search_page("Patient", {})
            assert [r.answered for r in fake.api_requests()[before:]] == [401, 200]
            assert len(fake.accepted_assertions) == 4
    finally:
        fake.stop()


def test_a_key_the_server_does_not_know_gets_no_token(clock, tmp_path):
    known, other = private_key("RS384"), private_key("RS384")
    fake = FakeFhir(clock=clock, smart_client=SmartClient("relay-client", "k1", known.public_key())).start()
    pem = write_pem(other, tmp_path / "other.pem").read_bytes()
    auth = SmartBackendAuth(base_url=fake.base_url, client_id="relay-client", private_key_pem=pem, key_id="k1",
                            scope="system/*.read", token_url=fake.token_url)  # fmt: skip
    try:
        with FhirClient(fake.base_url, auth=auth, sleep=lambda _: None) as client, pytest.raises(FhirError) as error:
            client.search_page("Patient", {})
        assert error.value.status == 401 and fake.accepted_assertions == []
    finally:
        fake.stop()


@pytest.mark.usefixtures("fresh_demo")
def test_a_static_bearer_token_works_and_a_wrong_one_is_refused_at_once(clock):
    fake = FakeFhir(clock=clock, bearer_token="static-token").start()
    try:
        right = fhir_settings(fhir_base_url=fake.base_url, fhir_bearer_token=SecretStr("static-token"))
        assert fhir_sync.sync_from_settings(now=clock(), settings=right).pages == len(SYNC_ORDER)
        assert {r.headers["authorization"] for r in fake.api_requests()} == {"Bearer static-token"}

        before = len(fake.api_requests())
        wrong = fhir_settings(fhir_base_url=fake.base_url, fhir_bearer_token=SecretStr("wrong-token"))
        with pytest.raises(FhirError) as error:
            fhir_sync.sync_from_settings(now=clock(), settings=wrong)
        assert error.value.status == 401
        assert len(fake.api_requests()) == before + 1  # no retry: a static token does not get better
    finally:
        fake.stop()


# --- the client's retries and manners ------------------------------------------------


def test_search_yields_every_page_by_its_next_link(fake, client):
    for number in range(5):
        fake.put({"resourceType": "Location", "id": f"loc-{number}", "name": f"Site {number}"})
    pages = list(client.search("Location", {"_count": "2"}))
    assert [len(page["entry"]) for page in pages] == [2, 2, 1]
    assert [e["resource"]["id"] for page in pages for e in page["entry"]] == [f"loc-{n}" for n in range(5)]


def test_429_waits_as_long_as_retry_after_says(fake, client, sleeps):
    fake.fail_next(1, status=429, retry_after="7")
    assert client.search_page("Patient", {})["type"] == "searchset"
    assert sleeps == [7.0]


def test_5xx_backs_off_exponentially_with_jitter_then_gives_up(fake, client, sleeps):
    fake.fail_next(3, status=503)
    with pytest.raises(FhirError) as error:
        client.search_page("Patient", {"_count": "5"})
    assert error.value.status == 503 and len(fake.api_requests()) == 3  # max_attempts
    first, second = sleeps
    assert 0.25 <= first <= 0.5 and 0.5 <= second <= 1.0  # half fixed, half random, doubling from 0.5 s
    assert "_count=..." in str(error.value)  # the query's values stay out of messages and logs


def test_a_server_that_is_not_there_is_tried_max_attempts_times(sleeps):
    nowhere = f"http://127.0.0.1:{free_port()}/fhir"
    with FhirClient(nowhere, max_attempts=3, sleep=sleeps.append) as client, pytest.raises(FhirError):
        client.search_page("Patient", {})
    assert len(sleeps) == 2


def test_a_next_link_to_another_server_is_refused(fake, client):
    with pytest.raises(FhirError, match="another server"):
        client.page("https://elsewhere.example/fhir?_getpages=1")
    assert fake.api_requests() == []


@pytest.mark.usefixtures("fresh_demo")
def test_a_server_that_refuses_sort_is_read_unsorted(clock, client):
    strict = FakeFhir(clock=clock, supports_sort=False).start()
    try:
        put_clinic(strict, clock)
        with FhirClient(strict.base_url, sleep=lambda _: None) as unsorted_client:
            summary = sync(unsorted_client, clock)
        assert summary.by_type["Patient"]["created"] == 5
        answered = [(r.answered, "_sort" in r.query) for r in strict.api_requests("GET")]
        assert answered[:2] == [(400, True), (200, False)]  # asked once, then never again
        assert all(not sorted_ for status, sorted_ in answered[1:])
    finally:
        strict.stop()


@pytest.mark.usefixtures("fresh_demo")
def test_the_logs_carry_no_phi(fake, client, clock, caplog):
    put_clinic(fake, clock)
    caplog.set_level(logging.DEBUG)
    sync(client, clock)
    book_marisol(clock)
    fake.fail_next(1, status=500, method="POST")
    sync(client, clock)

    logged = caplog.text
    assert "fhir sync" in logged and "write-back" in logged
    assert "/fhir/Patient?_count=...&_sort=..." in logged  # httpx's own request lines keep parameter names only
    assert "_lastUpdated=gt" not in logged and "_getpages=..." in logged
    for phi in ("Brennan", "Gutierrez", "NS-1001", "NS-1002", "1971-04-12", "555", "reflux", "mole", "pat-2"):
        assert phi not in logged


# --- the command and the schedule ----------------------------------------------------


@pytest.fixture
def fhir_env(monkeypatch):
    """Set FHIR_* environment variables for the settings the command and the cron read."""

    def set_env(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    monkeypatch.delenv("FHIR_BASE_URL", raising=False)
    get_settings.cache_clear()
    yield set_env
    monkeypatch.undo()
    get_settings.cache_clear()


def test_relay_sync_fhir_needs_fhir_base_url(fhir_env, capsys):
    from relay.ops.cli import main

    assert main(["sync", "fhir"]) == 2
    assert "FHIR_BASE_URL is not set" in capsys.readouterr().err


@pytest.mark.usefixtures("fresh_demo")
def test_relay_sync_fhir_prints_the_summary(fhir_env, fake, capsys):
    from relay.ops.cli import main

    fake.put({"resourceType": "Location", "id": "loc-1", "name": "Annex", "address": {"text": "1 Main St"}})
    fhir_env(FHIR_BASE_URL=fake.base_url)
    assert main(["sync", "fhir"]) == 0
    out = capsys.readouterr().out
    assert f"{len(SYNC_ORDER)} pages read" in out and "1 created" in out


def test_the_cron_syncs_every_interval_only_when_fhir_base_url_is_set(fhir_env, redis_client):
    from rq.cron import CronScheduler

    from scheduler.jobs import sync_fhir as sync_job
    from scheduler.queues import SEND_QUEUE

    def scheduled() -> dict[str, tuple[str, int | None]]:
        cron = CronScheduler(connection=redis_client)
        cron.load_config_from_file("scheduler.cron")
        return {job.func.__name__: (job.queue_name, job.interval) for job in cron.get_jobs()}

    assert "sync_fhir" not in scheduled()
    fhir_env(FHIR_BASE_URL="https://ehr.example.test/fhir", FHIR_SYNC_INTERVAL_SECONDS="120")
    assert scheduled()[sync_job.__name__] == (SEND_QUEUE, 120)


@pytest.mark.usefixtures("fresh_demo")
def test_the_job_syncs_and_steps_aside_while_another_sync_runs(fhir_env, fake, clock, redis_client):
    from scheduler.jobs import FHIR_SYNC_LOCK
    from scheduler.jobs import sync_fhir as sync_job

    fhir_env(FHIR_BASE_URL=fake.base_url)
    assert sync_job(now=clock())["pages"] == len(SYNC_ORDER)
    with redis_client.lock(FHIR_SYNC_LOCK, timeout=60):
        assert sync_job(now=clock()) == {"skipped": "another FHIR sync is running"}
