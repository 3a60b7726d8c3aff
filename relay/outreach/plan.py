"""The plan: what outreach a subject wants, as a pure function of its facts, the cadence and the clock.

`plan_appointment` and `plan_referral` take small frozen facts and return the
desired rows (kind, template, channel, due_at, valid_until, idempotency_key).
They read no database and no clock of their own, so they are tested at any
date, across DST changes and quiet-hour edges; `reconcile` (one subject) and
`bulk` (every subject) read the facts and write the rows.

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
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from relay.core.clock import require_aware
from relay.models.outreach import OutreachChannel, OutreachKind, OutreachState
from relay.models.referral import (
    LIVE_APPOINTMENT_STATUSES,
    AppointmentStatus,
    AuthorizationStatus,
    ReferralStatus,
    is_emergency,
)
from relay.outreach.cadence import Cadence, Reminder
from relay.outreach.quiet_hours import clock, next_allowed_in, wall_clock

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
STATUS_ACTIONS = {
    "referral.status_changed": None,  # details["to"]
    "appointment.booked": ReferralStatus.SCHEDULED,
    "appointment.rescheduled": ReferralStatus.SCHEDULED,
    "appointment.cancelled": ReferralStatus.CANCELLED,
}


# The members the plan reads for every row, looked up once: on Python 3.11 each `Enum.MEMBER`
# is a lookup through the enum's metaclass, which an import of 100,000 appointments pays millions of times.
_SCHEDULED, _CONFIRMED = AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED
_CONFIRMATION, _REMINDER = OutreachKind.CONFIRMATION, OutreachKind.REMINDER
_SMS, _SKIPPED, _PLANNED = OutreachChannel.SMS, OutreachState.SKIPPED, OutreachState.PLANNED


@dataclass(frozen=True)
class Audience:
    """Where the patient is: the zone and quiet hours that decide when a text may go."""

    tz: str
    quiet_start: time
    quiet_end: time
    # Parsed once: an import plans hundreds of thousands of rows for a handful of audiences.
    zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _window: tuple[time, time] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", ZoneInfo(self.tz))
        object.__setattr__(self, "_window", (clock(self.quiet_start), clock(self.quiet_end)))

    def allowed(self, moment: datetime) -> datetime:
        require_aware(moment, "moment")
        return next_allowed_in(moment, self._window[0], self._window[1], self.zone)


@dataclass(frozen=True)
class AppointmentFacts:
    id: int
    start_at: datetime
    status: AppointmentStatus
    audience: Audience


@dataclass(frozen=True)
class ReferralFacts:
    id: int
    status: ReferralStatus
    since: datetime  # when the referral entered `status`: the campaign's anchor
    audience: Audience
    emergency: bool = False
    cancelled_by_patient: bool = False
    authorization_denied: bool = False
    visit_end: datetime | None = None  # completed: when the visit ended
    appointment_id: int | None = None  # the appointment the status is about, if any


@dataclass(frozen=True)
class DesiredOutreach:
    kind: OutreachKind
    template: str
    due_at: datetime
    valid_until: datetime | None
    idempotency_key: str
    channel: OutreachChannel = OutreachChannel.SMS
    appointment_id: int | None = None
    blocked: str | None = None  # why it can never go (quiet_hours, too_late), whatever the clock


def plan_appointment(facts: AppointmentFacts, cadence: Cadence, now: datetime) -> list[DesiredOutreach]:
    """The confirmation and reminders a scheduled or confirmed appointment wants."""
    if facts.status not in LIVE_APPOINTMENT_STATUSES:
        return []
    start = facts.start_at.astimezone(UTC)
    stamp = _stamp(start)
    audience = facts.audience
    reminder_validity, min_lead = cadence.validity(_REMINDER), cadence.min_lead
    plan: list[DesiredOutreach] = []
    if cadence.appointment.confirmation and facts.status == _SCHEDULED:
        wanted = now.astimezone(UTC)
        due = audience.allowed(wanted)
        plan.append(
            DesiredOutreach(
                kind=_CONFIRMATION,
                template="appointment_confirmation",
                due_at=due,
                valid_until=_until(due, cadence.validity(_CONFIRMATION), start),
                idempotency_key=f"confirmation:appt{facts.id}:{stamp}",
                appointment_id=facts.id,
                blocked=_blocked(wanted, due, latest=start, start=start),
            )
        )
    for reminder in cadence.appointment.reminders:
        if facts.status == _CONFIRMED and not reminder.when_confirmed:
            continue
        wanted = _reminder_time(reminder, start, audience.zone)
        due = audience.allowed(wanted)
        plan.append(
            DesiredOutreach(
                kind=_REMINDER,
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

    def text(
        kind: OutreachKind, template: str, step: str, at: datetime, appointment_id: int | None = None
    ) -> DesiredOutreach:
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
            kind=OutreachKind.LEAKAGE_HANDOFF,
            template="leakage_handoff",
            due_at=at,
            valid_until=None,
            idempotency_key=f"leakage_handoff:{step}:{prefix}",
            channel=OutreachChannel.STAFF,
        )

    emergency_handoff = staff("staff", anchor + timedelta(hours=settings.emergency_handoff_after_hours))
    status = facts.status
    if status == ReferralStatus.RECEIVED:
        template = "status_received_urgent" if facts.emergency else "status_received"
        return [text(OutreachKind.STATUS_UPDATE, template, "ack", anchor)]
    if status == ReferralStatus.AUTHORIZATION_PENDING:
        return (
            []
            if facts.authorization_denied
            else [text(OutreachKind.STATUS_UPDATE, "status_authorization_pending", "ack", anchor)]
        )
    if status == ReferralStatus.READY_TO_SCHEDULE:
        if facts.emergency:
            return [text(OutreachKind.STATUS_UPDATE, "status_ready_staff_call", "ack", anchor), emergency_handoff]
        days = settings.leakage_handoff_after_days
        return [
            text(OutreachKind.SCHEDULING_INVITE, "scheduling_invite", "invite", anchor),
            *(
                text(OutreachKind.SCHEDULING_NUDGE, "scheduling_nudge", f"{n}d", anchor + timedelta(days=n))
                for n in settings.nudges_after_days
            ),
            staff(f"{days}d", anchor + timedelta(days=days)),
        ]
    if status == ReferralStatus.NO_SHOW:
        at = anchor + timedelta(hours=settings.no_show_followup_after_hours)
        if facts.emergency:
            return [
                text(OutreachKind.NO_SHOW_FOLLOWUP, "no_show_followup_call", "followup", at, facts.appointment_id),
                emergency_handoff,
            ]
        return [text(OutreachKind.NO_SHOW_FOLLOWUP, "no_show_followup", "followup", at, facts.appointment_id)]
    if status == ReferralStatus.CANCELLED and not facts.cancelled_by_patient:
        if facts.emergency:
            return [
                text(OutreachKind.REBOOK_OFFER, "rebook_offer_call", "offer", anchor, facts.appointment_id),
                emergency_handoff,
            ]
        return [text(OutreachKind.REBOOK_OFFER, "rebook_offer", "offer", anchor, facts.appointment_id)]
    if status == ReferralStatus.COMPLETED:
        visit_end = min(facts.visit_end, anchor) if facts.visit_end is not None else anchor
        at = visit_end + timedelta(hours=settings.review_request_after_visit_hours)
        return [text(OutreachKind.REVIEW_REQUEST, "review_request", "review", at, facts.appointment_id)]
    return []


def planning_state(item: DesiredOutreach, *, consented: bool, now: datetime) -> tuple[OutreachState, str | None]:
    """The state (and error_code) a new row for `item` starts in at `now`."""
    if item.channel == _SMS and not consented:
        return _SKIPPED, NO_CONSENT
    if item.blocked is not None:
        return _SKIPPED, item.blocked
    if item.kind == _REMINDER and item.due_at < now:
        return _SKIPPED, PAST_DUE
    if item.valid_until is not None and item.valid_until <= now:
        return _SKIPPED, EXPIRED
    return _PLANNED, None


class ReferralLike(Protocol):
    """What the facts read of a referral: an ORM object, or a plain Core row in bulk planning."""

    @property
    def id(self) -> int: ...
    @property
    def status(self) -> ReferralStatus: ...
    @property
    def type(self) -> str: ...
    @property
    def priority(self) -> str: ...
    @property
    def authorization_status(self) -> str | None: ...


class AppointmentLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def status(self) -> AppointmentStatus: ...
    @property
    def start_at(self) -> datetime: ...
    @property
    def duration_minutes(self) -> int: ...


def referral_facts_from(
    referral: ReferralLike,
    *,
    since: datetime,
    actor: str | None,
    appointments: Sequence[AppointmentLike],
    audience: Audience,
) -> ReferralFacts:
    """The facts from what was read (ORM objects or plain rows); `appointments` by start time, then id."""
    completed = [a for a in appointments if a.status == AppointmentStatus.COMPLETED]
    # The appointment the status is about: the visit for a completed referral, else the latest.
    latest = appointments[-1] if appointments else None
    subject = completed[-1] if completed and referral.status == ReferralStatus.COMPLETED else latest
    visit_end = None
    if completed:
        visit_end = completed[-1].start_at + timedelta(minutes=completed[-1].duration_minutes)
    return ReferralFacts(
        id=referral.id,
        status=referral.status,
        since=since,
        audience=audience,
        emergency=is_emergency(referral.type, referral.priority),
        cancelled_by_patient=actor is not None and actor.split(":", 1)[0] in PATIENT_ACTORS,
        authorization_denied=referral.authorization_status == AuthorizationStatus.DENIED,
        visit_end=visit_end,
        appointment_id=subject.id if subject is not None else None,
    )


class EventLike(Protocol):
    @property
    def action(self) -> str: ...
    @property
    def details(self) -> dict | None: ...
    @property
    def at(self) -> datetime: ...
    @property
    def actor(self) -> str: ...


def status_entry(
    referral_id: int, status: str, *, event: EventLike | None, keys: Callable[[], Iterable[str]], now: datetime
) -> tuple[datetime, str | None]:
    """When the referral entered `status`, and who moved it there (None: unknown), from what was read.

    `event` is the referral's latest status event and `keys` the idempotency
    keys of its rows. The event wins when it led to the current status;
    otherwise the status came from outside Relay: the anchor of the first plan
    made for it, else `now`.
    """
    if event is not None:
        entered = STATUS_ACTIONS[event.action] or (event.details or {}).get("to")
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
    if reminder.days_before is None or reminder.at is None:
        raise ValueError(f"reminder {reminder.name!r} has no rule")  # the cadence file's validation refuses this
    day = start.astimezone(zone).date() - timedelta(days=reminder.days_before)
    return wall_clock(day, reminder.at, zone)


def _blocked(wanted: datetime, due: datetime, *, latest: datetime, start: datetime) -> str | None:
    """Why a message due at `due` (wanted at `wanted`) can never go, if it must go by `latest`, before `start`."""
    if due <= latest and due < start:
        return None
    return QUIET_HOURS if due != wanted else TOO_LATE


def _until(due: datetime, validity: timedelta | None, start: datetime) -> datetime:
    return start if validity is None else min(due + validity, start)


def _whole_seconds(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
