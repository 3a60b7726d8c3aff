"""Book, reschedule, cancel and confirm appointments, safely under races.

Who gets a slot is decided by the database, not by a look first: the booking
inserts the BookedSlot row and the UNIQUE(specialist_id, start_at) constraint
lets exactly one of two racing patients in. Each change runs in a SAVEPOINT,
so a lost race or a failure part-way leaves nothing behind and the caller's
session stays usable.

On SQLite (pysqlite's default transaction handling) a SAVEPOINT that opens the
connection's transaction is committed by its RELEASE; keeping every write of a
booking inside the one savepoint is what keeps the booking all-or-nothing there
too.
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from relay.core.clock import require_aware
from relay.models import Appointment, BookedSlot, Patient, Referral, Specialist
from relay.models.referral import LIVE_APPOINTMENT_STATUSES, AppointmentStatus, ReferralStatus
from relay.outreach.reconcile import replan_appointment, replan_referral
from relay.records import audit
from relay.records.clinics import get_clinic
from relay.scheduling.slots import load_blocks, load_published, slot_minutes

# Referral statuses a patient may book (or, when scheduled, rebook) on their own.
SELF_SCHEDULABLE_STATUSES = frozenset(
    {ReferralStatus.READY_TO_SCHEDULE, ReferralStatus.CANCELLED, ReferralStatus.NO_SHOW, ReferralStatus.SCHEDULED}
)
# An emergency waits for nobody's review: staff book it as soon as it is received.
STAFF_EMERGENCY_STATUSES = SELF_SCHEDULABLE_STATUSES | {ReferralStatus.RECEIVED}
# A slot that starts sooner than this can't be reached in time; refuses stale offers near the start.
BOOKING_MIN_LEAD = timedelta(minutes=30)


class SlotTaken(Exception):
    """Someone else got the slot first."""


class NotBookable(Exception):
    """The patient can't take this slot on their own; the message says why (no PHI)."""


def coverage_accepted(patient: Patient, specialist: Specialist) -> bool:
    """Whether the specialist takes the patient's insurance (no payer on file: no).

    Only checked where the clinic told Relay which payers the specialist takes
    (the demo file, CSV, the API, or the accepted-payer extension of a FHIR
    PractitionerRole): core FHIR has no such element, and refusing every
    booking with an EHR's specialists would help nobody.
    """
    if not specialist.insurance_accepted:
        return True
    if not patient.insurance_payer:
        return False
    payer = patient.insurance_payer.strip().casefold()
    return any(payer == accepted.strip().casefold() for accepted in specialist.insurance_accepted or [])


def book_slot(
    session: Session, *, referral: Referral, start_at: datetime, now: datetime, actor: str, by_staff: bool = False
) -> Appointment:
    """Book `start_at` for the referral, or move its live appointment there.

    Raises NotBookable (emergency, wrong status, past or off-grid time) or
    SlotTaken (someone else holds the slot). Booking the time the appointment
    already has changes nothing. An emergency referral is booked by staff
    (`by_staff`, the console), never by the patient through the bot.
    """
    # One representation for the instant: aware datetimes in different zones don't
    # compare equal across a DST fold (PEP 495).
    start_at = require_aware(start_at, "start_at").astimezone(UTC)
    require_aware(now, "now")
    if reason := _why_not_schedulable(referral, by_staff=by_staff):
        raise NotBookable(reason)
    current = live_appointment(session, referral=referral)
    if current is not None and current.start_at == start_at:
        return current  # a repeated "yes": already booked there, whoever put it on that time
    minutes = _check_bookable_time(session, referral=referral, start_at=start_at, now=now)
    # Read before the savepoint, write first inside it: on SQLite a transaction
    # that has read cannot take the write lock once someone else has committed
    # (SQLITE_BUSY_SNAPSHOT), while one that starts by writing waits its turn.
    held = _held_slot(session, appointment=current) if current is not None else None
    with session.begin_nested():
        if current is None:
            appointment = _create_appointment(session, referral=referral, start_at=start_at, minutes=minutes)
            action, details = "appointment.booked", {"start_at": _iso(start_at)}
        else:
            old_start = current.start_at
            appointment = _move_appointment(session, appointment=current, held=held, start_at=start_at,
                                            minutes=minutes)  # fmt: skip
            action = "appointment.rescheduled"
            details = {"old_start_at": _iso(old_start), "new_start_at": _iso(start_at)}
        referral.status = ReferralStatus.SCHEDULED
        session.flush()
        _record(session, appointment=appointment, action=action, details=details, now=now, actor=actor)
        replan_outreach(session, appointment=appointment, now=now)
    session.expire(referral, ["appointments"])
    return appointment


def cancel_appointment(session: Session, *, appointment: Appointment, now: datetime, actor: str) -> Appointment:
    """Cancel and free the slot; cancelling a cancelled appointment changes nothing."""
    require_aware(now, "now")
    if appointment.status == AppointmentStatus.CANCELLED:
        return appointment
    if appointment.status not in LIVE_APPOINTMENT_STATUSES:
        raise NotBookable(f"a {appointment.status} appointment can't be cancelled")
    held, referral = _held_slot(session, appointment=appointment), appointment.referral
    with session.begin_nested():
        if held is not None:
            session.delete(held)
        appointment.status = AppointmentStatus.CANCELLED
        referral.status = ReferralStatus.CANCELLED
        session.flush()
        _record(session, appointment=appointment, action="appointment.cancelled", now=now, actor=actor)
        replan_outreach(session, appointment=appointment, now=now)
    return appointment


def confirm_appointment(session: Session, *, appointment: Appointment, now: datetime, actor: str) -> Appointment:
    """The patient will come; confirming twice changes nothing."""
    require_aware(now, "now")
    if appointment.status == AppointmentStatus.CONFIRMED:
        return appointment
    if appointment.status != AppointmentStatus.SCHEDULED:
        raise NotBookable(f"a {appointment.status} appointment can't be confirmed")
    with session.begin_nested():
        appointment.status = AppointmentStatus.CONFIRMED
        session.flush()
        _record(session, appointment=appointment, action="appointment.confirmed", now=now, actor=actor)
        replan_outreach(session, appointment=appointment, now=now)
    return appointment


def replan_outreach(session: Session, *, appointment: Appointment, now: datetime) -> None:
    """Re-plan the reminders and messages that depend on this appointment.

    Every change of an appointment calls it inside the change's savepoint, so
    the plan moves in the same transaction as the appointment, or not at all.
    The referral's campaign is re-planned too: a booking ends the scheduling
    nudges, a cancellation may offer a rebooking.
    """
    replan_appointment(session, appointment=appointment, now=now)
    replan_referral(session, referral=appointment.referral, now=now)


def live_appointment(session: Session, *, referral: Referral) -> Appointment | None:
    """The referral's appointment that holds a slot, if any (the latest, should there be several)."""
    return session.scalars(
        select(Appointment)
        .where(Appointment.referral_id == referral.id, Appointment.status.in_(LIVE_APPOINTMENT_STATUSES))
        .order_by(Appointment.start_at.desc(), Appointment.id.desc())
        .limit(1)
    ).first()


# --- the steps ---------------------------------------------------------------


def _why_not_schedulable(referral: Referral, *, by_staff: bool) -> str | None:
    if referral.is_emergency and not by_staff:
        return "emergency referrals are scheduled by staff, not by the patient"
    if referral.status not in schedulable_statuses(referral, by_staff=by_staff):
        return f"a referral that is {referral.status.replace('_', ' ')} can't be scheduled by the patient"
    return None


def schedulable_statuses(referral: Referral, *, by_staff: bool) -> frozenset[ReferralStatus]:
    """The statuses from which the referral may be booked: staff book an emergency straight from received."""
    return STAFF_EMERGENCY_STATUSES if by_staff and referral.is_emergency else SELF_SCHEDULABLE_STATUSES


def _check_bookable_time(session: Session, *, referral: Referral, start_at: datetime, now: datetime) -> int:
    """The slot's length in minutes; NotBookable when the time is past or not on the specialist's grid.

    The grid is the one offers come from: the EHR's free published slots for a
    specialist who has any, else the weekly hours.
    """
    if start_at < now + BOOKING_MIN_LEAD:
        raise NotBookable("that time has passed or starts too soon to book")
    specialist_id = referral.specialist_id
    minutes = slot_minutes(
        blocks=load_blocks(session, specialist_id=specialist_id),
        published=load_published(session, specialist_id=specialist_id, since=start_at),
        start_at=start_at,
        tz=get_clinic(session).timezone,
    )
    if minutes is None:
        raise NotBookable("the specialist has no slot at that time")
    return minutes


def _create_appointment(session: Session, *, referral: Referral, start_at: datetime, minutes: int) -> Appointment:
    appointment = Appointment(
        referral_id=referral.id,
        specialist_id=referral.specialist_id,
        start_at=start_at,
        duration_minutes=minutes,
        status=AppointmentStatus.SCHEDULED,
    )
    session.add(appointment)
    session.flush()  # the slot row points at the appointment
    _take_slot(session, appointment=appointment, start_at=start_at)
    return appointment


def _move_appointment(
    session: Session, *, appointment: Appointment, held: BookedSlot | None, start_at: datetime, minutes: int
) -> Appointment:
    if held is not None:
        # Free the old slot first: the slot row's appointment_id is unique too.
        session.delete(held)
        session.flush()
    _take_slot(session, appointment=appointment, start_at=start_at)
    appointment.start_at = start_at
    appointment.duration_minutes = minutes  # the new slot's length: published slots differ
    appointment.status = AppointmentStatus.SCHEDULED  # a confirmation was for the old time
    session.flush()  # bumps the version (version_id_col)
    return appointment


def _take_slot(session: Session, *, appointment: Appointment, start_at: datetime) -> None:
    """Insert the slot row; the unique constraint decides a race, in its own savepoint."""
    try:
        with session.begin_nested():
            slot = BookedSlot(specialist_id=appointment.specialist_id, start_at=start_at, appointment_id=appointment.id)
            session.add(slot)
            session.flush()
    except IntegrityError as exc:
        raise SlotTaken("that slot was just taken") from exc


def _held_slot(session: Session, *, appointment: Appointment) -> BookedSlot | None:
    return session.scalars(select(BookedSlot).filter_by(appointment_id=appointment.id)).one_or_none()


def _record(
    session: Session,
    *,
    appointment: Appointment,
    action: str,
    now: datetime,
    actor: str,
    details: dict | None = None,
) -> None:
    """An audit event with ids, version and times only: no names, no reasons (no PHI)."""
    referral = appointment.referral
    details = details if details is not None else {"start_at": _iso(appointment.start_at)}
    audit.record(
        session,
        actor=actor,
        action=action,
        patient_id=referral.patient_id,
        referral_id=referral.id,
        details={"appointment_id": appointment.id, "version": appointment.version, **details},
        now=now,
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
