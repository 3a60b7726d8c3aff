"""Referrals, their prior authorizations and appointments from an import.

A referral's status comes either as Relay's own word (CSV, the JSON API, the
demo), which is stored as given, or as the EHR's ServiceRequest status, from
which it is derived together with its appointments and authorization
(`derived_status`; the table is in docs/fhir.md). An appointment record of a
referral whose status was not given moves it the way a booking in Relay
would: a live appointment makes it scheduled, a completed one completed.
"""

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from relay.intake.context import ImportContext, Rejected, assign, check_lengths, chunks
from relay.intake.records import AppointmentRecord, AuthorizationRecord, Ref, ReferralRecord, is_set
from relay.models import Appointment, BookedSlot, PublishedSlot, Referral, WeeklyAvailability
from relay.models.referral import (
    LIVE_APPOINTMENT_STATUSES,
    AppointmentStatus,
    AuthorizationStatus,
    ReferralPriority,
    ReferralStatus,
    ReferralType,
)

_S = ReferralStatus
# The EHR's ServiceRequest status -> Relay's status before appointments and authorization are looked at.
EHR_STATUSES: dict[str, ReferralStatus] = {
    "draft": _S.RECEIVED,
    "active": _S.READY_TO_SCHEDULE,
    "on-hold": _S.AUTHORIZATION_PENDING,
    "revoked": _S.CANCELLED,
    "entered-in-error": _S.CANCELLED,
    "completed": _S.COMPLETED,
}
_FINAL = frozenset({_S.COMPLETED, _S.DECLINED})
DEFAULT_VISIT_MINUTES = 30


def _enum(kind: type[StrEnum], value: str, what: str) -> str:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise Rejected(f"unknown {what} {value!r} (one of: {allowed})") from None


# --- referrals --------------------------------------------------------------


def preload_referrals(ctx: ImportContext, records: list[ReferralRecord]) -> None:
    ctx.referrals.preload(ctx.session, [Ref(record.external_id, record.fhir_id) for record in records])
    ctx.patients.preload(ctx.session, [record.patient for record in records if isinstance(record.patient, Ref)])
    ctx.specialists.preload(
        ctx.session, [record.specialist for record in records if isinstance(record.specialist, Ref)]
    )
    ctx.providers.preload(
        ctx.session, [record.referred_by for record in records if isinstance(record.referred_by, Ref)]
    )


def apply_referral(ctx: ImportContext, record: ReferralRecord) -> str:
    row = ctx.referrals.find(Ref(record.external_id, record.fhir_id))
    values = _referral_values(ctx, record)
    if row is None:
        for needed in ("patient_id", "specialist_id"):
            if needed not in values:
                raise Rejected(f"a new referral needs its {needed.removesuffix('_id')}")
        if not record.external_id.strip():
            raise Rejected("a referral needs an identifier")
        values.setdefault("type", ReferralType.PROVIDER if values.get("referring_provider_id") else ReferralType.SELF)
        # Until the derivation after the appointments (relay.intake.core) has its say.
        values.setdefault("status", EHR_STATUSES.get(values.get("ehr_status", ""), ReferralStatus.RECEIVED))
        values.setdefault("reason", "")
        values.setdefault("received_on", ctx.now.astimezone(ZoneInfo(ctx.tz)).date())
        values |= {"external_id": record.external_id, "fhir_id": record.fhir_id}

        def created(referral: Referral) -> None:
            ctx.referrals.remember(referral)
            ctx.status_before[referral] = None
            _note_status_source(ctx, referral, record)
            ctx.changed_referrals.add(referral)

        ctx.stage(Referral, record.external_id, values, created)
        return "created"
    before = row.status
    ids = {"external_id": record.external_id} | ({"fhir_id": record.fhir_id} if record.fhir_id else {})
    changed = assign(row, values | ids)
    ctx.status_before.setdefault(row, before)
    _note_status_source(ctx, row, record)
    if changed:
        ctx.changed_referrals.add(row)
    ctx.referrals.remember(row)
    return "updated" if changed else "unchanged"


def _note_status_source(ctx: ImportContext, row: Referral, record: ReferralRecord) -> None:
    if is_set(record.status):
        ctx.explicit_status.add(row)
    elif is_set(record.ehr_status):
        ctx.derive_status.add(row)


def _referral_values(ctx: ImportContext, record: ReferralRecord) -> dict:
    values: dict = {}
    if isinstance(record.patient, Ref):
        patient = ctx.patients.resolve(record.patient, "patient")
        values["patient_id"] = patient.id
    if isinstance(record.specialist, Ref):
        specialist = ctx.specialists.resolve(record.specialist, "specialist")
        values["specialist_id"] = specialist.id
    if isinstance(record.referred_by, Ref):
        provider = ctx.providers.find(record.referred_by)
        if provider is None and record.referred_by.key is not None:
            raise Rejected(f"unknown referring provider {record.referred_by}")
        # A requester known only by the EHR's id and not sent: the referral stands without it.
        values["referring_provider_id"] = provider.id if provider is not None else None
    elif is_set(record.referred_by):
        values["referring_provider_id"] = None
    if is_set(record.type):
        values["type"] = _enum(ReferralType, record.type, "referral type")
    if is_set(record.priority):
        values["priority"] = _enum(ReferralPriority, record.priority, "priority")
    if is_set(record.status):
        values["status"] = _enum(ReferralStatus, record.status, "referral status")
    if is_set(record.ehr_status):
        if record.ehr_status not in EHR_STATUSES:
            raise Rejected(f"unknown ServiceRequest status {record.ehr_status!r}")
        values["ehr_status"] = record.ehr_status
    if is_set(record.authorization_status) and record.authorization_status is not None:
        values["authorization_status"] = _enum(AuthorizationStatus, record.authorization_status, "authorization")
    elif is_set(record.authorization_status):
        values["authorization_status"] = None
    for name in ("reason", "received_on", "authorization_required", "authorization_submitted_on",
                 "authorization_reference"):  # fmt: skip
        value = getattr(record, name)
        if is_set(value):
            values[name] = value
    if values.get("reason") is None and "reason" in values:
        values["reason"] = ""
    check_lengths(Referral, values)
    return values


# --- prior authorization ----------------------------------------------------


def preload_authorizations(ctx: ImportContext, records: list[AuthorizationRecord]) -> None:
    ctx.referrals.preload(ctx.session, [record.referral for record in records])


def apply_authorization(ctx: ImportContext, record: AuthorizationRecord) -> str:
    referral = ctx.referrals.resolve(record.referral, "referral")
    values = {
        "authorization_required": True,
        "authorization_status": _enum(AuthorizationStatus, record.status, "authorization"),
        "authorization_reference": record.reference,
        "authorization_submitted_on": record.submitted_on,
    }
    check_lengths(Referral, values)
    had = referral.authorization_status is not None
    ctx.status_before.setdefault(referral, referral.status)
    if referral.ehr_status is not None and referral not in ctx.explicit_status:
        ctx.derive_status.add(referral)
    if not assign(referral, values):
        return "unchanged"
    ctx.changed_referrals.add(referral)
    return "updated" if had else "created"


# --- appointments -----------------------------------------------------------


def preload_appointments(ctx: ImportContext, records: list[AppointmentRecord]) -> None:
    ctx.appointments.preload(ctx.session, [Ref(record.external_id, record.fhir_id) for record in records])
    ctx.referrals.preload(ctx.session, [record.referral for record in records if isinstance(record.referral, Ref)])
    ctx.specialists.preload(
        ctx.session, [record.specialist for record in records if isinstance(record.specialist, Ref)]
    )
    appointment_ids = sorted({row.id for row in ctx.appointments.rows() if row.id is not None})
    for part in chunks(appointment_ids):
        query = select(BookedSlot).where(BookedSlot.appointment_id.in_(part))
        for held in ctx.session.scalars(query):
            if held.appointment_id is not None:
                ctx.held_slots[held.appointment_id] = held


def apply_appointment(ctx: ImportContext, record: AppointmentRecord) -> str:
    row = ctx.appointments.find(Ref(record.external_id, record.fhir_id))
    values = _appointment_values(ctx, record, row)
    if row is None:
        if "referral_id" not in values:
            raise Rejected("a new appointment needs its referral")
        if "start_at" not in values:
            raise Rejected("a new appointment needs a start time")
        referral = ctx.referrals.find(record.referral) if isinstance(record.referral, Ref) else None
        assert referral is not None  # _appointment_values resolved it
        values.setdefault("specialist_id", referral.specialist_id)
        values.setdefault("status", AppointmentStatus.SCHEDULED)
        if "duration_minutes" not in values:
            values["duration_minutes"] = _visit_minutes(ctx, values["specialist_id"], values["start_at"])
        values |= {"external_id": record.external_id, "fhir_id": record.fhir_id, "version": 1}

        def created(appointment: Appointment) -> None:
            ctx.appointments.remember(appointment)
            ctx.changed_appointments.add(appointment)

        ctx.stage(Appointment, record.external_id, values, created)
        return "created"
    ids = {"external_id": record.external_id} | ({"fhir_id": record.fhir_id} if record.fhir_id else {})
    changed = assign(row, values | ids)
    if changed:
        ctx.changed_appointments.add(row)
    ctx.appointments.remember(row)
    return "updated" if changed else "unchanged"


def _appointment_values(ctx: ImportContext, record: AppointmentRecord, row: Appointment | None) -> dict:
    values: dict = {}
    if isinstance(record.referral, Ref):
        referral = ctx.referrals.resolve(record.referral, "referral")
        values["referral_id"] = referral.id
    if isinstance(record.specialist, Ref):
        specialist = ctx.specialists.resolve(record.specialist, "specialist")
        values["specialist_id"] = specialist.id
    if is_set(record.start):
        if record.start.tzinfo is None:
            raise Rejected("the appointment's start has no time zone")
        values["start_at"] = record.start.astimezone(UTC)
    if is_set(record.duration_minutes):
        if not 0 < record.duration_minutes <= 24 * 60:
            raise Rejected(f"a visit of {record.duration_minutes} minutes is not possible")
        values["duration_minutes"] = record.duration_minutes
    if is_set(record.status):
        values["status"] = _enum(AppointmentStatus, record.status, "appointment status")
        # The EHR's "booked" is our scheduled; a patient's confirmation by text is news it has not had.
        if (
            row is not None
            and row.status == AppointmentStatus.CONFIRMED
            and values["status"] == AppointmentStatus.SCHEDULED
        ):
            values["status"] = AppointmentStatus.CONFIRMED
    return values


def _visit_minutes(ctx: ImportContext, specialist_id: int, start_at: datetime) -> int:
    """A new visit lasts its published slot, else one slot of the specialist's weekly hours."""
    if specialist_id not in ctx.published_minutes:
        # Once per specialist, not once per appointment: an import brings thousands.
        query = select(PublishedSlot.start_at, PublishedSlot.end_at).where(PublishedSlot.specialist_id == specialist_id)
        ctx.published_minutes[specialist_id] = {
            start: int((end - start) / timedelta(minutes=1)) for start, end in ctx.session.execute(query).all()
        }
    if start_at in ctx.published_minutes[specialist_id]:
        return ctx.published_minutes[specialist_id][start_at]
    if specialist_id not in ctx.slot_minutes:
        ctx.slot_minutes[specialist_id] = (
            ctx.session.scalars(
                select(WeeklyAvailability.slot_minutes).filter_by(specialist_id=specialist_id).limit(1)
            ).first()
            or DEFAULT_VISIT_MINUTES
        )
    return ctx.slot_minutes[specialist_id]


def hold_slots(ctx: ImportContext, appointments: list[Appointment]) -> None:
    """A live appointment holds its slot (so Relay offers it to nobody else); any other frees it.

    The EHR is the record: a slot it double-booked stays with the appointment
    that holds it, and a busy slot published for it becomes the appointment's.
    """
    appointments = sorted(appointments, key=lambda appointment: appointment.id)  # "first" means first stored
    live = [appointment for appointment in appointments if appointment.status in LIVE_APPOINTMENT_STATUSES]
    holders = _slot_holders(ctx, live)
    new_slots: dict[tuple[int, datetime], int] = {}  # where -> the appointment taking it, inserted together
    for appointment in appointments:
        held = ctx.held_slots.get(appointment.id)
        if appointment.status not in LIVE_APPOINTMENT_STATUSES:
            if held is not None:
                ctx.session.delete(held)
                ctx.held_slots.pop(appointment.id)
            continue
        where = (appointment.specialist_id, appointment.start_at)
        if held is not None and (held.specialist_id, held.start_at) == where:
            continue
        holder = holders.get(where)
        if where in new_slots or (holder is not None and holder.appointment_id not in (None, appointment.id)):
            continue  # double-booked in the EHR: the first appointment keeps the slot
        if holder is not None:
            if held is not None:
                ctx.session.delete(held)
                ctx.session.flush()  # one slot per appointment: let go of the old one first
            holder.appointment_id = appointment.id
            ctx.held_slots[appointment.id] = holder
        elif held is not None:
            held.specialist_id, held.start_at = where  # the appointment moved: its slot moves with it
            holders[where] = held
        else:
            new_slots[where] = appointment.id
    ctx.session.flush()
    if new_slots:
        rows = [{"specialist_id": specialist_id, "start_at": start_at, "appointment_id": appointment_id}
                for (specialist_id, start_at), appointment_id in new_slots.items()]  # fmt: skip
        ctx.session.execute(insert(BookedSlot), rows)


def _slot_holders(ctx: ImportContext, live: list[Appointment]) -> dict[tuple[int, datetime], BookedSlot]:
    holders: dict[tuple[int, datetime], BookedSlot] = {}
    by_specialist: dict[int, list[datetime]] = {}
    for appointment in live:
        by_specialist.setdefault(appointment.specialist_id, []).append(appointment.start_at)
    for specialist_id, starts in by_specialist.items():
        for part in chunks(sorted(set(starts))):
            query = select(BookedSlot).where(BookedSlot.specialist_id == specialist_id, BookedSlot.start_at.in_(part))
            for slot in ctx.session.scalars(query):
                holders[(slot.specialist_id, slot.start_at)] = slot
    return holders


# --- the status a referral comes to -----------------------------------------


def derived_status(referral: Referral, appointments: list[Appointment], *, before: str | None) -> ReferralStatus:
    """Where a referral stands, from the EHR's status, its authorization and its appointments."""
    status = EHR_STATUSES[referral.ehr_status] if referral.ehr_status else ReferralStatus(referral.status)
    authorization = referral.authorization_status
    if referral.ehr_status == "on-hold":
        if authorization == AuthorizationStatus.DENIED:
            return ReferralStatus.DECLINED
        if authorization == AuthorizationStatus.APPROVED:
            return from_appointments(ReferralStatus.READY_TO_SCHEDULE, appointments, before=before)
        return ReferralStatus.AUTHORIZATION_PENDING
    if referral.ehr_status == "active":
        if authorization == AuthorizationStatus.DENIED:
            return ReferralStatus.DECLINED
        if authorization == AuthorizationStatus.PENDING:
            return ReferralStatus.AUTHORIZATION_PENDING
        return from_appointments(status, appointments, before=before)
    return status


def from_appointments(status: ReferralStatus, appointments: list[Appointment], *, before: str | None) -> ReferralStatus:
    """Move a referral the way its appointments say, as a booking in Relay would."""
    if status in _FINAL or not appointments:
        return status
    if any(appointment.status in LIVE_APPOINTMENT_STATUSES for appointment in appointments):
        return ReferralStatus.SCHEDULED
    latest = max(appointments, key=lambda appointment: (appointment.start_at, appointment.id or 0))
    if latest.status == AppointmentStatus.COMPLETED:
        return ReferralStatus.COMPLETED
    if latest.status == AppointmentStatus.NO_SHOW:
        return ReferralStatus.NO_SHOW
    # Cancelled: the patient cancelled in Relay (the referral says so) or must book anew.
    if before == ReferralStatus.CANCELLED:
        return ReferralStatus.CANCELLED
    return ReferralStatus.READY_TO_SCHEDULE if status == ReferralStatus.SCHEDULED else status
