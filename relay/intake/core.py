"""The one import core: upsert a batch of clinic records by their identifiers, then re-plan what they touched.

Every door calls `import_batch`: FHIR Bundles and the sync from the EHR, CSV
files, the JSON API's single records, the demo clinic. Within the caller's
transaction it

1. writes the records kind by kind, references first (KINDS): a record is
   checked whole before any of its values is set, so a rejected record leaves
   nothing behind, and a row whose values are all the same is not written;
2. derives the status of the referrals the EHR described (relay.intake.referral_rows);
3. marks every appointment it wrote as known to the EHR (no write-back of
   what the EHR itself sent);
4. re-plans the outreach of every referral it changed, or whose patient,
   appointment or status it changed: the same plan as a status change through
   the API, so importing the same data twice plans nothing twice.

Should the database still refuse something the checks let through, the batch
is rolled back to its savepoint and written again one record at a time, each
in its own savepoint, so the bad record is reported and the good ones land.
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import insert, inspect, select, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from relay.core.clock import require_aware
from relay.intake import directory, people, referral_rows
from relay.intake.context import ImportContext, Rejected, RowIndex, chunks
from relay.intake.gc_pause import collector_paused
from relay.intake.records import KIND_OF, KINDS, Batch, Record, Rejection, record_key
from relay.intake.report import ImportReport
from relay.models import Appointment, ConsentEvent, Referral
from relay.models.base import table_of
from relay.outreach.bulk import replan_referrals
from relay.outreach.reconcile import replan_appointment, replan_referral
from relay.records import audit
from relay.records.clinics import get_clinic

log = logging.getLogger("relay.intake.core")

# Fewer referrals than this are re-planned one by one; more go through the set-based planner.
BULK_REPLAN_FROM = 50

Preload = Callable[[ImportContext, list[Any]], None]
Apply = Callable[[ImportContext, Any], str]
WRITERS: dict[str, tuple[Preload, Apply]] = {
    "locations": (directory.preload_locations, directory.apply_location),
    "providers": (directory.preload_providers, directory.apply_provider),
    "specialists": (directory.preload_specialists, directory.apply_specialist),
    "slots": (directory.preload_slots, directory.apply_slot),
    "patients": (people.preload_patients, people.apply_patient),
    "coverages": (people.preload_coverages, people.apply_coverage),
    "referrals": (referral_rows.preload_referrals, referral_rows.apply_referral),
    "authorizations": (referral_rows.preload_authorizations, referral_rows.apply_authorization),
    "appointments": (referral_rows.preload_appointments, referral_rows.apply_appointment),
}


def import_batch(session: Session, batch: Batch, *, now: datetime, source: str, replan: bool = True) -> ImportReport:
    """Import the batch into the session's transaction (the caller commits) and report what happened.

    `replan=False` leaves planning to the caller, who plans everything at once
    afterwards (`relay seed-demo` runs replan_all).
    """
    require_aware(now, "now")
    clinic = get_clinic(session)
    by_kind: dict[str, list[Record]] = defaultdict(list)
    for record in batch.records:
        by_kind[KIND_OF[type(record)]].append(record)

    def fresh_context() -> ImportContext:
        return ImportContext(session=session, now=now, actor=f"import:{source}", region=clinic.region,
                             tz=clinic.timezone, replan=replan)  # fmt: skip

    with collector_paused():
        try:
            with session.begin_nested():
                report = _write(fresh_context(), by_kind, batch, careful=False)
        except (IntegrityError, DataError) as exc:
            log.warning("import:%s: the database refused the batch (%s); writing it record by record", source,
                        type(exc.orig).__name__)  # fmt: skip
            report = _write(fresh_context(), by_kind, batch, careful=True)
    log.info(
        "import:%s: %d created, %d updated, %d unchanged, %d rejected; %d referrals re-planned",
        source,
        report.total("created"),
        report.total("updated"),
        report.total("unchanged"),
        report.total("rejected"),
        report.referrals_replanned,
    )
    return report


def _write(ctx: ImportContext, by_kind: dict[str, list[Record]], batch: Batch, *, careful: bool) -> ImportReport:
    report = ImportReport()
    for rejection in batch.rejected:
        report.reject(rejection)
    for kind in KINDS:
        records = by_kind.get(kind)
        if not records:
            continue
        preload, apply = WRITERS[kind]
        preload(ctx, records)
        for record in records:
            outcome = _apply_one(ctx, apply, record, careful=careful)
            if isinstance(outcome, Rejection):
                report.reject(Rejection(kind, batch.name_of(record), outcome.reason))
            else:
                report.count(kind, outcome)
        ctx.insert_staged()
        ctx.session.flush()  # the next kinds refer to these rows by id
        if kind == "patients":
            _write_consent_events(ctx)
    _settle_appointments_and_statuses(ctx)
    _audit_explicit_status_changes(ctx)
    report.referrals_replanned = _replan(ctx) if ctx.replan else 0
    if report.changed:
        audit.record(ctx.session, actor=ctx.actor, action="import.batch", now=ctx.now,
                     details={"counts": report.as_dict()["counts"]})  # fmt: skip
        ctx.session.flush()
    return report


def _apply_one(ctx: ImportContext, apply: Apply, record: Record, *, careful: bool) -> str | Rejection:
    """The outcome, or the rejection (its kind and name filled in by the caller)."""
    key = record_key(record)
    if not careful:
        try:
            return apply(ctx, record)
        except Rejected as exc:
            return Rejection("", key, str(exc))
    try:
        with ctx.session.begin_nested():
            outcome = apply(ctx, record)
            ctx.insert_staged()
            ctx.session.flush()
            return outcome
    except Rejected as exc:
        return Rejection("", key, str(exc))
    except (IntegrityError, DataError) as exc:
        ctx.staged.clear()
        ctx.staged_keys.clear()
        _forget_unsaved(ctx)
        return Rejection("", key, f"the database refused it ({_constraint(exc)})")


def _constraint(exc: IntegrityError | DataError) -> str:
    """The kind of refusal, without the values (they may be PHI)."""
    text = str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
    return text.split("DETAIL")[0].strip()[:200]


def _forget_unsaved(ctx: ImportContext) -> None:
    """After a savepoint's rollback its new rows are gone: drop them from the indexes."""
    indexes: list[RowIndex[Any]] = [ctx.locations, ctx.providers, ctx.specialists, ctx.patients, ctx.referrals,
                                     ctx.appointments]  # fmt: skip
    for index in indexes:
        for row in index.rows():
            if row not in ctx.session or inspect(row).transient:
                index.forget(row)


def _write_consent_events(ctx: ImportContext) -> None:
    if ctx.consent_events:
        rows = [{"patient_id": patient.id, "phone": phone, "consented": consented, "source": ctx.actor, "at": ctx.now}
                for patient, phone, consented in ctx.consent_events]  # fmt: skip
        ctx.session.execute(insert(ConsentEvent), rows)
    ctx.consent_events.clear()


def _settle_appointments_and_statuses(ctx: ImportContext) -> None:
    appointments = list(ctx.changed_appointments)
    if appointments:
        referral_rows.hold_slots(ctx, appointments)
        ids = [appointment.id for appointment in appointments]
        column = table_of(Appointment).c
        for part in chunks(ids):
            # The EHR sent this state: nothing to write back (relay.intake.fhir_sync writes Relay's own changes).
            ctx.session.execute(
                update(table_of(Appointment)).where(column.id.in_(part)).values(ehr_synced_version=column.version)
            )
    to_derive = (ctx.derive_status | {appointment.referral for appointment in appointments}) - ctx.explicit_status
    if not to_derive:
        return
    by_referral = _appointments_of(ctx.session, [referral.id for referral in to_derive])
    for referral in to_derive:
        before = ctx.status_before.get(referral, referral.status)
        if referral.ehr_status is not None:
            status = referral_rows.derived_status(referral, by_referral[referral.id], before=before)
        else:
            status = referral_rows.from_appointments(referral.status, by_referral[referral.id], before=before)
        if status == referral.status and (before is None or status == before):
            continue
        referral.status = status
        ctx.changed_referrals.add(referral)
        if before is not None and status != before:
            audit.record(ctx.session, actor=ctx.actor, action="referral.status_changed", now=ctx.now,
                         patient_id=referral.patient_id, referral_id=referral.id,
                         details={"from": before, "to": status})  # fmt: skip
    ctx.session.flush()


def _audit_explicit_status_changes(ctx: ImportContext) -> None:
    """A status the source stated is a status change like any other: planning dates the campaign from it."""
    for referral in ctx.explicit_status:
        before = ctx.status_before.get(referral)
        if before is not None and referral.status != before:
            audit.record(ctx.session, actor=ctx.actor, action="referral.status_changed", now=ctx.now,
                         patient_id=referral.patient_id, referral_id=referral.id,
                         details={"from": before, "to": referral.status})  # fmt: skip
    ctx.session.flush()


def _appointments_of(session: Session, referral_ids: list[int]) -> dict[int, list[Appointment]]:
    found: dict[int, list[Appointment]] = defaultdict(list)
    for part in chunks(sorted(referral_ids)):
        for appointment in session.scalars(select(Appointment).where(Appointment.referral_id.in_(part))):
            found[appointment.referral_id].append(appointment)
    return found


def _replan(ctx: ImportContext) -> int:
    referral_ids = {referral.id for referral in ctx.changed_referrals}
    referral_ids |= {appointment.referral_id for appointment in ctx.changed_appointments}
    patient_ids = [patient.id for patient in ctx.changed_patients]
    for part in chunks(sorted(patient_ids)):
        referral_ids.update(ctx.session.scalars(select(Referral.id).where(Referral.patient_id.in_(part))))
    if len(referral_ids) >= BULK_REPLAN_FROM:
        replan_referrals(ctx.session, referral_ids=referral_ids, now=ctx.now)
    else:
        for referral_id in sorted(referral_ids):
            referral = ctx.session.get_one(Referral, referral_id)
            replan_referral(ctx.session, referral=referral, now=ctx.now)
            for appointment in referral.appointments:
                replan_appointment(ctx.session, appointment=appointment, now=ctx.now)
    return len(referral_ids)
