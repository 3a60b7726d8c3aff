"""Referral status changes as an EHR or staff make them: validated, applied, audited, re-planned.

Allowed moves (anything else raises InvalidTransition, which lists the allowed ones):

    received              -> authorization_pending, ready_to_schedule, declined, cancelled
    authorization_pending -> ready_to_schedule, declined (a denied authorization), cancelled
    ready_to_schedule     -> scheduled, cancelled
    scheduled             -> completed, no_show, cancelled, ready_to_schedule
    no_show               -> ready_to_schedule, scheduled, cancelled
    cancelled             -> ready_to_schedule, scheduled
    completed, declined   -> nothing (final)

`scheduled` is reached by booking an appointment (relay.scheduling.booking.book_slot),
which sets the status itself. Here it is allowed only when the referral already
has a live appointment (a status record catching up); without one the
transition is refused, since reminders need an appointment to be about.

Posting the status the referral already has changes nothing but the
authorization details given with it (EHRs resend).

What happens to the live (scheduled or confirmed) appointment:
- completed / no_show: the appointment takes that status and frees its slot;
- cancelled: relay.scheduling.booking.cancel_appointment (slot freed, audited);
- ready_to_schedule (from scheduled): the appointment is cancelled and its
  slot freed, so the patient books anew.
"""

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay.core.clock import require_aware
from relay.models import Appointment, BookedSlot, Referral
from relay.models.referral import AppointmentStatus, AuthorizationStatus, ReferralStatus
from relay.outreach.reconcile import replan_appointment, replan_referral
from relay.records import audit
from relay.scheduling.booking import cancel_appointment, live_appointment

_S = ReferralStatus
TRANSITIONS: dict[ReferralStatus, tuple[ReferralStatus, ...]] = {
    _S.RECEIVED: (_S.AUTHORIZATION_PENDING, _S.READY_TO_SCHEDULE, _S.DECLINED, _S.CANCELLED),
    _S.AUTHORIZATION_PENDING: (_S.READY_TO_SCHEDULE, _S.DECLINED, _S.CANCELLED),
    _S.READY_TO_SCHEDULE: (_S.SCHEDULED, _S.CANCELLED),
    _S.SCHEDULED: (_S.COMPLETED, _S.NO_SHOW, _S.CANCELLED, _S.READY_TO_SCHEDULE),
    _S.NO_SHOW: (_S.READY_TO_SCHEDULE, _S.SCHEDULED, _S.CANCELLED),
    _S.CANCELLED: (_S.READY_TO_SCHEDULE, _S.SCHEDULED),
    _S.COMPLETED: (),
    _S.DECLINED: (),
}
# A denied authorization cannot carry the referral towards a visit.
_NOT_WITH_DENIED = (_S.READY_TO_SCHEDULE, _S.SCHEDULED, _S.COMPLETED, _S.NO_SHOW)


@dataclass
class InvalidTransition(Exception):
    current: ReferralStatus
    requested: str
    allowed: tuple[ReferralStatus, ...]
    reason: str

    def __str__(self) -> str:
        return self.reason


def allowed_transitions(session: Session, referral: Referral) -> tuple[ReferralStatus, ...]:
    """Where the referral may go from here (`scheduled` only with a live appointment)."""
    allowed = TRANSITIONS.get(referral.status, ())
    if ReferralStatus.SCHEDULED in allowed and live_appointment(session, referral=referral) is None:
        allowed = tuple(status for status in allowed if status != ReferralStatus.SCHEDULED)
    return allowed


def change_referral_status(
    session: Session,
    *,
    referral: Referral,
    status: str,
    now: datetime,
    actor: str,
    authorization: dict | None = None,
) -> Referral:
    """Move the referral to `status` (with its live appointment), audit it and re-plan its outreach.

    `authorization`: optional {"status": approved|pending|denied, "reference": str,
    "submitted_on": date or "YYYY-MM-DD"}; given keys update the referral.
    Raises InvalidTransition; nothing is changed then.
    """
    require_aware(now, "now")
    authorization = _checked_authorization(authorization)
    current = referral.status
    allowed = allowed_transitions(session, referral)
    target = current if status == current else _check(session, referral=referral, status=status, allowed=allowed)
    if authorization and authorization.get("status") == AuthorizationStatus.DENIED and target in _NOT_WITH_DENIED:
        raise InvalidTransition(
            current, target, allowed, f"a denied authorization can't make the referral {target.replace('_', ' ')}"
        )

    with session.begin_nested():
        if authorization:
            _apply_authorization(referral, authorization)
        if target != current:
            _settle_appointment(session, referral=referral, status=target, now=now, actor=actor)
            referral.status = target
        session.flush()
        if target != current or authorization:
            details: dict = {"from": current, "to": target}
            if authorization and "status" in authorization:
                details["authorization_status"] = authorization["status"]
            audit.record(
                session,
                actor=actor,
                action="referral.status_changed" if target != current else "referral.authorization_updated",
                patient_id=referral.patient_id,
                referral_id=referral.id,
                details=details,
                now=now,
            )
            session.flush()
        for appointment in session.scalars(select(Appointment).filter_by(referral_id=referral.id)).all():
            replan_appointment(session, appointment=appointment, now=now)
        replan_referral(session, referral=referral, now=now)
    session.expire(referral, ["appointments"])
    return referral


def _check(session: Session, *, referral: Referral, status: str, allowed: tuple[ReferralStatus, ...]) -> ReferralStatus:
    """The requested status, if the referral may move there; InvalidTransition (with the reason) if not."""
    current = referral.status
    if status not in set(ReferralStatus):
        raise InvalidTransition(current, status, allowed, f"{status!r} is not a referral status")
    if status in allowed:
        return ReferralStatus(status)
    if status in TRANSITIONS.get(current, ()):  # only `scheduled` is ever held back
        reason = "a referral becomes scheduled by booking an appointment; it has no live appointment"
    elif not TRANSITIONS.get(current):
        reason = f"a {current.replace('_', ' ')} referral is final"
    else:
        reason = f"a referral can't go from {current} to {status}"
    raise InvalidTransition(current, status, allowed, reason)


def _settle_appointment(
    session: Session, *, referral: Referral, status: ReferralStatus, now: datetime, actor: str
) -> None:
    appointment = live_appointment(session, referral=referral)
    if appointment is None:
        return
    if status == ReferralStatus.CANCELLED:
        cancel_appointment(session, appointment=appointment, now=now, actor=actor)
    elif status == ReferralStatus.COMPLETED:
        _close(session, appointment=appointment, status=AppointmentStatus.COMPLETED, now=now, actor=actor)
    elif status == ReferralStatus.NO_SHOW:
        _close(session, appointment=appointment, status=AppointmentStatus.NO_SHOW, now=now, actor=actor)
    elif status == ReferralStatus.READY_TO_SCHEDULE:
        _close(session, appointment=appointment, status=AppointmentStatus.CANCELLED, now=now, actor=actor)


def _close(session: Session, *, appointment: Appointment, status: AppointmentStatus, now: datetime, actor: str) -> None:
    """End the appointment with `status` and free its slot (the referral's status is set by the caller)."""
    held = session.scalars(select(BookedSlot).filter_by(appointment_id=appointment.id)).one_or_none()
    if held is not None:
        session.delete(held)
    appointment.status = status
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=f"appointment.{status}",
        patient_id=appointment.referral.patient_id,
        referral_id=appointment.referral_id,
        details={"appointment_id": appointment.id, "version": appointment.version},
        now=now,
    )


def _checked_authorization(authorization: dict | None) -> dict | None:
    if not authorization:
        return None
    unknown = set(authorization) - {"status", "reference", "submitted_on"}
    if unknown:
        raise ValueError(f"unknown authorization fields: {', '.join(sorted(unknown))}")
    checked = {key: value for key, value in authorization.items() if value is not None}
    if "status" in checked:
        if checked["status"] not in set(AuthorizationStatus):
            raise ValueError(f"authorization status must be one of {', '.join(AuthorizationStatus)}")
        checked["status"] = AuthorizationStatus(checked["status"])
    if isinstance(checked.get("submitted_on"), str):
        checked["submitted_on"] = date.fromisoformat(checked["submitted_on"])
    return checked or None


def _apply_authorization(referral: Referral, authorization: dict) -> None:
    referral.authorization_required = True
    if "status" in authorization:
        referral.authorization_status = authorization["status"]
    if "reference" in authorization:
        referral.authorization_reference = authorization["reference"]
    if "submitted_on" in authorization:
        referral.authorization_submitted_on = authorization["submitted_on"]
