"""Reconcile one subject's rows with its plan: an appointment's reminders, a referral's campaign.

`replan_appointment` / `replan_referral` diff the desired rows (relay.outreach.plan)
against the existing ones of the same subject and kinds, by idempotency key:
missing rows are added; pending rows (planned, queued) no longer wanted are
cancelled (error_code superseded); rows already there are left as they are
(their times do not drift); history (sending, sent, delivered, failed) is
never touched. State changes of existing rows are conditional UPDATEs on the
state, so a row the execution side has just claimed is never cancelled under
it. `still_applies` is the send-time question: is this row still in its
subject's plan?
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from relay.core.clock import require_aware
from relay.language.languages import language_of
from relay.models import Appointment, AuditEvent, Patient, PlannedOutreach, Referral
from relay.models.outreach import APPOINTMENT_KINDS, PENDING_STATES, REFERRAL_KINDS, OutreachState
from relay.outreach.cadence import Cadence, load_cadence
from relay.outreach.plan import (
    NO_CONSENT,
    REVIVABLE_CODES,
    STATUS_ACTIONS,
    SUPERSEDED,
    AppointmentFacts,
    Audience,
    DesiredOutreach,
    ReferralFacts,
    plan_appointment,
    plan_referral,
    planning_state,
    referral_facts_from,
    status_entry,
)
from relay.records.clinics import session_clinic
from relay.records.consent import is_opted_out


def replan_appointment(session: Session, *, appointment: Appointment, now: datetime) -> None:
    """Bring the appointment's confirmation and reminders in line with its state (idempotent)."""
    require_aware(now, "now")
    cadence = load_cadence()
    referral = appointment.referral
    patient = referral.patient
    facts = appointment_facts(appointment, audience=audience_of(session, patient, cadence))
    existing = session.scalars(
        select(PlannedOutreach).where(
            PlannedOutreach.appointment_id == appointment.id, PlannedOutreach.kind.in_(APPOINTMENT_KINDS)
        )
    ).all()
    _reconcile(
        session,
        desired=plan_appointment(facts, cadence, now),
        existing=existing,
        patient=patient,
        referral_id=referral.id,
        now=now,
    )


def replan_referral(session: Session, *, referral: Referral, now: datetime) -> None:
    """Bring the referral's status campaign in line with its state (idempotent)."""
    require_aware(now, "now")
    cadence = load_cadence()
    patient = referral.patient
    existing = _referral_rows(session, referral)
    facts = referral_facts(session, referral, audience=audience_of(session, patient, cadence), now=now, rows=existing)
    _reconcile(
        session,
        desired=plan_referral(facts, cadence),
        existing=existing,
        patient=patient,
        referral_id=referral.id,
        now=now,
    )


def still_applies(session: Session, outreach: PlannedOutreach, now: datetime) -> bool:
    """Is this row still part of its subject's plan (send time re-check)?

    False when the row was set aside, its appointment was cancelled, completed
    or moved (the key names the old time), its referral moved to another
    status, or the message can never go (blocked by quiet hours). Consent,
    quiet hours at `now` and `valid_until` are the sender's own checks.
    """
    require_aware(now, "now")
    if outreach.state in (OutreachState.CANCELLED, OutreachState.SKIPPED):
        return False
    cadence = load_cadence()
    if outreach.kind in APPOINTMENT_KINDS:
        appointment = session.get(Appointment, outreach.appointment_id) if outreach.appointment_id else None
        if appointment is None:
            return False
        audience = audience_of(session, appointment.referral.patient, cadence)
        desired = plan_appointment(appointment_facts(appointment, audience=audience), cadence, now)
    else:
        referral = session.get(Referral, outreach.referral_id) if outreach.referral_id else None
        if referral is None:
            return False
        audience = audience_of(session, referral.patient, cadence)
        desired = plan_referral(referral_facts(session, referral, audience=audience, now=now), cadence)
    item = next((d for d in desired if d.idempotency_key == outreach.idempotency_key), None)
    return item is not None and item.blocked is None


def appointment_facts(appointment: Appointment, *, audience: Audience) -> AppointmentFacts:
    return AppointmentFacts(
        id=appointment.id, start_at=appointment.start_at, status=appointment.status, audience=audience
    )


def referral_facts(
    session: Session,
    referral: Referral,
    *,
    audience: Audience,
    now: datetime,
    rows: Iterable[PlannedOutreach] | None = None,
) -> ReferralFacts:
    since, actor = _status_entry(session, referral, now=now, rows=rows)
    appointments = _appointments(session, referral)
    return referral_facts_from(referral, since=since, actor=actor, appointments=appointments, audience=audience)


def audience_of(session: Session, patient: Patient, cadence: Cadence) -> Audience:
    clinic = session_clinic(session)
    quiet_start, quiet_end = cadence.quiet_window(clinic)
    return Audience(tz=patient.timezone or clinic.timezone, quiet_start=quiet_start, quiet_end=quiet_end)


def _reconcile(
    session: Session,
    *,
    desired: list[DesiredOutreach],
    existing: Iterable[PlannedOutreach],
    patient: Patient,
    referral_id: int,
    now: datetime,
) -> None:
    language = language_of(patient.language)
    # A patient without a mobile number is planned like one who opted out: rows kept, never sent.
    consented = patient.phone is not None and not is_opted_out(session, patient.phone)
    diff = diff_rows(desired, existing, consented=consented, now=now)
    for item, state, code in diff.new:
        session.add(PlannedOutreach(**new_row(item, state, code, patient_id=patient.id, referral_id=referral_id,
                                               language=language)))  # fmt: skip
    for row in diff.no_consent:
        _move(session, row, PENDING_STATES, state=OutreachState.SKIPPED, error_code=NO_CONSENT)
    for row, item in diff.revived:
        _move(session, row, (row.state,), state=OutreachState.PLANNED, error_code=None, due_at=item.due_at,
              valid_until=item.valid_until, language=language, template=item.template)  # fmt: skip
    for row in diff.superseded:
        _move(session, row, PENDING_STATES, state=OutreachState.CANCELLED, error_code=SUPERSEDED)
    session.flush()


# Read once: the diff runs for every row of an import (a member lookup costs a metaclass call on 3.11).
_PLANNED = OutreachState.PLANNED
_SET_ASIDE = frozenset({OutreachState.SKIPPED, OutreachState.CANCELLED})


class RowLike(Protocol):
    """What the diff reads of an existing row: an ORM row here, a plain Core row in bulk planning."""

    @property
    def id(self) -> int: ...
    @property
    def idempotency_key(self) -> str: ...
    @property
    def state(self) -> OutreachState: ...
    @property
    def error_code(self) -> str | None: ...


Row = TypeVar("Row", bound=RowLike)


@dataclass
class Diff(Generic[Row]):
    """What reconciling a subject's desired plan with its rows comes to."""

    new: list[tuple[DesiredOutreach, OutreachState, str | None]]  # (item, state, error_code) of rows to add
    no_consent: list[Row]  # pending rows to set aside: the patient has opted out
    revived: list[tuple[Row, DesiredOutreach]]  # rows set aside earlier and wanted again
    superseded: list[Row]  # pending rows no longer wanted


def diff_rows(desired: list[DesiredOutreach], existing: Iterable[Row], *, consented: bool, now: datetime) -> Diff[Row]:
    existing = list(existing)
    by_key = {row.idempotency_key: row for row in existing}
    diff: Diff[Row] = Diff(new=[], no_consent=[], revived=[], superseded=[])
    for item in desired:
        state, code = planning_state(item, consented=consented, now=now)
        row = by_key.get(item.idempotency_key)
        if row is None:
            diff.new.append((item, state, code))
        elif code == NO_CONSENT and row.state in PENDING_STATES:
            diff.no_consent.append(row)
        elif state == _PLANNED and row.state in _SET_ASIDE and row.error_code in REVIVABLE_CODES:
            diff.revived.append((row, item))
    wanted = {item.idempotency_key for item in desired}
    diff.superseded = [row for row in existing if row.idempotency_key not in wanted and row.state in PENDING_STATES]
    return diff


def new_row(item: DesiredOutreach, state: OutreachState, code: str | None, *, patient_id: int, referral_id: int,
             language: str) -> dict:  # fmt: skip
    return {
        "kind": item.kind,
        "patient_id": patient_id,
        "referral_id": referral_id,
        "appointment_id": item.appointment_id,
        "channel": item.channel,
        "template": item.template,
        "language": language,
        "due_at": item.due_at,
        "valid_until": item.valid_until,
        "state": state,
        "idempotency_key": item.idempotency_key,
        "error_code": code,
    }


def _move(session: Session, row: PlannedOutreach, from_states: Iterable[OutreachState], **values: object) -> None:
    """Change a row only if it is still in one of `from_states` (the sender may have claimed it meanwhile)."""
    session.execute(
        update(PlannedOutreach)
        .where(PlannedOutreach.id == row.id, PlannedOutreach.state.in_(from_states))
        .values(**values, updated_at=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )
    session.expire(row)


def _referral_rows(session: Session, referral: Referral) -> list[PlannedOutreach]:
    return list(
        session.scalars(
            select(PlannedOutreach).where(
                PlannedOutreach.referral_id == referral.id, PlannedOutreach.kind.in_(REFERRAL_KINDS)
            )
        )
    )


def _appointments(session: Session, referral: Referral) -> list[Appointment]:
    return list(
        session.scalars(
            select(Appointment).filter_by(referral_id=referral.id).order_by(Appointment.start_at, Appointment.id)
        )
    )


def _status_entry(
    session: Session, referral: Referral, *, now: datetime, rows: Iterable[PlannedOutreach] | None
) -> tuple[datetime, str | None]:
    """When the referral entered its current status, and who moved it there (None: unknown).

    The latest status event wins when it led to the current status (events in
    the order they were written). Otherwise the status came from outside Relay:
    the anchor of the first plan made for it, else `now`.
    """
    event = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.referral_id == referral.id, AuditEvent.action.in_(tuple(STATUS_ACTIONS)))
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()

    def keys() -> Iterable[str]:  # read only when no event explains the status
        return [row.idempotency_key for row in (rows if rows is not None else _referral_rows(session, referral))]

    return status_entry(referral.id, referral.status, event=event, keys=keys, now=now)
