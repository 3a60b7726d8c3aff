"""Sync from the EHR's FHIR server: read what changed, import it page by page, write Relay's bookings back.

The read, per resource type in the order references need (a PractitionerRole
names its Practitioner and Location, an Appointment its ServiceRequest ...):
search `_lastUpdated=gt<since>`, sorted by `_lastUpdated` when the server
sorts, and import each page as one batch through relay.intake.core, in its
own transaction together with the type's cursor (FhirSyncCursor). The cursor
keeps the page's `next` link, so a crash between pages resumes at the next
page: nothing is skipped, and only the page that was being imported is read
twice (an import is idempotent). When the last page is in, `since` becomes
the time the round started and the link is cleared.

The round's start is taken from our clock before the first page of the first
type, less CLOCK_SKEW_MARGIN, and is the same for every type of a run. Why the
margin: a server stamps `lastUpdated` when its transaction starts but the
change is visible only when it commits, and its clock is not ours; a change
stamped shortly before we started may not have been visible yet. Reading the
last few minutes again costs only idempotent re-imports. Why one start for
every type: a ServiceRequest read after its new Patient was created (but after
the Patient pages were read) is rejected for its unknown patient; with the
same start for both, the next run reads that Patient and the ServiceRequest
again, in that order, and it lands.

The write-back, after the read: an Appointment whose `ehr_synced_version` is
not its `version` was changed in Relay (booked, moved, cancelled, ...) since
the EHR last knew it. Each such appointment of a referral that came from the
EHR is written as a FHIR Appointment: an update of the EHR's (read first, so
what Relay does not own is kept, and written with If-Match; not written at
all when the EHR already says the same, as for a confirmation, which is
"booked" either way), else a conditional create on Relay's identifier, which
a retry cannot duplicate. Then it is marked synced at the version written,
only if it has not changed meanwhile: a change made during the write is
written on the next run. A failure leaves it for the next run.

When both sides changed an appointment, the later change wins: the read
leaves out an EHR Appointment that an unwritten Relay change is newer than
(most often our own earlier write coming back) and the write-back sends
Relay's; an EHR change made after Relay's is imported like any other, which
marks the appointment known to the EHR, and Relay's is superseded.
"""

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from relay.core.clock import require_aware
from relay.core.db import new_session
from relay.core.settings import Settings, get_settings
from relay.intake.core import import_batch
from relay.intake.fhir import read_resources
from relay.intake.fhir_client import Bundle, FhirClient, FhirConfigError, FhirError, Resource, next_link
from relay.intake.records import AppointmentRecord, Batch, Rejection
from relay.intake.report import OUTCOMES, ImportReport
from relay.models import Appointment, FhirSyncCursor, Referral
from relay.models.base import table_of
from relay.models.referral import AppointmentStatus

log = logging.getLogger(__name__)

# What is read, in the order references need: each type names only types read before it or in its own page.
# The includes bring what relay.intake.fhir needs beside a resource to map it: a new specialist is a
# Practitioner together with its PractitionerRole; a Slot names its specialist through its Schedule; a
# payer's name is its Organization's; a referring provider is the ServiceRequest's requester; a prior
# authorization Task is folded into its ServiceRequest.
SYNC_ORDER: tuple[tuple[str, dict[str, str]], ...] = (
    ("Location", {}),
    ("Practitioner", {"_revinclude": "PractitionerRole:practitioner"}),
    ("PractitionerRole", {"_include": "PractitionerRole:practitioner"}),
    ("Slot", {"_include": "Slot:schedule"}),
    ("Patient", {}),
    ("Coverage", {"_include": "Coverage:payor"}),
    ("ServiceRequest", {"_include": "ServiceRequest:requester"}),
    ("Task", {"code": "approve", "_include": "Task:focus"}),
    ("Appointment", {}),
)
CLOCK_SKEW_MARGIN = timedelta(minutes=5)
# Pages a server no longer keeps (a stored `next` link expires): the round is read again from its `since`.
EXPIRED_PAGE_STATUSES = frozenset({404, 410})

APPOINTMENT_STATUS_TO_FHIR: dict[AppointmentStatus, str] = {
    AppointmentStatus.SCHEDULED: "booked",
    AppointmentStatus.CONFIRMED: "booked",
    AppointmentStatus.CANCELLED: "cancelled",
    AppointmentStatus.NO_SHOW: "noshow",
    AppointmentStatus.COMPLETED: "fulfilled",
}

SessionFactory = Callable[[], Session]


@dataclass
class WriteBackSummary:
    written: int = 0
    failed: int = 0


@dataclass
class SyncSummary:
    pages: int = 0
    by_type: dict[str, Counter[str]] = field(default_factory=dict)  # resource type -> outcome -> records
    rejections: list[Rejection] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)  # types whose round went on from a stored next link
    # EHR Appointments not imported because a later change made in Relay is about to be written over them.
    deferred: int = 0
    write_back: WriteBackSummary = field(default_factory=WriteBackSummary)

    def add_page(self, resource_type: str, report: ImportReport) -> None:
        self.pages += 1
        counter = self.by_type.setdefault(resource_type, Counter())
        for outcome in OUTCOMES:
            counter[outcome] += report.total(outcome)
        self.rejections.extend(report.rejections)

    def total(self, outcome: str) -> int:
        return sum(counter[outcome] for counter in self.by_type.values())

    def counts(self) -> dict[str, Any]:
        """Numbers only (no identifiers): what a job's result and a log line may carry."""
        return {
            "pages": self.pages,
            "by_type": {kind: {o: counter[o] for o in OUTCOMES} for kind, counter in self.by_type.items() if counter},
            "rejected": len(self.rejections),
            "resumed": list(self.resumed),
            "deferred": self.deferred,
            "written_back": self.write_back.written,
            "write_back_failed": self.write_back.failed,
        }

    def text(self) -> str:
        """For the command line (staff run it): the counts, and each rejection with its reason."""
        lines = [f"{self.pages} pages read" + (f" (resumed: {', '.join(self.resumed)})" if self.resumed else "")]
        for kind, counter in self.by_type.items():
            if counter:
                lines.append(f"{kind:17} " + ", ".join(f"{counter[o]} {o}" for o in OUTCOMES))
        lines.extend(f"  rejected {item.kind} {item.record}: {item.reason}" for item in self.rejections)
        if self.deferred:
            lines.append(f"appointments changed in Relay since the EHR's copy (written back, not imported): "
                         f"{self.deferred}")  # fmt: skip
        lines.append(f"appointments written back: {self.write_back.written}, failed: {self.write_back.failed}")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Round:
    """Where one type's read goes on from."""

    cursor_id: int
    since: datetime | None
    started_at: datetime
    next_url: str | None


@dataclass
class _Run:
    client: FhirClient
    now: datetime
    mrn_system: str
    page_size: int
    session_factory: SessionFactory
    round_start: datetime
    summary: SyncSummary
    sorts: bool = True  # cleared when the server refuses `_sort`


# --- the whole sync ------------------------------------------------------------


def sync_from_settings(*, now: datetime, settings: Settings | None = None, **client_options: Any) -> SyncSummary:
    """The sync as `relay sync fhir` and the scheduled job run it: the server and its options from the settings."""
    settings = settings or get_settings()
    if not settings.fhir_base_url:
        raise FhirConfigError("FHIR_BASE_URL is not set")
    with FhirClient.from_settings(settings, **client_options) as client:
        return sync_fhir(
            client,
            now=now,
            mrn_system=settings.fhir_mrn_system,
            page_size=settings.fhir_page_size,
            identifier_system=appointment_identifier_system(settings.base_url),
        )


def sync_fhir(
    client: FhirClient,
    *,
    now: datetime,
    mrn_system: str = "",
    page_size: int = 200,
    identifier_system: str,
    session_factory: SessionFactory = new_session,
) -> SyncSummary:
    """Read every type's changes since its cursor, import them, then write Relay's appointment changes back."""
    require_aware(now, "now")
    summary = SyncSummary()
    run = _Run(client, now, mrn_system, page_size, session_factory, _round_start(session_factory, client, now), summary)
    for resource_type, params in SYNC_ORDER:
        _read_type(run, resource_type, params)
    summary.write_back = write_back_appointments(client, identifier_system=identifier_system,
                                                 session_factory=session_factory)  # fmt: skip
    log.info("fhir sync: %s", summary.counts())
    return summary


def appointment_identifier_system(public_base_url: str) -> str:
    """The identifier system of the Appointments Relay creates: a URL of this Relay, so two never mix."""
    return f"{public_base_url.rstrip('/')}/fhir/appointment-id"


def _round_start(session_factory: SessionFactory, client: FhirClient, now: datetime) -> datetime:
    """Now less the margin, or the start of a round a crash left unfinished if that is earlier.

    Every type's round must start no later than the rounds of the types it refers to
    (see the module's docstring), and a type that resumes keeps its earlier start.
    """
    with session_factory() as session:
        unfinished = session.scalars(
            select(FhirSyncCursor.round_started_at).where(
                FhirSyncCursor.base_url == client.base_url,
                FhirSyncCursor.next_url.is_not(None),
                FhirSyncCursor.round_started_at.is_not(None),
            )
        ).all()
    return min([now - CLOCK_SKEW_MARGIN, *(moment for moment in unfinished if moment is not None)])


# --- reading one type ------------------------------------------------------------


def _read_type(run: _Run, resource_type: str, params: dict[str, str]) -> None:
    state = _open_round(run, resource_type)
    page = _first_page(run, resource_type, params, state)
    while True:
        following = next_link(page)
        report = _import_page(run, resource_type, page, state, following)
        run.summary.add_page(resource_type, report)
        if following is None:
            return
        page = run.client.page(following)


def _open_round(run: _Run, resource_type: str) -> _Round:
    """The type's cursor (made on its first sync), and the round to go on with or to start."""
    with run.session_factory() as session, session.begin():
        cursor = session.scalars(
            select(FhirSyncCursor).filter_by(base_url=run.client.base_url, resource_type=resource_type)
        ).one_or_none()
        if cursor is None:
            cursor = FhirSyncCursor(base_url=run.client.base_url, resource_type=resource_type, pages_read=0)
            session.add(cursor)
            session.flush()
        if cursor.next_url and cursor.round_started_at is not None:
            return _Round(cursor.id, cursor.since, cursor.round_started_at, cursor.next_url)
        return _Round(cursor.id, cursor.since, run.round_start, None)


def _first_page(run: _Run, resource_type: str, params: dict[str, str], state: _Round) -> Bundle:
    if state.next_url is not None:
        try:
            page = run.client.page(state.next_url)
        except FhirError as exc:
            if exc.status not in EXPIRED_PAGE_STATUSES:
                raise
            log.warning("fhir sync %s: the stored page expired (%s); reading the round again", resource_type,
                        exc.status)  # fmt: skip
        else:
            run.summary.resumed.append(resource_type)
            return page
    return _search(run, resource_type, _search_params(run, params, state.since))


def _search_params(run: _Run, params: dict[str, str], since: datetime | None) -> dict[str, str]:
    query = {"_count": str(run.page_size), **params}
    if since is not None:
        query["_lastUpdated"] = f"gt{fhir_instant(since)}"
    if run.sorts:
        # Oldest change first: a steady order to page through (what changes meanwhile comes again next round).
        query["_sort"] = "_lastUpdated"
    return query


def _search(run: _Run, resource_type: str, query: dict[str, str]) -> Bundle:
    try:
        return run.client.search_page(resource_type, query)
    except FhirError as exc:
        if exc.status != 400 or "_sort" not in query:
            raise
    # A strict server refuses a `_sort` it does not support; the order is a nicety, not needed for completeness.
    log.info("fhir sync %s: the server refused _sort; reading unsorted", resource_type)
    run.sorts = False
    return run.client.search_page(resource_type, {k: v for k, v in query.items() if k != "_sort"})


def _import_page(run: _Run, resource_type: str, page: Bundle, state: _Round, following: str | None) -> ImportReport:
    """One page, one transaction: its records and the cursor's move past it are committed together."""
    batch = read_resources(_resources_of(page), mrn_system=run.mrn_system)
    session = run.session_factory()
    try:
        deferred = _keep_relay_changes_not_yet_written(session, batch, page)
        report = import_batch(session, batch, now=run.now, source=f"fhir:{resource_type}")
        cursor = session.get_one(FhirSyncCursor, state.cursor_id)
        if cursor.next_url is None:  # the round's first page
            cursor.round_started_at = state.started_at
            cursor.pages_read = 0  # pages of the current round
        cursor.pages_read += 1
        cursor.next_url = following
        if following is None:
            cursor.since = state.started_at
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    run.summary.deferred += deferred
    log.info("fhir sync %s: page of %d entries imported", resource_type, len(page.get("entry") or []))
    return report


def _keep_relay_changes_not_yet_written(session: Session, batch: Batch, page: Bundle) -> int:
    """Leave out the EHR's Appointments that a change made in Relay, not yet written back, is newer than.

    The copy read is often our own earlier write coming back (a booking POSTed, then cancelled by the
    patient before the next sync): imported, it would undo the cancellation and mark it known to the EHR,
    which never heard of it. Of two changes the later one is kept, by the two clocks (the EHR's
    meta.lastUpdated, our updated_at): Relay's goes out by the write-back after this read, and an
    EHR change made after Relay's is imported as any other (and Relay's is then superseded).
    Returns how many were left out.
    """
    records = [record for record in batch.records if isinstance(record, AppointmentRecord)]
    if not records:
        return 0
    ehr_changed_at = {
        resource["id"]: _parse_instant((resource.get("meta") or {}).get("lastUpdated"))
        for resource in _resources_of(page)
        if resource.get("resourceType") == "Appointment" and resource.get("id")
    }
    relay_changed_at = _unwritten_changes(session, records)
    kept = [
        record
        for record in batch.records
        if not (
            isinstance(record, AppointmentRecord)
            and (relay_at := relay_changed_at.get(record.external_id) or relay_changed_at.get(record.fhir_id or ""))
            and (ehr_at := ehr_changed_at.get(record.fhir_id or "")) is not None
            and relay_at > ehr_at
        )
    ]
    deferred = len(batch.records) - len(kept)
    batch.records = kept
    return deferred


def _unwritten_changes(session: Session, records: list[AppointmentRecord]) -> dict[str, datetime]:
    """When each of these appointments (by external id and by FHIR id) last changed, for those with a change
    made in Relay that the EHR has not been told."""
    keys = [record.external_id for record in records]
    fhir_ids = [record.fhir_id for record in records if record.fhir_id]
    rows = session.execute(
        select(Appointment.external_id, Appointment.fhir_id, Appointment.updated_at).where(
            or_(Appointment.external_id.in_(keys), Appointment.fhir_id.in_(fhir_ids)),
            Appointment.ehr_synced_version.is_distinct_from(Appointment.version),
        )
    ).all()
    changed: dict[str, datetime] = {}
    for external_id, fhir_id, updated_at in rows:
        for name in (external_id, fhir_id):
            if name:
                changed[name] = updated_at
    return changed


def _parse_instant(value: object) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _resources_of(page: Bundle) -> list[Resource]:
    """The page's resources: the matches and what `_include` brought, not the server's OperationOutcome notes."""
    return [
        entry["resource"]
        for entry in page.get("entry") or []
        if isinstance(entry.get("resource"), dict) and entry["resource"].get("resourceType") != "OperationOutcome"
    ]


def fhir_instant(moment: datetime) -> str:
    """A FHIR instant in UTC to the millisecond, cut down (a bound a little early only reads a little more)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- the write-back --------------------------------------------------------------


@dataclass(frozen=True)
class _Pending:
    """What is written for one appointment, read in one go so it is one version's state."""

    appointment_id: int
    version: int
    fhir_id: str | None
    resource: Resource


def write_back_appointments(
    client: FhirClient, *, identifier_system: str, session_factory: SessionFactory = new_session
) -> WriteBackSummary:
    """Write every appointment changed in Relay (of a referral from the EHR) to the EHR; counts only in the logs."""
    summary = WriteBackSummary()
    for appointment_id in _unsynced_appointment_ids(session_factory):
        try:
            pending = _pending(session_factory, appointment_id, identifier_system)
            if pending is None:
                continue  # synced by someone else since the list was read
            fhir_id, written_version = _send(client, pending, identifier_system)
            _mark_synced(session_factory, pending.appointment_id, fhir_id, written_version)
        except (FhirError, IntegrityError) as exc:
            summary.failed += 1
            log.warning("fhir write-back of appointment %d failed: %s", appointment_id, _why(exc))
            continue
        summary.written += 1
    if summary.written or summary.failed:
        log.info("fhir write-back: %d appointments written, %d failed", summary.written, summary.failed)
    return summary


def _why(exc: Exception) -> str:
    """The reason for a log line: a FhirError carries none of the resource; a database error's values might."""
    return str(exc) if isinstance(exc, FhirError) else type(exc).__name__


def _unsynced_appointment_ids(session_factory: SessionFactory) -> list[int]:
    with session_factory() as session:
        return list(
            session.scalars(
                select(Appointment.id)
                .join(Referral, Appointment.referral_id == Referral.id)
                .where(
                    Referral.fhir_id.is_not(None),
                    Appointment.ehr_synced_version.is_distinct_from(Appointment.version),
                )
                .order_by(Appointment.id)
            )
        )


def _pending(session_factory: SessionFactory, appointment_id: int, identifier_system: str) -> _Pending | None:
    """The appointment's state to write, read in one transaction that ends before any HTTP request.

    A new one is given the external id its FHIR identifier carries (unless it has one) before it is
    POSTed: should we crash after the EHR took it but before its id is stored, the next sync finds the
    EHR's copy by that identifier (relay.intake.fhir keys appointments by it) instead of importing a twin,
    and the retried conditional create finds it too.
    """
    with session_factory() as session, session.begin():
        appointment = session.get(Appointment, appointment_id)
        if appointment is None or appointment.ehr_synced_version == appointment.version:
            return None
        identifier = appointment.external_id or f"relay-appointment-{appointment.id}"
        if appointment.external_id is None and appointment.fhir_id is None:
            table = table_of(Appointment)  # a Core UPDATE: an ORM flush would bump the version
            session.execute(
                update(table).where(table.c.id == appointment.id, table.c.external_id.is_(None))
                .values(external_id=identifier)
            )  # fmt: skip
        resource = appointment_resource(appointment, identifier_system=identifier_system, identifier=identifier)
        return _Pending(appointment.id, appointment.version, appointment.fhir_id, resource)


def appointment_resource(appointment: Appointment, *, identifier_system: str, identifier: str) -> Resource:
    """Relay's appointment as a FHIR R4 Appointment (checked against the R4B model before it leaves)."""
    referral = appointment.referral
    actors = [f"Patient/{referral.patient.fhir_id}"] if referral.patient.fhir_id else []
    if appointment.specialist.fhir_id:
        actors.append(f"Practitioner/{appointment.specialist.fhir_id}")
    end = appointment.start_at + timedelta(minutes=appointment.duration_minutes)
    resource: Resource = {
        "resourceType": "Appointment",
        "identifier": [{"system": identifier_system, "value": identifier}],
        "status": APPOINTMENT_STATUS_TO_FHIR[appointment.status],
        "start": fhir_instant(appointment.start_at),
        "end": fhir_instant(end),
        "minutesDuration": appointment.duration_minutes,
        "basedOn": [{"reference": f"ServiceRequest/{referral.fhir_id}"}],
        "participant": [{"actor": {"reference": actor}, "status": "accepted"} for actor in actors],
    }
    FhirAppointment.model_validate(resource)
    return resource


def _send(client: FhirClient, pending: _Pending, identifier_system: str) -> tuple[str, int]:
    """Create or update the EHR's Appointment; its id and the version of ours that it now holds."""
    if pending.fhir_id is None:
        value = pending.resource["identifier"][0]["value"]
        created = client.create(pending.resource, if_none_exist=f"identifier={identifier_system}|{value}")
        return str(created["id"]), pending.version
    current = client.read("Appointment", pending.fhir_id)
    merged = _merged(current, pending.resource)
    if _already_says(current, merged):
        # A confirmation is "booked" as before: writing it would change nothing but make an echo to read back.
        return pending.fhir_id, pending.version
    # If-Match: should the EHR change it between our read and our write, the write fails and the next run reads it.
    client.update(merged, if_match_version=(current.get("meta") or {}).get("versionId"))
    return pending.fhir_id, pending.version


def _already_says(current: Resource, merged: Resource) -> bool:
    """Whether the EHR's Appointment already says what Relay would write (the same instants, however written)."""
    return (
        current.get("status") == merged["status"]
        and _parse_instant(current.get("start")) == _parse_instant(merged["start"])
        and _parse_instant(current.get("end")) == _parse_instant(merged["end"])
        and current.get("basedOn") == merged["basedOn"]
        and current.get("participant") == merged["participant"]
    )


def _merged(current: Resource, ours: Resource) -> Resource:
    """The EHR's Appointment with what Relay decides (status and time) set, and everything else of the EHR's kept."""
    merged = dict(current)
    for name in ("status", "start", "end", "minutesDuration"):
        merged[name] = ours[name]
    based_on = list(current.get("basedOn") or [])
    for reference in ours["basedOn"]:
        if reference not in based_on:
            based_on.append(reference)
    merged["basedOn"] = based_on
    named = {(p.get("actor") or {}).get("reference") for p in current.get("participant") or []}
    merged["participant"] = list(current.get("participant") or []) + [
        p for p in ours["participant"] if p["actor"]["reference"] not in named
    ]
    return merged


def _mark_synced(session_factory: SessionFactory, appointment_id: int, fhir_id: str, written_version: int) -> None:
    """Remember the EHR's id, and that it has `written_version`, unless the appointment changed meanwhile.

    Core UPDATEs, not the ORM: these columns are bookkeeping, and an ORM flush would bump `version`.
    """
    table = table_of(Appointment)
    with session_factory() as session, session.begin():
        session.execute(
            update(table).where(table.c.id == appointment_id, table.c.fhir_id.is_(None)).values(fhir_id=fhir_id)
        )
        session.execute(
            update(table)
            .where(table.c.id == appointment_id, table.c.version == written_version)
            .values(ehr_synced_version=written_version)
        )
