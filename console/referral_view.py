"""What the referral pages show, in staff's words: search rows, and one referral with its patient, history,
outreach plan, appointments, open slots and conversation.

Everything here only reads. Times are shown in the clinic's time zone; phone
numbers only by their last four digits (enough to confirm who is on the line).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from console.display import DELIVERY_WORDS, appointment_status_words, masked_phone, referral_status_words
from console.viewing import VIEWED
from relay.language.timefmt import format_clock, format_day, format_when
from relay.models import (
    Appointment,
    AuditEvent,
    Clinic,
    Conversation,
    Handoff,
    HandoffStatus,
    Message,
    OutreachState,
    Patient,
    PlannedOutreach,
    Referral,
    ReferralStatus,
    StaffUser,
)
from relay.models.referral import LIVE_APPOINTMENT_STATUSES
from relay.records.consent import is_opted_out
from relay.referrals.transitions import allowed_transitions
from relay.scheduling.booking import coverage_accepted, live_appointment, schedulable_statuses
from relay.scheduling.slots import offer_slots
from relay.scheduling.time_windows import TimeWindow

# How far ahead the booking part of the page looks, and how many messages of the conversation it shows.
SLOT_DAYS = 14
MESSAGES_SHOWN = 50
# Enough for every slot of two weeks of the busiest grid (imaging: 16 a day, six days a week).
_SLOT_LIMIT = 500

TYPE_WORDS = {
    "self": "Self-referral",
    "provider": "From a provider",
    "emergency": "Emergency",
    "second_opinion": "Second opinion",
    "follow_up": "Follow-up",
}
PRIORITY_WORDS = {"routine": "Routine", "urgent": "Urgent", "emergency": "Emergency"}
AUTHORIZATION_WORDS = {"approved": "approved", "pending": "pending", "denied": "denied"}
OUTREACH_KIND_WORDS = {
    "status_update": "Status update",
    "confirmation": "Booking confirmation",
    "reminder": "Appointment reminder",
    "scheduling_invite": "Invitation to book",
    "scheduling_nudge": "Reminder to book",
    "no_show_followup": "Follow-up after a missed visit",
    "rebook_offer": "Offer to rebook",
    "review_request": "Review request",
    "leakage_handoff": "Hand to staff: still not booked",
}
OUTREACH_STATE_WORDS = {
    "planned": "Planned",
    "queued": "Queued to send",
    "sending": "Sending",
    "sent": "Sent",
    "delivered": "Delivered",
    "failed": "Failed",
    "skipped": "Skipped",
    "cancelled": "Cancelled",
}
# The planner's and sender's codes; Twilio's numeric codes are shown as they are.
OUTREACH_ERROR_WORDS = {
    "no_consent": "no SMS consent",
    "past_due": "its time had passed when it was planned",
    "expired": "too late to send",
    "quiet_hours": "would fall in quiet hours",
    "too_late": "too close to the visit",
    "superseded": "replaced by a newer plan",
}
# Outreach that will never go out: shown apart, under "Earlier plans", so the live plan reads on its own.
EARLIER_OUTREACH_STATES = frozenset({OutreachState.CANCELLED, OutreachState.SKIPPED})
CHANNEL_WORDS = {"sms": "Text", "staff": "Staff task", "voice": "Call"}
AUTHOR_WORDS = {"patient": "Patient", "bot": "Relay bot", "staff": "Staff", "system": "Relay"}
ACTOR_WORDS = {
    "bot": "Relay bot (for the patient)",
    "patient": "The patient",
    "system": "Relay (automatic)",
    "api": "The EHR or API",
    "seed": "Demo data",
}
LANGUAGE_WORDS = {"en": "English", "es": "Spanish"}


def when(moment: datetime | None, tz: str) -> str:
    return format_when(moment, tz) if moment is not None else ""


# --- search ----------------------------------------------------------------------------------------


def referral_url(external_id: str) -> str:
    return "/console/referrals/" + quote(external_id, safe="")


@dataclass(frozen=True)
class SearchRow:
    external_id: str
    url: str
    patient_id: int
    name: str
    mrn: str
    phone: str
    specialty: str
    specialist: str
    status: str
    status_words: str
    emergency: bool
    appointment: str | None


def search_rows(referrals: Iterable[Referral], tz: str) -> list[SearchRow]:
    return [_search_row(referral, tz) for referral in referrals]


def _search_row(referral: Referral, tz: str) -> SearchRow:
    patient, specialist = referral.patient, referral.specialist
    appointment = referral.current_appointment
    shown = None
    if appointment is not None:
        shown = f"{format_when(appointment.start_at, tz)} ({appointment_status_words(appointment.status)})"
    return SearchRow(
        external_id=referral.external_id,
        url=referral_url(referral.external_id),
        patient_id=patient.id,
        name=patient.name,
        mrn=patient.mrn,
        phone=masked_phone(patient.phone),
        specialty=specialist.specialty,
        specialist=specialist.name,
        status=referral.status,
        status_words=referral_status_words(referral.status),
        emergency=referral.is_emergency,
        appointment=shown,
    )


# --- one referral ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientView:
    id: int
    name: str
    mrn: str
    phone: str
    phone_problem: str | None
    language: str
    texts: str  # whether automated texts may go, in words
    opted_out: bool
    insurance: str


@dataclass(frozen=True)
class ReferralView:
    id: int
    external_id: str
    type: str
    emergency: bool
    priority: str
    specialty: str
    specialist: str
    facility: str
    referred_by: str
    reason: str
    received_on: str
    authorization: str | None
    status: str
    status_words: str
    next_step: str


@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    when: str
    who: str
    what: str


@dataclass(frozen=True)
class OutreachRow:
    id: int
    kind: str
    channel: str
    due_at: datetime
    due: str
    state: str
    state_words: str
    sent: str
    problem: str


@dataclass(frozen=True)
class AppointmentRow:
    id: int
    start_at: datetime
    when: str
    status: str
    status_words: str
    live: bool
    minutes: int
    where: str
    token: str  # "<id>:<version>": what a form saw, so a change made meanwhile is noticed


@dataclass(frozen=True)
class MessageRow:
    id: int
    at: datetime
    when: str
    inbound: bool
    who: str
    channel: str
    body: str
    delivery: str


@dataclass(frozen=True)
class Choice:
    value: str
    words: str


@dataclass(frozen=True)
class SlotChoice:
    value: str  # the slot's start, ISO 8601 in UTC
    dom_id: str
    label: str


@dataclass(frozen=True)
class SlotDay:
    label: str
    iso: str
    slots: list[SlotChoice]


@dataclass(frozen=True)
class Slots:
    first_day: date
    last_day: date
    span: str  # "Tue, Mar 10 to Mon, Mar 23"
    days: list[SlotDay]
    in_window: bool  # False: nothing was open in the two weeks; these are the nearest open times
    previous_from: str | None
    next_from: str


@dataclass(frozen=True)
class Booking:
    possible: bool
    why_not: str | None
    coverage_warning: str | None
    live: AppointmentRow | None
    current_token: str  # the live appointment's token, or "none"
    slots: Slots | None


@dataclass(frozen=True)
class ReferralPage:
    patient: PatientView
    referral: ReferralView
    transitions: list[Choice]
    history: list[HistoryRow]
    outreach: list[OutreachRow]
    appointments: list[AppointmentRow]
    booking: Booking
    messages: list[MessageRow]
    messages_total: int
    conversation_ids: list[int]
    open_handoff_id: int | None
    tz: str

    @property
    def outreach_current(self) -> list[OutreachRow]:
        """What is planned, on its way, sent or failed: what staff need to see."""
        return [row for row in self.outreach if row.state not in EARLIER_OUTREACH_STATES]

    @property
    def outreach_earlier(self) -> list[OutreachRow]:
        """What will never go: cancelled when a newer plan replaced it, or skipped."""
        return [row for row in self.outreach if row.state in EARLIER_OUTREACH_STATES]


def find_referral(session: Session, external_id: str) -> Referral | None:
    return session.scalars(select(Referral).filter_by(external_id=external_id)).one_or_none()


def appointment_token(appointment: Appointment | None) -> str:
    return f"{appointment.id}:{appointment.version}" if appointment is not None else "none"


def referral_page(session: Session, *, referral: Referral, clinic: Clinic, now: datetime,
                  from_day: date | None = None) -> ReferralPage:  # fmt: skip
    tz = clinic.timezone
    patient = referral.patient
    live = live_appointment(session, referral=referral)
    conversations = _conversations(session, patient)
    conversation_ids = [conversation.id for conversation in conversations]
    messages, total = _messages(session, conversation_ids, tz)
    return ReferralPage(
        patient=_patient_view(session, patient),
        referral=_referral_view(referral, live, tz),
        transitions=[
            Choice(status, referral_status_words(status)) for status in allowed_transitions(session, referral)
        ],
        history=_history(session, referral, tz),
        outreach=_outreach(session, referral, tz),
        appointments=[_appointment_row(appointment, tz) for appointment in reversed(referral.appointments)],
        booking=_booking(session, referral=referral, live=live, now=now, tz=tz, from_day=from_day),
        messages=messages,
        messages_total=total,
        conversation_ids=conversation_ids,
        open_handoff_id=_open_handoff(session, conversation_ids),
        tz=tz,
    )


def _patient_view(session: Session, patient: Patient) -> PatientView:
    if patient.phone is None:
        opted_out, texts = False, "No texts: no mobile number on file"
    else:
        opted_out = is_opted_out(session, patient.phone, patient=patient)
        texts = "Opted out: no automated texts go to this number" if opted_out else "Receives texts"
    code = (patient.language or "en").lower()
    return PatientView(
        id=patient.id,
        name=patient.name,
        mrn=patient.mrn,
        phone=masked_phone(patient.phone),
        phone_problem=patient.mobile_problem,
        language=LANGUAGE_WORDS.get(code.split("-")[0], f"{patient.language} (texts go in English)"),
        texts=texts,
        opted_out=opted_out,
        insurance=patient.insurance_payer or "none on file",
    )


def _referral_view(referral: Referral, live: Appointment | None, tz: str) -> ReferralView:
    specialist = referral.specialist
    authorization = None
    if referral.authorization_required:
        parts = [f"Required, {AUTHORIZATION_WORDS.get(referral.authorization_status or '', 'not yet asked')}"]
        if referral.authorization_submitted_on:
            parts.append(f"submitted {format_day(referral.authorization_submitted_on)}")
        if referral.authorization_reference:
            parts.append(f"payer reference {referral.authorization_reference}")
        authorization = "; ".join(parts)
    provider = referral.referring_provider
    return ReferralView(
        id=referral.id,
        external_id=referral.external_id,
        type=TYPE_WORDS.get(referral.type, referral.type),
        emergency=referral.is_emergency,
        priority=PRIORITY_WORDS.get(referral.priority, referral.priority),
        specialty=specialist.specialty,
        specialist=specialist.name,
        facility=specialist.facility,
        referred_by=f"{provider.name} ({provider.role})" if provider is not None else "Nobody: the patient asked",
        reason=referral.reason,
        received_on=f"{format_day(referral.received_on)}, {referral.received_on.year}",
        authorization=authorization,
        status=referral.status,
        status_words=referral_status_words(referral.status),
        next_step=next_step(referral, live, tz),
    )


def next_step(referral: Referral, live: Appointment | None, tz: str) -> str:
    """What the clinic does next with this referral, in a sentence."""
    status = referral.status
    if referral.is_emergency and status in (ReferralStatus.RECEIVED, ReferralStatus.READY_TO_SCHEDULE,
                                            ReferralStatus.NO_SHOW, ReferralStatus.CANCELLED):  # fmt: skip
        return "Emergency: call the patient now and book the visit with them below; the bot never books it."
    if status == ReferralStatus.RECEIVED:
        return "Review it: ask the payer for approval if it needs one, else mark it ready to book."
    if status == ReferralStatus.AUTHORIZATION_PENDING:
        if referral.authorization_status == "denied":
            return "The payer denied it: call the patient to explain, then decline or cancel the referral."
        return "Wait for the payer's answer, then mark it ready to book (or declined if it is refused)."
    if status == ReferralStatus.READY_TO_SCHEDULE:
        return "The patient has been invited by text to book. Book a time below if they call or ask."
    if status == ReferralStatus.SCHEDULED:
        if live is not None:
            return (
                f"Visit on {format_when(live.start_at, tz)}. Afterwards, mark it done or missed; "
                "move or cancel it below if the patient asks."
            )
        return "Booked, but no appointment holds a slot: book a time below."
    if status == ReferralStatus.NO_SHOW:
        return "The patient missed the visit and was asked for a new time. Book one below when you reach them."
    if status == ReferralStatus.CANCELLED:
        return "Cancelled. If the patient still needs the visit, book a new time below; otherwise nothing."
    return "Nothing: the referral is closed."


def _actor_words(actor: str, staff_names: dict[int, str]) -> str:
    if actor.startswith("staff:"):
        tail = actor.removeprefix("staff:")
        return staff_names.get(int(tail), "A staff member") if tail.isdigit() else "A staff member"
    return ACTOR_WORDS.get(actor, actor)


def _event_words(event: AuditEvent, tz: str) -> str:
    details = event.details or {}
    action = event.action
    if action == "referral.status_changed":
        before, after = referral_status_words(str(details.get("from"))), referral_status_words(str(details.get("to")))
        moved = f"Status changed from {before} to {after}"
        authorization = details.get("authorization_status")
        return moved + (f"; authorization {authorization}" if authorization else "")
    if action == "referral.authorization_updated":
        return f"Authorization updated: {details.get('authorization_status', 'details changed')}"
    if action == "appointment.booked":
        return f"Appointment booked for {_when_iso(details.get('start_at'), tz)}"
    if action == "appointment.rescheduled":
        old, new = _when_iso(details.get("old_start_at"), tz), _when_iso(details.get("new_start_at"), tz)
        return f"Appointment moved from {old} to {new}"
    if action == "appointment.cancelled":
        return f"Appointment on {_when_iso(details.get('start_at'), tz)} cancelled"
    if action == "appointment.confirmed":
        return f"Patient confirmed the appointment on {_when_iso(details.get('start_at'), tz)}"
    if action == "appointment.completed":
        return "Visit marked done"
    if action == "appointment.no_show":
        return "Visit marked missed"
    return action.replace(".", ": ").replace("_", " ").capitalize()


def _when_iso(value: object, tz: str) -> str:
    if not isinstance(value, str):
        return "an unknown time"
    try:
        return format_when(datetime.fromisoformat(value), tz)
    except ValueError:
        return "an unknown time"


def _history(session: Session, referral: Referral, tz: str) -> list[HistoryRow]:
    """What happened to the referral (status changes, bookings, ...) and to the patient's consent, newest first.
    Views are left out: they are audited, but they are not the referral's history."""
    events = list(
        session.scalars(
            select(AuditEvent)
            .where(
                or_(
                    AuditEvent.referral_id == referral.id,
                    (AuditEvent.patient_id == referral.patient_id) & AuditEvent.action.like("consent.%"),
                ),
                AuditEvent.action != VIEWED,
            )
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        )
    )
    staff_ids = {int(e.actor[6:]) for e in events if e.actor.startswith("staff:") and e.actor[6:].isdigit()}
    names: dict[int, str] = {
        row.id: row.name
        for row in session.execute(select(StaffUser.id, StaffUser.name).where(StaffUser.id.in_(staff_ids)))
    }
    return [
        HistoryRow(at=e.at, when=format_when(e.at, tz), who=_actor_words(e.actor, names), what=_event_words(e, tz))
        for e in events
    ]


def _outreach(session: Session, referral: Referral, tz: str) -> list[OutreachRow]:
    appointment_ids = [appointment.id for appointment in referral.appointments]
    rows = session.scalars(
        select(PlannedOutreach)
        .where(or_(PlannedOutreach.referral_id == referral.id, PlannedOutreach.appointment_id.in_(appointment_ids)))
        .order_by(PlannedOutreach.due_at, PlannedOutreach.id)
    )
    return [
        OutreachRow(
            id=row.id,
            kind=OUTREACH_KIND_WORDS.get(row.kind, row.kind),
            channel=CHANNEL_WORDS.get(row.channel, row.channel),
            due_at=row.due_at,
            due=format_when(row.due_at, tz),
            state=row.state,
            state_words=OUTREACH_STATE_WORDS.get(row.state, row.state),
            sent=when(row.sent_at, tz),
            problem=OUTREACH_ERROR_WORDS.get(row.error_code, f"error {row.error_code}") if row.error_code else "",
        )
        for row in rows
    ]


def _appointment_row(appointment: Appointment, tz: str) -> AppointmentRow:
    specialist = appointment.specialist
    return AppointmentRow(
        id=appointment.id,
        start_at=appointment.start_at,
        when=format_when(appointment.start_at, tz),
        status=appointment.status,
        status_words=appointment_status_words(appointment.status),
        live=appointment.status in LIVE_APPOINTMENT_STATUSES,
        minutes=appointment.duration_minutes,
        where=f"{specialist.name}, {specialist.facility}",
        token=appointment_token(appointment),
    )


def _booking(session: Session, *, referral: Referral, live: Appointment | None, now: datetime, tz: str,
             from_day: date | None) -> Booking:  # fmt: skip
    why_not = why_not_bookable(referral)
    coverage = None
    if not coverage_accepted(referral.patient, referral.specialist):
        payer = referral.patient.insurance_payer or "no insurance on file"
        coverage = (
            f"{referral.specialist.name} does not list the patient's insurance ({payer}). "
            "Check with the patient before booking, or find an in-network specialist."
        )
    return Booking(
        possible=why_not is None,
        why_not=why_not,
        coverage_warning=coverage,
        live=_appointment_row(live, tz) if live is not None else None,
        current_token=appointment_token(live),
        slots=open_slots(session, referral=referral, now=now, tz=tz, from_day=from_day) if why_not is None else None,
    )


def why_not_bookable(referral: Referral) -> str | None:
    """Why the console can't book this referral now (booking.book_slot would refuse it), in staff's words."""
    if referral.status not in schedulable_statuses(referral, by_staff=True):
        if referral.status in (ReferralStatus.RECEIVED, ReferralStatus.AUTHORIZATION_PENDING):
            return "Mark the referral ready to book first (Status, above)."
        return f"A referral that is {referral_status_words(referral.status).lower()} can't be booked."
    return None


def open_slots(session: Session, *, referral: Referral, now: datetime, tz: str, from_day: date | None) -> Slots:
    """The specialist's open slots over two weeks from `from_day` (today if earlier or not given), by local day.

    The same slot finder as the bot (offer_slots): when nothing is open in those
    two weeks it gives the nearest open times instead.
    """
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    first = max(from_day or today, today)
    last = first + timedelta(days=SLOT_DAYS - 1)
    window = TimeWindow(
        start=datetime.combine(first, time.min, tzinfo=zone),
        end=datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone),
        preferred=None,
        label=f"{format_day(first)} to {format_day(last)}",
    )
    offer = offer_slots(session, specialist_id=referral.specialist_id, window=window, now=now, tz=tz, limit=_SLOT_LIMIT)
    days: dict[date, list[SlotChoice]] = {}
    for slot in sorted(offer.slots):
        local = slot.astimezone(zone)
        instant = slot.astimezone(UTC)
        days.setdefault(local.date(), []).append(
            SlotChoice(
                value=instant.isoformat(), dom_id=f"slot-{instant:%Y%m%dT%H%M}", label=format_clock(local.time())
            )
        )
    previous = first - timedelta(days=SLOT_DAYS)
    return Slots(
        first_day=first,
        last_day=last,
        span=window.label,
        days=[SlotDay(label=format_day(day), iso=day.isoformat(), slots=slots) for day, slots in sorted(days.items())],
        in_window=offer.in_window,
        previous_from=max(previous, today).isoformat() if first > today else None,
        next_from=(first + timedelta(days=SLOT_DAYS)).isoformat(),
    )


def _conversations(session: Session, patient: Patient) -> list[Conversation]:
    condition = Conversation.patient_id == patient.id
    if patient.phone:
        condition = or_(condition, Conversation.phone == patient.phone)
    return list(session.scalars(select(Conversation).where(condition).order_by(Conversation.id)))


def _messages(session: Session, conversation_ids: list[int], tz: str) -> tuple[list[MessageRow], int]:
    """The latest messages with the patient, oldest first, and how many there are in all."""
    if not conversation_ids:
        return [], 0
    in_them = Message.conversation_id.in_(conversation_ids)
    total = session.scalar(select(func.count()).select_from(Message).where(in_them)) or 0
    latest = session.scalars(
        select(Message).where(in_them).order_by(Message.created_at.desc(), Message.id.desc()).limit(MESSAGES_SHOWN)
    ).all()
    rows = [
        MessageRow(
            id=message.id,
            at=message.created_at,
            when=format_when(message.created_at, tz),
            inbound=message.direction == "inbound",
            who=AUTHOR_WORDS.get(message.author, message.author),
            channel=CHANNEL_WORDS.get(message.channel, message.channel),
            body=message.body,
            delivery=_delivery_words(message),
        )
        for message in reversed(latest)
    ]
    return rows, total


def _delivery_words(message: Message) -> str:
    if message.direction == "inbound":
        return "Received"
    if message.delivery_status is None:
        return "Sent" if message.channel == "voice" else "Not recorded"
    return DELIVERY_WORDS.get(message.delivery_status, message.delivery_status)


def _open_handoff(session: Session, conversation_ids: list[int]) -> int | None:
    if not conversation_ids:
        return None
    return session.scalars(
        select(Handoff.id)
        .where(Handoff.conversation_id.in_(conversation_ids), Handoff.status == HandoffStatus.OPEN)
        .order_by(Handoff.id)
        .limit(1)
    ).first()
