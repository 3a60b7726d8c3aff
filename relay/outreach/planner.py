"""Plan outreach: a pure function of state, cadence and clock, then a diff against the rows.

The plan
--------
`plan_appointment` and `plan_referral` take small frozen facts and return the
desired rows (kind, template, channel, due_at, valid_until, idempotency_key).
They read no database and no clock of their own, so they are tested at any
date, across DST changes and quiet-hour edges.

Appointment (scheduled or confirmed; any other status wants nothing, so its
pending rows are cancelled):
- `confirmation` due at booking (the planning clock), for a scheduled, not yet
  confirmed appointment;
- `reminder`s from cadence.yaml (3 and 1 days before at 10:00, 2 hours before).
  A confirmed appointment keeps the day reminders (logistics still help) and
  drops the 2-hour one (`when_confirmed: false`): the patient has told us they
  are coming, and it saves a text under the daily cap.
- Quiet hours move a due time to their end, in the patient's zone. A reminder
  must still arrive `min_lead_minutes` (30) before the visit: 2 hours before an
  8:30 visit is 6:30, moved to 8:00, sent; before an 8:10 visit it is skipped
  (error_code quiet_hours). `valid_until` is the due time plus the kind's
  validity, and never later than the visit's start.
- A reminder whose time has passed when it is first planned is kept as a
  `skipped` row (past_due), so the plan stays auditable.

Referral (keyed by the status and the moment it was entered, so a referral
that comes back to a status starts a fresh campaign while re-planning the same
state yields the same keys):
- received: `status_update` acknowledgement (urgent wording for emergencies);
- authorization_pending: `status_update` "we are asking <payer> for approval"
  (nothing while the authorization is marked denied: staff explain a denial);
- ready_to_schedule: `scheduling_invite` at once, `scheduling_nudge` after 2
  and 5 days, and after 7 days a `leakage_handoff` row on channel "staff",
  which the execution side turns into
  relay.messaging.handoffs.open_handoff(reason="referral_leakage") instead of an SMS;
- no_show: `no_show_followup` when the clinic marks it (quiet hours permitting),
  asking for a day and time;
- cancelled by the clinic (any actor but the patient or the bot on the
  patient's behalf; unknown counts as the clinic): one `rebook_offer`. A
  patient who cancels by text is offered a new time in that conversation;
- completed: `review_request` 2 hours after the visit ends (or after the
  clinic marked it completed, if that came first);
- scheduled (the appointment carries the reminders) and declined (staff
  explain it): nothing.
- Emergency referrals are never self-scheduled: they get the urgent
  acknowledgement, a `status_update` "our team will call you" instead of the
  invitation and nudges, the `no_show_followup`/`rebook_offer` in their "call
  us" wording, and a `leakage_handoff` for staff at once
  (`emergency_handoff_after_hours`, default 0) whenever they need scheduling.
  Their appointments get the usual confirmation and reminders.

Status entry times come from the audit trail (referral.status_changed,
appointment.booked/rescheduled/cancelled). A status with no such event (data
loaded from the EHR or the demo seed) is anchored on the first plan made for
it, recovered from that plan's keys afterwards, so the campaign starts when
Relay first sees the referral and is never restarted by a re-plan.

Consent
-------
Rows are planned for patients without SMS consent too, but as `skipped` with
error_code no_consent (staff rows are not texts and are planned as usual), so
the plan shows why nothing went. The execution side re-checks consent at send
time; a later re-plan after an opt-in brings skipped no_consent rows back to
`planned` if they are still wanted and still valid.

The database
------------
`replan_appointment` / `replan_referral` diff the desired rows against the
existing ones of the same subject and kinds, by idempotency key: missing rows
are added; pending rows (planned, queued) no longer wanted are cancelled
(error_code superseded); rows already there are left as they are (their times
do not drift); history (sending, sent, delivered, failed) is never touched.
State changes of existing rows are conditional UPDATEs on the state, so a row
the execution side has just claimed is never cancelled under it.

`replan_all` (an import, a reseed, a cadence change) makes exactly the same
rows as those two for every referral and its appointments, but set-based:
a few queries per range of referrals, the same pure functions, bulk writes.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from operator import itemgetter
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from relay.records.clinics import get_clinic
from relay.records.consent import is_opted_out
from relay.models import Appointment, AuditEvent, Clinic, ConsentEvent, Patient, PlannedOutreach, Referral
from relay.outreach import APPOINTMENT_KINDS, PENDING_STATES, REFERRAL_KINDS
from relay.outreach.cadence import Cadence, Reminder, load_cadence
from relay.language.timefmt import require_aware

LIVE_APPOINTMENT_STATUSES = ("scheduled", "confirmed")
LANGUAGES = ("en", "es")
# Actors whose cancellation is the patient's own (the bot acts for the patient).
PATIENT_ACTORS = ("bot", "patient")

# error_code values the planner writes.
NO_CONSENT = "no_consent"
PAST_DUE = "past_due"
EXPIRED = "expired"
QUIET_HOURS = "quiet_hours"
TOO_LATE = "too_late"
SUPERSEDED = "superseded"
# Rows the planner itself set aside, which it brings back when they are wanted again.
REVIVABLE_CODES = (NO_CONSENT, SUPERSEDED)

# Audit actions that move a referral into a status, and the status they move it to.
_STATUS_ACTIONS = {
    "referral.status_changed": None,  # details["to"]
    "appointment.booked": "scheduled",
    "appointment.rescheduled": "scheduled",
    "appointment.cancelled": "cancelled",
}


# --- facts and the desired plan ----------------------------------------------


@dataclass(frozen=True)
class Audience:
    """Where the patient is: the zone and quiet hours that decide when a text may go."""

    tz: str
    quiet_start: time
    quiet_end: time

    def __post_init__(self) -> None:
        # Parsed once: an import plans hundreds of thousands of rows for a handful of audiences.
        object.__setattr__(self, "zone", ZoneInfo(self.tz))
        object.__setattr__(self, "_window", (_clock(self.quiet_start), _clock(self.quiet_end)))

    def allowed(self, moment: datetime) -> datetime:
        require_aware(moment, "moment")
        return _next_allowed(moment, *self._window, self.zone)


@dataclass(frozen=True)
class AppointmentFacts:
    id: int
    start_at: datetime
    status: str
    audience: Audience


@dataclass(frozen=True)
class ReferralFacts:
    id: int
    status: str
    since: datetime  # when the referral entered `status`: the campaign's anchor
    audience: Audience
    emergency: bool = False
    cancelled_by_patient: bool = False
    authorization_denied: bool = False
    visit_end: datetime | None = None  # completed: when the visit ended
    appointment_id: int | None = None  # the appointment the status is about, if any


@dataclass(frozen=True)
class DesiredOutreach:
    kind: str
    template: str
    due_at: datetime
    valid_until: datetime | None
    idempotency_key: str
    channel: str = "sms"
    appointment_id: int | None = None
    blocked: str | None = None  # why it can never go (quiet_hours, too_late), whatever the clock


def next_allowed_time(moment: datetime, *, quiet_start: time | str, quiet_end: time | str, tz: str | ZoneInfo) -> datetime:
    """`moment` if it is outside the quiet hours in `tz`, else the end of those quiet hours (UTC).

    The window may run over midnight (20:00-08:00) or not (01:00-06:00); equal
    start and end mean no quiet hours. The end is a wall-clock time on the
    local calendar, so a DST change never shifts it by an hour.
    """
    require_aware(moment, "moment")
    return _next_allowed(moment, _clock(quiet_start), _clock(quiet_end), ZoneInfo(tz) if isinstance(tz, str) else tz)


def _next_allowed(moment: datetime, start: time, end: time, zone: ZoneInfo) -> datetime:
    if start == end:
        return moment.astimezone(UTC)
    local = moment.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start > end:  # over midnight
        if clock >= start:
            day = local.date() + timedelta(days=1)
        elif clock < end:
            day = local.date()
        else:
            return moment.astimezone(UTC)
    elif start <= clock < end:
        day = local.date()
    else:
        return moment.astimezone(UTC)
    return _wall_clock(day, end, zone)


def plan_appointment(facts: AppointmentFacts, cadence: Cadence, now: datetime) -> list[DesiredOutreach]:
    """The confirmation and reminders a scheduled or confirmed appointment wants."""
    if facts.status not in LIVE_APPOINTMENT_STATUSES:
        return []
    start = facts.start_at.astimezone(UTC)
    stamp = _stamp(start)
    audience = facts.audience
    reminder_validity, min_lead = cadence.validity("reminder"), cadence.min_lead
    plan: list[DesiredOutreach] = []
    if cadence.appointment.confirmation and facts.status == "scheduled":
        wanted = now.astimezone(UTC)
        due = audience.allowed(wanted)
        plan.append(
            DesiredOutreach(
                kind="confirmation",
                template="appointment_confirmation",
                due_at=due,
                valid_until=_until(due, cadence.validity("confirmation"), start),
                idempotency_key=f"confirmation:appt{facts.id}:{stamp}",
                appointment_id=facts.id,
                blocked=_blocked(wanted, due, latest=start, start=start),
            )
        )
    for reminder in cadence.appointment.reminders:
        if facts.status == "confirmed" and not reminder.when_confirmed:
            continue
        wanted = _reminder_time(reminder, start, audience.zone)
        due = audience.allowed(wanted)
        plan.append(
            DesiredOutreach(
                kind="reminder",
                template="appointment_reminder",
                due_at=due,
                valid_until=_until(due, reminder_validity, start),
                idempotency_key=f"reminder:{reminder.name}:appt{facts.id}:{stamp}",
                appointment_id=facts.id,
                blocked=_blocked(wanted, due, latest=start - min_lead, start=start),
            )
        )
    return plan


def plan_referral(facts: ReferralFacts, cadence: Cadence) -> list[DesiredOutreach]:
    """The campaign the referral's current status wants (see the module docstring)."""
    anchor = facts.since.astimezone(UTC)
    settings = cadence.referral
    prefix = f"ref{facts.id}:{facts.status}@{_stamp(anchor)}"

    def text(kind: str, template: str, step: str, at: datetime, appointment_id: int | None = None) -> DesiredOutreach:
        due = facts.audience.allowed(at)
        validity = cadence.validity(kind)
        return DesiredOutreach(
            kind=kind,
            template=template,
            due_at=due,
            valid_until=None if validity is None else due + validity,
            idempotency_key=f"{kind}:{step}:{prefix}",
            appointment_id=appointment_id,
        )

    def staff(step: str, at: datetime) -> DesiredOutreach:
        # Staff work has no quiet hours and no expiry: the queue holds it until someone acts.
        return DesiredOutreach(
            kind="leakage_handoff",
            template="leakage_handoff",
            due_at=at,
            valid_until=None,
            idempotency_key=f"leakage_handoff:{step}:{prefix}",
            channel="staff",
        )

    emergency_handoff = staff("staff", anchor + timedelta(hours=settings.emergency_handoff_after_hours))
    status = facts.status
    if status == "received":
        template = "status_received_urgent" if facts.emergency else "status_received"
        return [text("status_update", template, "ack", anchor)]
    if status == "authorization_pending":
        return [] if facts.authorization_denied else [text("status_update", "status_authorization_pending", "ack", anchor)]
    if status == "ready_to_schedule":
        if facts.emergency:
            return [text("status_update", "status_ready_staff_call", "ack", anchor), emergency_handoff]
        days = settings.leakage_handoff_after_days
        return [
            text("scheduling_invite", "scheduling_invite", "invite", anchor),
            *(text("scheduling_nudge", "scheduling_nudge", f"{n}d", anchor + timedelta(days=n)) for n in settings.nudges_after_days),
            staff(f"{days}d", anchor + timedelta(days=days)),
        ]
    if status == "no_show":
        at = anchor + timedelta(hours=settings.no_show_followup_after_hours)
        if facts.emergency:
            return [text("no_show_followup", "no_show_followup_call", "followup", at, facts.appointment_id), emergency_handoff]
        return [text("no_show_followup", "no_show_followup", "followup", at, facts.appointment_id)]
    if status == "cancelled" and not facts.cancelled_by_patient:
        if facts.emergency:
            return [text("rebook_offer", "rebook_offer_call", "offer", anchor, facts.appointment_id), emergency_handoff]
        return [text("rebook_offer", "rebook_offer", "offer", anchor, facts.appointment_id)]
    if status == "completed":
        visit_end = min(facts.visit_end, anchor) if facts.visit_end is not None else anchor
        at = visit_end + timedelta(hours=settings.review_request_after_visit_hours)
        return [text("review_request", "review_request", "review", at, facts.appointment_id)]
    return []


def planning_state(item: DesiredOutreach, *, consented: bool, now: datetime) -> tuple[str, str | None]:
    """The state (and error_code) a new row for `item` starts in at `now`."""
    if item.channel == "sms" and not consented:
        return "skipped", NO_CONSENT
    if item.blocked is not None:
        return "skipped", item.blocked
    if item.kind == "reminder" and item.due_at < now:
        return "skipped", PAST_DUE
    if item.valid_until is not None and item.valid_until <= now:
        return "skipped", EXPIRED
    return "planned", None


# --- the database ------------------------------------------------------------


def replan_appointment(session: Session, *, appointment: Appointment, now: datetime) -> None:
    """Bring the appointment's confirmation and reminders in line with its state (idempotent)."""
    require_aware(now, "now")
    cadence = load_cadence()
    referral = appointment.referral
    patient = referral.patient
    facts = appointment_facts(appointment, audience=_audience(session, patient, cadence))
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
    facts = referral_facts(session, referral, audience=_audience(session, patient, cadence), now=now, rows=existing)
    _reconcile(
        session, desired=plan_referral(facts, cadence), existing=existing, patient=patient, referral_id=referral.id, now=now
    )


def replan_all(session: Session, *, now: datetime, chunk_size: int = 5000) -> None:
    """Plan every referral and appointment: after an import, a reseed or a cadence change.

    The same rows as `replan_referral` and then `replan_appointment` for each
    of its appointments, referral by referral (tests/relay/outreach hold the
    two side by side), but set-based: the facts of `chunk_size` referrals
    come in a handful of queries, the same pure functions plan and diff them,
    and new rows go in with one multi-row INSERT, state changes with a few
    UPDATEs. One referral at a time costs a dozen round trips per appointment,
    which held an import of 100,000 appointments to about 300 a second (`make
    bench`). Subjects are independent (each reads and writes only its own
    rows), so the order of the writes does not matter.
    """
    require_aware(now, "now")
    session.flush()
    referral_ids = session.scalars(select(Referral.__table__.c.id).order_by(Referral.__table__.c.id)).all()
    if not referral_ids:
        return
    cadence, clinic = load_cadence(), get_clinic(session)
    quiet_start, quiet_end = cadence.quiet_window(clinic)
    context = _BulkContext(cadence=cadence, now=now, clinic_tz=clinic.timezone, quiet_start=quiet_start,
                           quiet_end=quiet_end, strays=_stray_rows(session))  # fmt: skip
    for start in range(0, len(referral_ids), chunk_size):
        chunk = referral_ids[start : start + chunk_size]
        # Every id between the first and the last of the chunk is in it: ranges need no long IN lists.
        _replan_range(session, context, low=chunk[0], high=chunk[-1])


@dataclass
class _BulkContext:
    cadence: Cadence
    now: datetime
    clinic_tz: str
    quiet_start: time
    quiet_end: time
    strays: dict[int, list] = field(default_factory=dict)  # see `_stray_rows`
    audiences: dict[str, Audience] = field(default_factory=dict)

    def audience(self, patient_tz: str | None) -> Audience:
        tz = patient_tz or self.clinic_tz
        if tz not in self.audiences:
            self.audiences[tz] = Audience(tz=tz, quiet_start=self.quiet_start, quiet_end=self.quiet_end)
        return self.audiences[tz]


def _replan_range(session: Session, context: _BulkContext, *, low: int, high: int) -> None:
    """`replan_all` for the referrals with ids from `low` to `high`: read in bulk, plan, write in bulk."""
    facts = _RangeFacts.read(session, low=low, high=high, strays=context.strays)
    moves = _Moves()
    # The rows are planned while they are written: PostgreSQL stores the first ones as we plan the next.
    _insert(session, _new_rows(facts, context, moves))
    _move_all(session, moves)


@dataclass
class _Moves:
    """State changes of existing rows, collected while planning a range, made afterwards."""

    no_consent: list[int] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)
    revived: list[dict] = field(default_factory=list)


def _new_rows(facts: "_RangeFacts", context: _BulkContext, moves: _Moves) -> Iterator[dict]:
    """Plan the range: yield the rows to add, and put the state changes in `moves`."""
    cadence, now = context.cadence, context.now
    for referral in facts.referrals:
        patient = facts.patients[referral.patient_id]
        audience = context.audience(patient.timezone)
        consented = facts.consent.get(patient.phone, patient.sms_consent)
        language = language_of(patient)
        rows = facts.referral_rows[referral.id]
        since, actor = _entry(referral.id, referral.status, event=facts.status_events.get(referral.id),
                              keys=lambda rows=rows: [row.idempotency_key for row in rows], now=now)  # fmt: skip
        appointments = facts.appointments[referral.id]
        facts_of_referral = _referral_facts(referral, since=since, actor=actor, appointments=appointments,
                                            audience=audience)  # fmt: skip
        subjects = [(plan_referral(facts_of_referral, cadence), rows)]
        for appointment in appointments:
            appointment_facts_ = AppointmentFacts(id=appointment.id, start_at=appointment.start_at,
                                                  status=appointment.status, audience=audience)  # fmt: skip
            subjects.append((plan_appointment(appointment_facts_, cadence, now), facts.appointment_rows[appointment.id]))
        for desired, existing in subjects:
            diff = _diff(desired, existing, consented=consented, now=now)
            for item, state, code in diff.new:
                yield _new_row(item, state, code, patient_id=patient.id, referral_id=referral.id, language=language)
            moves.no_consent.extend(row.id for row in diff.no_consent)
            moves.superseded.extend(row.id for row in diff.superseded)
            moves.revived.extend(
                {"row_id": row.id, "from_state": row.state, "new_due_at": item.due_at, "new_valid_until": item.valid_until,
                 "new_language": language, "new_template": item.template}  # fmt: skip
                for row, item in diff.revived
            )


@dataclass
class _RangeFacts:
    """What planning a range of referrals reads, in six queries whatever the size of the range."""

    referrals: list
    patients: dict[int, object]
    consent: dict[str, bool]  # phone -> the latest ledger event's answer
    appointments: defaultdict[int, list]  # referral id -> its appointments by start time, then id
    status_events: dict[int, object]  # referral id -> its latest status event
    referral_rows: defaultdict[int, list]  # referral id -> its rows of referral kinds
    appointment_rows: defaultdict[int, list]  # appointment id -> its rows of appointment kinds

    @classmethod
    def read(cls, session: Session, *, low: int, high: int, strays: dict[int, list]) -> "_RangeFacts":
        # Table columns, not ORM attributes: plain Core rows, without the ORM's per-row loading work.
        referral, patient, appointment = Referral.__table__.c, Patient.__table__.c, Appointment.__table__.c
        ledger, audit, row = ConsentEvent.__table__.c, AuditEvent.__table__.c, PlannedOutreach.__table__.c
        in_range = referral.id.between(low, high)
        referrals = session.execute(
            select(referral.id, referral.patient_id, referral.status, referral.type, referral.priority,
                   referral.authorization_status).where(in_range).order_by(referral.id)  # fmt: skip
        ).all()
        of_referrals = select(referral.patient_id).where(in_range)
        patients = {
            found.id: found
            for found in session.execute(
                select(patient.id, patient.phone, patient.timezone, patient.language, patient.sms_consent)
                .where(patient.id.in_(of_referrals))
            ).all()
        }
        consent: dict[str, bool] = {}
        phones = select(patient.phone).where(patient.id.in_(of_referrals))
        events = select(ledger.phone, ledger.consented).where(ledger.phone.in_(phones))
        for phone, consented in session.execute(events.order_by(ledger.phone, ledger.at, ledger.id)).all():
            consent[phone] = consented  # oldest first: the latest event is the one left
        appointments = defaultdict(list)
        for found in session.execute(
            select(appointment.id, appointment.referral_id, appointment.start_at, appointment.status,
                   appointment.duration_minutes)  # fmt: skip
            .where(appointment.referral_id.between(low, high))
            .order_by(appointment.referral_id, appointment.start_at, appointment.id)
        ).all():
            appointments[found.referral_id].append(found)
        latest = (
            select(func.max(audit.id))
            .where(audit.referral_id.between(low, high), audit.action.in_(tuple(_STATUS_ACTIONS)))
            .group_by(audit.referral_id)
        )
        status_events = {
            event.referral_id: event
            for event in session.execute(
                select(audit.referral_id, audit.action, audit.details, audit.at, audit.actor).where(audit.id.in_(latest))
            ).all()
        }
        # One index range scan finds the range's rows of both sorts: the planner gives an appointment's
        # rows its referral's id. The few that lack it come from `strays` (see `_stray_rows`).
        referral_of = {a.id: a.referral_id for listed in appointments.values() for a in listed}
        referral_rows, appointment_rows = defaultdict(list), defaultdict(list)
        for found in session.execute(select(*_row_columns(), row.kind).where(row.referral_id.between(low, high))).all():
            if found.kind in REFERRAL_KINDS:
                referral_rows[found.referral_id].append(found)
            elif referral_of.get(found.appointment_id) == found.referral_id:
                appointment_rows[found.appointment_id].append(found)
        for appointment_id in referral_of.keys() & strays.keys():
            appointment_rows[appointment_id].extend(strays[appointment_id])
        return cls(referrals, patients, consent, appointments, status_events, referral_rows, appointment_rows)


def _row_columns() -> tuple:
    """What the diff needs of an existing row."""
    row = PlannedOutreach.__table__.c
    return (row.id, row.referral_id, row.appointment_id, row.idempotency_key, row.state, row.error_code)


def _stray_rows(session: Session) -> defaultdict[int, list]:
    """Appointment rows whose referral_id is not their appointment's referral (None, or another).

    The planner never writes such rows, but they are part of their
    appointment's plan all the same, so `replan_all` finds them in one query
    before it goes range by range.
    """
    row, appointment = PlannedOutreach.__table__.c, Appointment.__table__.c
    strays = defaultdict(list)
    for found in session.execute(
        select(*_row_columns())
        .join_from(PlannedOutreach.__table__, Appointment.__table__, row.appointment_id == appointment.id)
        .where(row.kind.in_(APPOINTMENT_KINDS), or_(row.referral_id.is_(None), row.referral_id != appointment.referral_id))
    ).all():
        strays[found.appointment_id].append(found)
    return strays


def _move_all(session: Session, moves: _Moves) -> None:
    """The bulk path's state changes, with the same conditions on state as `_move`."""
    table = PlannedOutreach.__table__
    moved_at = datetime.now(UTC)
    no_consent, superseded, revived = moves.no_consent, moves.superseded, moves.revived
    for ids, values in ((no_consent, {"state": "skipped", "error_code": NO_CONSENT}),
                        (superseded, {"state": "cancelled", "error_code": SUPERSEDED})):  # fmt: skip
        for start in range(0, len(ids), 500):
            session.execute(
                update(table)
                .where(table.c.id.in_(ids[start : start + 500]), table.c.state.in_(PENDING_STATES))
                .values(**values, updated_at=moved_at)
            )
    if revived:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("row_id"), table.c.state == bindparam("from_state"))
            .values(state="planned", error_code=None, due_at=bindparam("new_due_at"),
                    valid_until=bindparam("new_valid_until"), language=bindparam("new_language"),
                    template=bindparam("new_template"), updated_at=moved_at),  # fmt: skip
            revived,
        )
    moved = {*no_consent, *superseded, *(r["row_id"] for r in revived)}
    if moved:
        # Loaded copies of the changed rows would be stale: `_move` expires them too.
        for key, instance in list(session.identity_map.items()):
            if isinstance(instance, PlannedOutreach) and key[1][0] in moved:
                session.expire(instance)


def _insert(session: Session, rows: Iterator[dict]) -> None:
    """Add plan rows in bulk; created_at, updated_at and attempts take the columns' server defaults.

    PostgreSQL gets COPY: an executemany costs a round of binding and
    executing per row there, which made inserting an import's rows most of
    `replan_all`'s time (`make bench`); COPY streams them in one statement,
    and stores each row while the next ones are being planned. SQLite gets
    one executemany, which is what it is fastest with, straight on the driver
    (see `_sqlite_values`).
    """
    first = next(rows, None)
    if first is None:
        return
    table = PlannedOutreach.__table__
    columns = tuple(first)
    if session.get_bind().dialect.name == "postgresql":
        values = itemgetter(*columns)
        cursor = session.connection().connection.driver_connection.cursor()
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:  # noqa: S608 - our column names
            copy.write_row(values(first))
            for row in rows:
                copy.write_row(values(row))
        return
    connection = session.connection()
    stored = _sqlite_values(table, columns, connection.dialect)
    # The database's clock for the timestamps: one SQL expression instead of two bound values per row.
    sql = (f"INSERT INTO {table.name} ({', '.join(columns)}, created_at, updated_at) "  # noqa: S608 - our column names
           f"VALUES ({', '.join('?' * len(columns))}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")  # fmt: skip
    connection.exec_driver_sql(sql, [stored(first), *map(stored, rows)])


class _Memo(dict):
    """A pure function's answers by argument, each worked out once."""

    def __init__(self, function: Callable) -> None:
        super().__init__()
        self.function = function

    def __missing__(self, key: object) -> object:
        value = self[key] = self.function(key)
        return value


def _sqlite_values(table, columns: tuple[str, ...], dialect) -> Callable[[dict], tuple]:  # noqa: ANN001
    """Turns a row into the values SQLite stores, as SQLAlchemy's own bind processors would.

    SQLAlchemy runs the processors of every value of every row (two
    datetimes per row here: UTCDateTime, then SQLite's DATETIME formatting),
    which was a fifth to a third of an import's time on SQLite (100,000 and
    20,000 appointments). A plan has few distinct due times, so each
    processor is memoised by value, and the rows go to the driver as they are.
    """
    values = itemgetter(*columns)
    converted = []
    for index, name in enumerate(columns):
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            converted.append((index, _Memo(processor)))
    if not converted:
        return values

    def stored(row: dict) -> tuple:
        found = list(values(row))
        for index, memo in converted:
            found[index] = memo[found[index]]
        return tuple(found)

    return stored


def still_applies(session: Session, outreach: PlannedOutreach, now: datetime) -> bool:
    """Is this row still part of its subject's plan (send time re-check)?

    False when the row was set aside, its appointment was cancelled, completed
    or moved (the key names the old time), its referral moved to another
    status, or the message can never go (blocked by quiet hours). Consent,
    quiet hours at `now` and `valid_until` are the sender's own checks.
    """
    require_aware(now, "now")
    if outreach.state in ("cancelled", "skipped"):
        return False
    cadence = load_cadence()
    if outreach.kind in APPOINTMENT_KINDS:
        appointment = session.get(Appointment, outreach.appointment_id) if outreach.appointment_id else None
        if appointment is None:
            return False
        audience = _audience(session, appointment.referral.patient, cadence)
        desired = plan_appointment(appointment_facts(appointment, audience=audience), cadence, now)
    else:
        referral = session.get(Referral, outreach.referral_id) if outreach.referral_id else None
        if referral is None:
            return False
        audience = _audience(session, referral.patient, cadence)
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
    return _referral_facts(referral, since=since, actor=actor, appointments=_appointments(session, referral),
                           audience=audience)  # fmt: skip


class _ReferralLike(Protocol):
    id: int
    status: str
    type: str
    priority: str
    authorization_status: str | None


class _AppointmentLike(Protocol):
    id: int
    status: str
    start_at: datetime
    duration_minutes: int


def _referral_facts(
    referral: _ReferralLike,
    *,
    since: datetime,
    actor: str | None,
    appointments: list[_AppointmentLike],
    audience: Audience,
) -> ReferralFacts:
    """The facts from what was read (ORM objects or plain rows); `appointments` by start time, then id."""
    completed = [a for a in appointments if a.status == "completed"]
    # The appointment the status is about: the visit for a completed referral, else the latest.
    subject = completed[-1] if completed and referral.status == "completed" else (appointments or [None])[-1]
    visit_end = None
    if completed:
        visit_end = completed[-1].start_at + timedelta(minutes=completed[-1].duration_minutes)
    return ReferralFacts(
        id=referral.id,
        status=referral.status,
        since=since,
        audience=audience,
        emergency=referral.type == "emergency" or referral.priority == "emergency",
        cancelled_by_patient=actor is not None and actor.split(":", 1)[0] in PATIENT_ACTORS,
        authorization_denied=referral.authorization_status == "denied",
        visit_end=visit_end,
        appointment_id=subject.id if subject is not None else None,
    )


def language_of(patient: Patient) -> str:
    """The patient's language if we have templates in it, else English."""
    language = (patient.language or "en").split("-")[0].lower()
    return language if language in LANGUAGES else "en"


def session_clinic(session: Session) -> Clinic:
    """The clinic, looked up once per session: planning and sending need it for every row.

    Later calls are identity-map lookups (`session.get`), which read the row
    again only if the session has expired it.
    """
    held = session.info.get(_CLINIC)
    clinic = session.get(Clinic, held.id) if held is not None else None
    if clinic is None:
        clinic = get_clinic(session)
        # The object itself, not its id: the identity map forgets objects nothing refers to.
        session.info[_CLINIC] = clinic
    return clinic


_CLINIC = "relay.clinic"


def _audience(session: Session, patient: Patient, cadence: Cadence) -> Audience:
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
    language = language_of(patient)
    diff = _diff(desired, existing, consented=not is_opted_out(session, patient.phone), now=now)
    for item, state, code in diff.new:
        session.add(PlannedOutreach(**_new_row(item, state, code, patient_id=patient.id, referral_id=referral_id,
                                               language=language)))  # fmt: skip
    for row in diff.no_consent:
        _move(session, row, PENDING_STATES, state="skipped", error_code=NO_CONSENT)
    for row, item in diff.revived:
        _move(session, row, (row.state,), state="planned", error_code=None, due_at=item.due_at,
              valid_until=item.valid_until, language=language, template=item.template)  # fmt: skip
    for row in diff.superseded:
        _move(session, row, PENDING_STATES, state="cancelled", error_code=SUPERSEDED)
    session.flush()


class _RowLike(Protocol):
    id: int
    idempotency_key: str
    state: str
    error_code: str | None


@dataclass
class _Diff:
    """What reconciling a subject's desired plan with its rows comes to."""

    new: list[tuple[DesiredOutreach, str, str | None]]  # (item, state, error_code) of rows to add
    no_consent: list[_RowLike]  # pending rows to set aside: the patient has opted out
    revived: list[tuple[_RowLike, DesiredOutreach]]  # rows set aside earlier and wanted again
    superseded: list[_RowLike]  # pending rows no longer wanted


def _diff(desired: list[DesiredOutreach], existing: Iterable[_RowLike], *, consented: bool, now: datetime) -> _Diff:
    existing = list(existing)
    by_key = {row.idempotency_key: row for row in existing}
    diff = _Diff(new=[], no_consent=[], revived=[], superseded=[])
    for item in desired:
        state, code = planning_state(item, consented=consented, now=now)
        row = by_key.get(item.idempotency_key)
        if row is None:
            diff.new.append((item, state, code))
        elif code == NO_CONSENT and row.state in PENDING_STATES:
            diff.no_consent.append(row)
        elif state == "planned" and row.state in ("skipped", "cancelled") and row.error_code in REVIVABLE_CODES:
            diff.revived.append((row, item))
    wanted = {item.idempotency_key for item in desired}
    diff.superseded = [row for row in existing if row.idempotency_key not in wanted and row.state in PENDING_STATES]
    return diff


def _new_row(item: DesiredOutreach, state: str, code: str | None, *, patient_id: int, referral_id: int,
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


def _move(session: Session, row: PlannedOutreach, from_states: tuple[str, ...], **values: object) -> None:
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
        .where(AuditEvent.referral_id == referral.id, AuditEvent.action.in_(tuple(_STATUS_ACTIONS)))
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()

    def keys() -> Iterable[str]:  # read only when no event explains the status
        return [row.idempotency_key for row in (rows if rows is not None else _referral_rows(session, referral))]

    return _entry(referral.id, referral.status, event=event, keys=keys, now=now)


class _EventLike(Protocol):
    action: str
    details: dict | None
    at: datetime
    actor: str


def _entry(referral_id: int, status: str, *, event: _EventLike | None, keys: Callable[[], Iterable[str]],
           now: datetime) -> tuple[datetime, str | None]:  # fmt: skip
    """`_status_entry` from what was read: the latest status event, and the keys of the referral's rows."""
    if event is not None:
        entered = _STATUS_ACTIONS[event.action] or (event.details or {}).get("to")
        if entered == status:
            return _whole_seconds(event.at), event.actor
    marker = f":ref{referral_id}:{status}@"
    anchors = [datetime.fromisoformat(key.rsplit("@", 1)[1]) for key in keys() if marker in key]
    if anchors:
        return max(anchors), None
    return _whole_seconds(now), None


def _reminder_time(reminder: Reminder, start: datetime, zone: ZoneInfo) -> datetime:
    if reminder.hours_before is not None:
        return start - timedelta(hours=reminder.hours_before)
    day = start.astimezone(zone).date() - timedelta(days=reminder.days_before)
    return _wall_clock(day, reminder.at, zone)


def _blocked(wanted: datetime, due: datetime, *, latest: datetime, start: datetime) -> str | None:
    """Why a message due at `due` (wanted at `wanted`) can never go, if it must go by `latest`, before `start`."""
    if due <= latest and due < start:
        return None
    return QUIET_HOURS if due != wanted else TOO_LATE


def _until(due: datetime, validity: timedelta | None, start: datetime) -> datetime:
    return start if validity is None else min(due + validity, start)


def _wall_clock(day, moment: time, zone: ZoneInfo) -> datetime:  # noqa: ANN001
    """A local wall-clock time on a day, as UTC (a time skipped by DST reads as after the gap)."""
    return datetime.combine(day, moment, tzinfo=zone).astimezone(UTC)


def _clock(value: time | str) -> time:
    return value if isinstance(value, time) else time.fromisoformat(value.zfill(5))


def _whole_seconds(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
