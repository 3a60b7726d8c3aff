"""What staff read when they take a conversation over, so they never ask the patient to repeat themselves.

Two parts, from the database and from Rasa's memory of the conversation:
- the summary card: who it is and whether the bot verified them, which referral,
  the live appointment, the times the bot offered, what the patient asked for in
  their last turns, and why the conversation was handed over;
- the timeline: everything that happened with the patient, SMS and calls alike,
  in time order (messages, calls and their turns, outreach, consent changes,
  handoffs, verification and appointment events).

Rasa is asked over its HTTP API with a short timeout; when it does not answer,
the card is built without what only Rasa knows and says so.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session, selectinload

from console.display import DELIVERY_WORDS, appointment_status_words, referral_status_words
from console.queue import PRIORITY_WORDS, reason_words, waited
from console.referral_view import TYPE_WORDS
from relay.core.phones import pretty
from relay.core.settings import get_settings
from relay.identity.verification import is_verified
from relay.inbound import rasa_client
from relay.language.timefmt import format_day, format_when, local
from relay.models import (
    AuditEvent,
    Call,
    CallOutcome,
    ConsentEvent,
    Conversation,
    Handoff,
    HandoffStatus,
    Message,
    OutreachKind,
    OutreachState,
    Patient,
    PlannedOutreach,
    Referral,
    StaffUser,
)
from relay.models.referral import (
    LIVE_APPOINTMENT_STATUSES,
    OPEN_REFERRAL_STATUSES,
    Appointment,
    AppointmentStatus,
    AuthorizationStatus,
    ReferralStatus,
)
from relay.records import consent
from relay.records.clinics import get_clinic
from relay.referrals.status import referrals_to_discuss

log = logging.getLogger("console.takeover")

TRACKER_TIMEOUT_SECONDS = 2.0
MEMORY_UNAVAILABLE = "The bot's memory is not available right now"
# The timeline shows its latest entries, newest last, just above the reply form; the whole timeline (up to its
# limit: a patient texting for years would otherwise fill the page) is one link away.
TIMELINE_SHOWN = 30
TIMELINE_LIMIT = 300
LAST_TURNS = 3


OUTREACH_WORDS: dict[str, str] = {
    OutreachKind.STATUS_UPDATE: "Referral status update",
    OutreachKind.CONFIRMATION: "Appointment booked: confirm or reschedule",
    OutreachKind.REMINDER: "Appointment reminder",
    OutreachKind.SCHEDULING_INVITE: "Invitation to book",
    OutreachKind.SCHEDULING_NUDGE: "Reminder to book",
    OutreachKind.NO_SHOW_FOLLOWUP: "Follow-up after a missed visit",
    OutreachKind.REBOOK_OFFER: "Offer to book again",
    OutreachKind.REVIEW_REQUEST: "Request for a rating after the visit",
    OutreachKind.LEAKAGE_HANDOFF: "Unbooked referral handed to staff",
}

# Outreach shown in the timeline: what went out, or tried to and failed.
SHOWN_OUTREACH = (OutreachState.SENT, OutreachState.DELIVERED, OutreachState.FAILED)


CALL_OUTCOME_WORDS: dict[str, str] = {
    CallOutcome.TRANSFERRED: "Put through to the front desk",
    CallOutcome.TRANSFER_UNANSWERED: "Put through to the front desk; nobody answered",
    CallOutcome.EMERGENCY: "Emergency: told to hang up and call 911 or 988",
    CallOutcome.CALLBACK: "The bot was too slow: promised a call back",
    CallOutcome.COMPLETED_BY_BOT: "Completed by the bot",
    CallOutcome.CALLER_HUNG_UP: "The caller hung up",
    CallOutcome.NOT_CONNECTED: "Not connected",
}

TURN_WORDS = {"silence": "(said nothing)", "unclear": "(speech not clear enough to use)"}

AUDITED_ACTIONS: dict[str, str] = {
    "handoff.opened": "handoff",
    "handoff.escalated": "handoff",
    "handoff.claimed": "handoff",
    "handoff.released": "handoff",
    "handoff.resolved": "handoff",
    "verification.passed": "identity",
    "verification.failed": "identity",
    "verification.locked": "identity",
    "verification.unlocked": "identity",
    "appointment.booked": "appointment",
    "appointment.rescheduled": "appointment",
    "appointment.confirmed": "appointment",
    "appointment.cancelled": "appointment",
    "referral.status_changed": "referral",
}


# --- what the templates read ---------------------------------------------------------------------


@dataclass(frozen=True)
class Moment:
    """A time as staff read it (the clinic's zone) and as a <time datetime> carries it."""

    text: str
    iso: str
    at: datetime

    @classmethod
    def of(cls, moment: datetime, tz: str) -> "Moment":
        return cls(text=format_when(moment, tz), iso=moment.astimezone(UTC).isoformat(), at=moment)


@dataclass(frozen=True)
class Identity:
    state: str  # verified | expired | not_verified | locked | unknown_number
    words: str
    details: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AppointmentFacts:
    when: Moment
    status: str
    status_words: str
    live: bool
    confirmed: bool
    past: bool
    minutes: int
    specialist: str
    facility: str
    address: str


@dataclass(frozen=True)
class ReferralFacts:
    id: int
    external_id: str
    kind: str
    specialty: str
    specialist: str
    facility: str
    address: str
    specialist_phone: str
    prep: str | None
    status: str
    status_words: str
    next_step: str
    priority: str
    received_on: str
    referred_by: str | None
    authorization: str | None
    reason: str  # clinical: staff only, never texted
    live_appointment: AppointmentFacts | None
    appointments: list[AppointmentFacts]

    @property
    def label(self) -> str:
        return f"{self.external_id}: {self.specialty} with {self.specialist}"


@dataclass(frozen=True)
class AskedTurn:
    when: Moment
    channel: str
    body: str
    intent: str | None  # as the bot understood it (from Rasa's tracker), None when unknown
    confidence: str | None


@dataclass(frozen=True)
class Escalation:
    reason: str
    code: str
    priority: str
    priority_value: str
    opened: Moment
    waited: str
    acknowledged: Moment | None


@dataclass(frozen=True)
class HandoffState:
    """Where the handoff is: open or resolved, and who has it."""

    id: int
    open: bool
    claimed_by_id: int | None
    claimed_by: str | None
    claimed_at: Moment | None
    resolved_at: Moment | None
    resolved_by: str | None
    resolution_note: str | None


@dataclass(frozen=True)
class PatientFacts:
    name: str | None  # None: a number that is no patient on file
    mrn: str | None
    phone: str
    language: str | None
    insurance: str | None
    opted_out: bool
    mobile_problem: str | None


LANGUAGE_WORDS = {"en": "English", "es": "Spanish"}


@dataclass(frozen=True)
class Summary:
    who: str
    identity: Identity
    referrals: list[ReferralFacts]
    referral_from_handoff: bool
    memory_available: bool
    offered_slots: list[Moment]
    booking_referral: str | None
    asked: list[AskedTurn]
    escalation: Escalation
    # The language the bot was speaking (its `language` slot): staff reply in it.
    conversation_language: str | None = None


@dataclass(frozen=True)
class Line:
    """One thing said in a call."""

    when: Moment
    who: str
    text: str
    note: str | None = None


@dataclass(frozen=True)
class Entry:
    kind: str  # message | call | outreach | consent | handoff | identity | appointment | referral
    when: Moment
    title: str
    body: str | None = None
    direction: str | None = None  # inbound | outbound
    channel: str | None = None  # SMS | Call
    state: str | None = None
    note: str | None = None
    lines: list[Line] = field(default_factory=list)
    # Among entries at the same instant: what the patient said (0), what it led to (1), what was sent (2).
    order: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Timeline:
    entries: list[Entry]
    truncated: bool  # older entries are left out
    updated: str
    total: int = 0  # entries in all
    whole: bool = False  # the whole timeline was asked for (up to TIMELINE_LIMIT), not only the latest
    latest: int = TIMELINE_SHOWN  # how many entries the page shows unless the whole timeline is asked for


@dataclass(frozen=True)
class Takeover:
    handoff: HandoffState
    patient_id: int | None
    conversation_id: int
    referral_id: int | None
    patient: PatientFacts
    summary: Summary
    timeline: Timeline
    referrals: list[ReferralFacts]  # every referral of the patient, for the details beside the timeline


# --- building them -------------------------------------------------------------------------------


def build(session: Session, handoff: Handoff, *, now: datetime, tracker: dict | None = None,
          whole_timeline: bool = False) -> Takeover:  # fmt: skip
    """Everything the takeover page shows. `tracker` is Rasa's, or None to ask Rasa now."""
    tz = get_clinic(session).timezone
    conversation = handoff.conversation
    patient = _patient_of(session, handoff)
    if tracker is None:
        tracker = fetch_tracker(conversation.public_id)
    memory = BotMemory.of(tracker) if tracker is not None else None
    all_referrals = [referral_facts(r, tz, now) for r in _referrals_in_order(patient)] if patient else []
    summary = _summary(session, handoff, patient, tz=tz, now=now, memory=memory, all_referrals=all_referrals)
    return Takeover(
        handoff=handoff_state(session, handoff, tz),
        patient_id=patient.id if patient else None,
        conversation_id=conversation.id,
        referral_id=handoff.referral_id,
        patient=_patient_facts(session, patient, conversation),
        summary=summary,
        timeline=timeline(session, handoff, now=now, tz=tz, whole=whole_timeline),
        referrals=all_referrals,
    )


def patient_id_of(session: Session, handoff: Handoff) -> int | None:
    patient = _patient_of(session, handoff)
    return patient.id if patient else None


def fetch_tracker(sender: str) -> dict | None:
    try:
        return rasa_client.get_tracker(sender, timeout=TRACKER_TIMEOUT_SECONDS)
    except rasa_client.RasaUnavailable as exc:
        log.info("rasa tracker unavailable for conversation=%s (%s)", sender, exc)
        return None


def _patient_of(session: Session, handoff: Handoff) -> Patient | None:
    patient_id = handoff.patient_id or handoff.conversation.patient_id
    return session.get(Patient, patient_id) if patient_id else None


def handoff_state(session: Session, handoff: Handoff, tz: str) -> HandoffState:
    claimer = session.get(StaffUser, handoff.assigned_to_id) if handoff.assigned_to_id else None
    resolver = session.get(StaffUser, handoff.resolved_by_id) if handoff.resolved_by_id else None
    return HandoffState(
        id=handoff.id,
        open=handoff.status == HandoffStatus.OPEN,
        claimed_by_id=handoff.assigned_to_id,
        claimed_by=claimer.name if claimer else None,
        claimed_at=Moment.of(handoff.claimed_at, tz) if handoff.claimed_at else None,
        resolved_at=Moment.of(handoff.resolved_at, tz) if handoff.resolved_at else None,
        resolved_by=resolver.name if resolver else None,
        resolution_note=handoff.resolution_note,
    )


def _patient_facts(session: Session, patient: Patient | None, conversation: Conversation) -> PatientFacts:
    phone = conversation.phone or (patient.phone if patient else None) or ""
    return PatientFacts(
        name=patient.name if patient else None,
        mrn=patient.mrn if patient else None,
        phone=_pretty(phone),
        language=LANGUAGE_WORDS.get(patient.language, patient.language) if patient else None,
        insurance=(patient.insurance_payer or "None on file") if patient else None,
        opted_out=consent.is_opted_out(session, phone, patient=patient) if phone else False,
        mobile_problem=patient.mobile_problem if patient else None,
    )


def _pretty(phone: str) -> str:
    try:
        return pretty(phone)
    except Exception:  # a number libphonenumber cannot read is still shown as stored
        return phone


# --- the summary card ----------------------------------------------------------------------------


def _summary(
    session: Session,
    handoff: Handoff,
    patient: Patient | None,
    *,
    tz: str,
    now: datetime,
    memory: "BotMemory | None",
    all_referrals: list[ReferralFacts],
) -> Summary:
    conversation = handoff.conversation
    referral = session.get(Referral, handoff.referral_id) if handoff.referral_id else None
    if referral is not None:
        referrals = [referral_facts(referral, tz, now)]
    elif patient is not None:
        discussed = {r.id for r in referrals_to_discuss(patient)}
        referrals = [facts for facts in all_referrals if facts.id in discussed]
    else:
        referrals = []
    offered: list[Moment] = []
    booking: str | None = None
    if memory is not None:
        offered = [Moment.of(moment, tz) for moment in memory.offered_slots]
        if memory.booking_referral:
            booked = session.scalars(select(Referral).filter_by(external_id=memory.booking_referral)).one_or_none()
            booking = referral_facts(booked, tz, now).label if booked is not None else memory.booking_referral
    return Summary(
        who=patient.name if patient else "Unknown number",
        identity=identity(conversation, patient, tz=tz, now=now),
        referrals=referrals,
        referral_from_handoff=referral is not None,
        memory_available=memory is not None,
        offered_slots=offered,
        booking_referral=booking,
        asked=_last_turns(session, handoff, patient, tz=tz, memory=memory),
        conversation_language=LANGUAGE_WORDS.get(memory.language or "") if memory is not None else None,
        escalation=Escalation(
            reason=reason_words(handoff.reason),
            code=handoff.reason,
            priority=PRIORITY_WORDS[handoff.priority],
            priority_value=handoff.priority.value,
            opened=Moment.of(handoff.opened_at, tz),
            waited=waited(handoff.opened_at, now),
            acknowledged=Moment.of(handoff.acknowledged_at, tz) if handoff.acknowledged_at else None,
        ),
    )


def identity(conversation: Conversation, patient: Patient | None, *, tz: str, now: datetime) -> Identity:
    failed = conversation.failed_verifications
    tries = f"{failed} wrong date{'s' if failed != 1 else ''} of birth" if failed else None
    if patient is None:
        return Identity("unknown_number", "Unknown number: no patient on file has this number, so nothing "
                        "about a patient was shared with it.")  # fmt: skip
    if conversation.locked_at is not None:
        details = [f"Locked at {format_when(conversation.locked_at, tz)}"] + ([tries] if tries else [])
        return Identity("locked", "Not verified: locked after too many wrong dates of birth. The bot shares "
                        "nothing until staff unlock it.", details)  # fmt: skip
    if conversation.verified_at is not None:
        verified = format_when(conversation.verified_at, tz)
        if is_verified(conversation, now):
            return Identity("verified", f"Verified: their date of birth matched at {verified}.")
        minutes = get_settings().verification_minutes
        return Identity("expired", f"Verified at {verified}; that was over {minutes} minutes ago, so the bot "
                        "would ask again.")  # fmt: skip
    return Identity("not_verified", "Not verified: they have not given a matching date of birth in this "
                    "conversation.", [tries] if tries else [])  # fmt: skip


def _referrals_in_order(patient: Patient) -> list[Referral]:
    """Open referrals first, then the rest, newest first within each."""
    return sorted(
        patient.referrals,
        key=lambda r: (r.status not in OPEN_REFERRAL_STATUSES, -r.received_on.toordinal(), -r.id),
    )


def referral_facts(referral: Referral, tz: str, now: datetime) -> ReferralFacts:
    specialist = referral.specialist
    appointments = [_appointment_facts(a, tz, now) for a in referral.appointments]
    live = [a for a in appointments if a.live]
    return ReferralFacts(
        id=referral.id,
        external_id=referral.external_id,
        kind=TYPE_WORDS.get(referral.type, referral.type.replace("_", " ").capitalize()),
        specialty=specialist.specialty,
        specialist=specialist.name,
        facility=specialist.facility,
        address=specialist.address,
        specialist_phone=_pretty(specialist.phone),
        prep=specialist.prep,
        status=referral.status.value,
        status_words=referral_status_words(referral.status),
        next_step=next_step(referral, tz, now),
        priority={"routine": "Routine", "urgent": "Urgent", "emergency": "Emergency"}.get(
            referral.priority, referral.priority
        ),
        received_on=format_day(referral.received_on),
        referred_by=(
            f"{referral.referring_provider.name}, {referral.referring_provider.role}"
            if referral.referring_provider
            else None
        ),
        authorization=_authorization(referral),
        reason=referral.reason,
        live_appointment=live[-1] if live else None,
        appointments=appointments,
    )


def _appointment_facts(appointment: Appointment, tz: str, now: datetime) -> AppointmentFacts:
    specialist = appointment.specialist
    return AppointmentFacts(
        when=Moment.of(appointment.start_at, tz),
        status=appointment.status.value,
        status_words=appointment_status_words(appointment.status),
        live=appointment.status in LIVE_APPOINTMENT_STATUSES,
        confirmed=appointment.status == AppointmentStatus.CONFIRMED,
        past=appointment.start_at < now,
        minutes=appointment.duration_minutes,
        specialist=specialist.name,
        facility=specialist.facility,
        address=specialist.address,
    )


def _authorization(referral: Referral) -> str | None:
    if not referral.authorization_required:
        return "Not needed"
    payer = referral.patient.insurance_payer or "the insurer"
    status = referral.authorization_status
    if status == AuthorizationStatus.APPROVED:
        words = f"Approved by {payer}"
    elif status == AuthorizationStatus.DENIED:
        words = f"Denied by {payer}"
    elif status == AuthorizationStatus.PENDING:
        words = f"Asked {payer}, no answer yet"
    else:
        words = f"Needed from {payer}, not asked yet"
    if referral.authorization_submitted_on:
        words += f" (asked {format_day(referral.authorization_submitted_on)})"
    if referral.authorization_reference:
        words += f", reference {referral.authorization_reference}"
    return words


def next_step(referral: Referral, tz: str, now: datetime) -> str:
    """What happens next for this referral, as staff act on it."""
    status = referral.status
    appointment = referral.current_appointment
    if status == ReferralStatus.RECEIVED:
        if referral.is_emergency:
            return "Urgent: staff call the patient to book; the bot does not book urgent referrals."
        if referral.authorization_required:
            return "Ask the insurer for approval; then it can be booked."
        return "Check it and mark it ready to book."
    if status == ReferralStatus.AUTHORIZATION_PENDING:
        if referral.authorization_status == AuthorizationStatus.DENIED:
            return "The insurer said no: talk with the patient about other options."
        return "Waiting for the insurer's answer; follow up with them if it is taking long."
    if status == ReferralStatus.READY_TO_SCHEDULE:
        return "Book a visit with the patient (the bot can offer times by text)."
    if status == ReferralStatus.SCHEDULED:
        if appointment is not None and appointment.start_at >= now:
            confirmed = appointment.status == AppointmentStatus.CONFIRMED
            return f"The visit on {format_when(appointment.start_at, tz)}" + (
                "." if confirmed else "; the patient has not confirmed it yet."
            )
        return "The visit time has passed; waiting for the record to say whether they came."
    if status == ReferralStatus.COMPLETED:
        return "Nothing more: the visit is done."
    if status == ReferralStatus.CANCELLED:
        return "Book again if the patient still needs the visit."
    if status == ReferralStatus.NO_SHOW:
        return "Offer the patient a new time."
    return "Nothing to book: the referral was declined."


# --- Rasa's memory -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserTurn:
    text: str
    intent: str | None
    confidence: float | None


@dataclass(frozen=True)
class BotMemory:
    """What the card needs from a Rasa tracker: the offered slots, the referral being booked, the intents."""

    offered_slots: list[datetime]
    booking_referral: str | None
    user_turns: list[UserTurn]  # oldest first
    language: str | None = None  # the conversation's ("en"/"es"), which may not be the record's

    @classmethod
    def of(cls, tracker: dict[str, Any]) -> "BotMemory":
        slots = tracker.get("slots")
        slots = slots if isinstance(slots, dict) else {}
        offered_raw = slots.get("offered_slots")
        offered = [m for m in (_instant(v) for v in offered_raw) if m] if isinstance(offered_raw, list) else []
        booking = slots.get("booking_referral")
        events = tracker.get("events")
        turns = []
        for event in events if isinstance(events, list) else []:
            if not isinstance(event, dict) or event.get("event") != "user":
                continue
            parse = event.get("parse_data")
            intent = parse.get("intent") if isinstance(parse, dict) else None
            name = intent.get("name") if isinstance(intent, dict) else None
            confidence = intent.get("confidence") if isinstance(intent, dict) else None
            turns.append(
                UserTurn(
                    text=str(event.get("text") or ""),
                    intent=name if isinstance(name, str) and name else None,
                    confidence=float(confidence) if isinstance(confidence, int | float) else None,
                )
            )
        language = slots.get("language")
        return cls(offered_slots=offered, booking_referral=booking if isinstance(booking, str) else None,
                   user_turns=turns, language=language if language in LANGUAGE_WORDS else None)  # fmt: skip

    def intents_for(self, texts: list[str]) -> list[UserTurn | None]:
        """The tracker's turn for each of these texts (oldest first), matched from the latest back."""
        unused = list(self.user_turns)
        found: list[UserTurn | None] = []
        for text in reversed(texts):
            wanted = " ".join(text.split()).casefold()
            match = None
            for index in range(len(unused) - 1, -1, -1):
                if " ".join(unused[index].text.split()).casefold() == wanted:
                    match = unused[index]
                    unused = unused[:index]  # earlier messages match earlier turns only
                    break
            found.append(match)
        return list(reversed(found))


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


INTENT_WORDS = {
    "nlu_fallback": "not understood",
    "request_human": "asked for a person",
    "affirm": "yes",
    "deny": "no",
}


def intent_words(name: str) -> str:
    return INTENT_WORDS.get(name) or name.replace("_", " ")


def _last_turns(
    session: Session, handoff: Handoff, patient: Patient | None, *, tz: str, memory: "BotMemory | None"
) -> list[AskedTurn]:
    conversation_ids = [c.id for c in _conversations(session, handoff, patient)]
    latest = list(
        session.scalars(
            select(Message)
            .where(Message.conversation_id.in_(conversation_ids), Message.direction == "inbound")
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(LAST_TURNS)
        )
    )[::-1]
    matched = memory.intents_for([m.body for m in latest]) if memory else [None] * len(latest)
    return [
        AskedTurn(
            when=Moment.of(message.created_at, tz),
            channel="Call" if message.channel == "voice" else "SMS",
            body=message.body,
            intent=intent_words(turn.intent) if turn and turn.intent else None,
            confidence=f"{turn.confidence:.0%}" if turn and turn.confidence is not None else None,
        )
        for message, turn in zip(latest, matched, strict=True)
    ]


# --- the timeline --------------------------------------------------------------------------------


def _conversations(session: Session, handoff: Handoff, patient: Patient | None) -> list[Conversation]:
    """The handoff's conversation and every other one of the same patient (a number changes, calls join)."""
    wanted: list[ColumnElement[bool]] = [Conversation.id == handoff.conversation_id]
    if patient is not None:
        wanted.append(Conversation.patient_id == patient.id)
        if patient.phone:
            wanted.append(Conversation.phone == patient.phone)
    return list(session.scalars(select(Conversation).where(or_(*wanted)).order_by(Conversation.id)))


def timeline(session: Session, handoff: Handoff, *, now: datetime, tz: str | None = None,
             whole: bool = False) -> Timeline:  # fmt: skip
    """Everything with the patient in time order, newest last: the latest TIMELINE_SHOWN entries, or with `whole`
    the latest TIMELINE_LIMIT."""
    tz = tz or get_clinic(session).timezone
    patient = _patient_of(session, handoff)
    conversations = _conversations(session, handoff, patient)
    ids = [c.id for c in conversations]
    phones = sorted({c.phone for c in conversations} | ({patient.phone} if patient and patient.phone else set()))
    names = _StaffNames(session)

    audits = _audit_events(session, ids, patient)
    staff_of_message = {
        e.details.get("message_id"): names.actor(e.actor)
        for e in audits
        if e.action == "handoff.replied" and isinstance(e.details, dict)
    }
    outreach = _outreach(session, patient)
    outreach_of_message = {o.message_id: o for o in outreach if o.message_id is not None}

    entries: list[Entry] = []
    messages = list(
        session.scalars(
            select(Message).where(Message.conversation_id.in_(ids)).order_by(Message.created_at, Message.id)
        )
    )
    calls = list(
        session.scalars(
            select(Call)
            .where(Call.conversation_id.in_(ids))
            .options(selectinload(Call.turns))
            .order_by(Call.started_at, Call.id)
        )
    )
    voice = [m for m in messages if m.channel == "voice"]
    call_entries, in_calls = _call_entries(calls, voice, patient, tz)
    entries += call_entries
    for message in messages:
        if message.id in in_calls:
            continue
        entries.append(_message_entry(message, patient, tz, staff_of_message, outreach_of_message))
    entries += [_outreach_entry(o, tz) for o in outreach if o.message_id is None and o.state in SHOWN_OUTREACH]
    entries += [_consent_entry(e, tz) for e in _consent_events(session, phones, patient)]
    handoffs = {h.id: h for h in session.scalars(select(Handoff).where(Handoff.conversation_id.in_(ids)))}
    entries += [
        entry
        for e in audits
        if e.action in AUDITED_ACTIONS and (entry := _audit_entry(e, tz, names, handoffs)) is not None
    ]
    entries.sort(key=lambda e: (e.when.at, e.order))
    limit = TIMELINE_LIMIT if whole else TIMELINE_SHOWN
    return Timeline(
        entries=entries[-limit:],
        truncated=len(entries) > limit,
        updated=updated_words(now, tz),
        total=len(entries),
        whole=whole,
    )


def updated_words(now: datetime, tz: str) -> str:
    """'3:04:05 PM': when a self-refreshing part was last brought up to date."""
    moment = local(now, tz)
    return f"{moment.hour % 12 or 12}:{moment:%M:%S} {'AM' if moment.hour < 12 else 'PM'}"


class _StaffNames:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.cache: dict[int, str] = {}

    def of(self, staff_id: int | None) -> str | None:
        if staff_id is None:
            return None
        if staff_id not in self.cache:
            user = self.session.get(StaffUser, staff_id)
            self.cache[staff_id] = user.name if user else f"staff member {staff_id}"
        return self.cache[staff_id]

    def actor(self, actor: str) -> str:
        if actor.startswith("staff:") and actor[6:].isdigit():
            return self.of(int(actor[6:])) or actor
        return {"bot": "the bot", "system": "Relay", "patient": "the patient", "seed": "the demo data"}.get(
            actor, actor
        )


def _who(message: Message, patient: Patient | None, staff: str | None) -> str:
    if message.author == "patient":
        return patient.name if patient else "Unknown number"
    if message.author == "staff":
        return f"{staff} (staff)" if staff else "Staff"
    return {"bot": "Bot", "system": "Relay (automatic)"}.get(message.author, message.author.title())


def _message_entry(
    message: Message,
    patient: Patient | None,
    tz: str,
    staff_of_message: dict[Any, str],
    outreach_of_message: dict[int, PlannedOutreach],
) -> Entry:
    outreach = outreach_of_message.get(message.id)
    note = f"Outreach: {OUTREACH_WORDS.get(outreach.kind, outreach.kind)}" if outreach else None
    outbound = message.direction == "outbound"
    return Entry(
        kind="outreach" if outreach else "message",
        when=Moment.of(message.created_at, tz),
        title=_who(message, patient, staff_of_message.get(message.id)),
        body=message.body,
        direction=message.direction,
        channel="Call" if message.channel == "voice" else "SMS",
        state=_delivery(message.delivery_status) if outbound else None,
        note=note,
        order=(2 if outbound else 0, message.id),
    )


def _delivery(status: str | None) -> str | None:
    if status is None:
        return None
    return DELIVERY_WORDS.get(status, status.replace("_", " "))


def _call_entries(
    calls: list[Call], voice: list[Message], patient: Patient | None, tz: str
) -> tuple[list[Entry], set[int]]:
    """Each call with what was said in it, and the ids of the messages shown inside a call.

    A voice message belongs to the latest call of its conversation that had started by then.
    """
    said: dict[int, list[Line]] = {call.id: [] for call in calls}
    shown: set[int] = set()
    for message in voice:
        owner = None
        for call in calls:
            if call.conversation_id == message.conversation_id and call.started_at <= message.created_at:
                owner = call
        if owner is None:
            owner = next((c for c in calls if c.conversation_id == message.conversation_id), None)
        if owner is None:
            continue
        shown.add(message.id)
        caller = patient.name if patient else "Caller"
        said[owner.id].append(Line(when=Moment.of(message.created_at, tz),
                                   who=caller if message.direction == "inbound" else _who(message, patient, None),
                                   text=message.body))  # fmt: skip
    entries = []
    for call in calls:
        lines = said[call.id]
        for turn in call.turns:
            if turn.message_id is None and turn.input in TURN_WORDS:
                lines.append(Line(when=Moment.of(turn.created_at, tz), who=patient.name if patient else "Caller",
                                  text=TURN_WORDS[turn.input]))  # fmt: skip
        lines.sort(key=lambda line: line.when.at)
        if call.outcome is not None:
            outcome = CALL_OUTCOME_WORDS.get(call.outcome, call.outcome)
        else:
            outcome = "In progress" if call.ended_at is None else "Ended"
        entries.append(
            Entry(
                kind="call",
                when=Moment.of(call.started_at, tz),
                title=f"Call from {patient.name if patient else 'the number'}",
                direction="inbound",
                state=outcome,
                note=_duration(call.duration_seconds),
                lines=lines,
                order=(0, call.id),
            )
        )
    return entries, shown


def _duration(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def _outreach(session: Session, patient: Patient | None) -> list[PlannedOutreach]:
    if patient is None:
        return []
    return list(
        session.scalars(
            select(PlannedOutreach)
            .where(
                PlannedOutreach.patient_id == patient.id,
                or_(PlannedOutreach.message_id.is_not(None), PlannedOutreach.state.in_(SHOWN_OUTREACH)),
            )
            .order_by(PlannedOutreach.id)
        )
    )


def _outreach_entry(outreach: PlannedOutreach, tz: str) -> Entry:
    at = outreach.sent_at or outreach.updated_at or outreach.due_at
    words = OUTREACH_WORDS.get(outreach.kind, outreach.kind)
    state = {OutreachState.SENT: "Sent", OutreachState.DELIVERED: "Delivered"}.get(
        outreach.state, f"Failed{': ' + outreach.error_code if outreach.error_code else ''}"
    )
    return Entry(
        kind="outreach",
        when=Moment.of(at, tz),
        title="Relay (automatic)" if outreach.channel == "sms" else "Relay",
        body=None,
        direction="outbound",
        channel="SMS" if outreach.channel == "sms" else None,
        state=state,
        note=f"Outreach: {words}",
        order=(2, outreach.id),
    )


def _consent_events(session: Session, phones: Iterable[str], patient: Patient | None) -> list[ConsentEvent]:
    wanted: list[ColumnElement[bool]] = [ConsentEvent.phone.in_(list(phones))]
    if patient is not None:
        wanted.append(ConsentEvent.patient_id == patient.id)
    return list(session.scalars(select(ConsentEvent).where(or_(*wanted)).order_by(ConsentEvent.at, ConsentEvent.id)))


def _consent_entry(event: ConsentEvent, tz: str) -> Entry:
    source = event.source
    if source.startswith("sms:"):
        how = f"texted {source[4:]}"
    elif source.startswith(("import", "fhir")):
        how = "from the clinic's records"
    else:
        how = {"seed": "from the demo data", "staff": "set by staff", "import": "from the clinic's records"}.get(
            source, f"from {source}"
        )
    return Entry(
        kind="consent",
        when=Moment.of(event.at, tz),
        title="Texts allowed" if event.consented else "Opted out of texts",
        note=how,
        order=(1, event.id),
    )


def _audit_events(session: Session, conversation_ids: list[int], patient: Patient | None) -> list[AuditEvent]:
    wanted: list[ColumnElement[bool]] = [AuditEvent.conversation_id.in_(conversation_ids)]
    if patient is not None:
        wanted.append(AuditEvent.patient_id == patient.id)
    actions = [*AUDITED_ACTIONS, "handoff.replied"]
    return list(
        session.scalars(
            select(AuditEvent)
            .where(or_(*wanted), AuditEvent.action.in_(actions))
            .order_by(AuditEvent.at, AuditEvent.id)
        )
    )


def _audit_entry(event: AuditEvent, tz: str, names: _StaffNames, handoffs: dict[int, Handoff]) -> Entry | None:
    details = event.details if isinstance(event.details, dict) else {}
    by = names.actor(event.actor)
    action = event.action
    note: str | None = None
    if action.startswith("handoff."):
        handoff = handoffs.get(details.get("handoff_id"))  # type: ignore[arg-type]
        reason = reason_words(str(details.get("reason") or (handoff.reason if handoff else "")))
        priority = details.get("priority")
        title = {
            "handoff.opened": f"Handed to staff: {reason}",
            "handoff.escalated": f"Made more urgent: {reason}",
            "handoff.claimed": f"Claimed by {by}",
            "handoff.released": f"Given back to the queue by {by}",
            "handoff.resolved": f"Resolved by {by}; back to the bot",
        }[action]
        if action in ("handoff.opened", "handoff.escalated") and priority:
            note = f"Priority: {PRIORITY_WORDS.get(priority, priority)}"
        if action == "handoff.resolved" and handoff is not None and handoff.resolution_note:
            note = f"Outcome: {handoff.resolution_note}"
    elif action.startswith("verification."):
        title = {
            "verification.passed": "Date of birth matched: verified",
            "verification.failed": f"Wrong date of birth (try {details.get('attempt', '?')})",
            "verification.locked": "Locked after too many wrong dates of birth",
            "verification.unlocked": f"Unlocked by {by}",
        }[action]
    elif action.startswith("appointment."):
        title = {
            "appointment.booked": f"Appointment booked by {by}",
            "appointment.rescheduled": f"Appointment moved by {by}",
            "appointment.confirmed": f"Appointment confirmed by {by}",
            "appointment.cancelled": f"Appointment cancelled by {by}",
        }[action]
        moment = _instant(details.get("new_start_at") or details.get("start_at"))
        note = f"For {format_when(moment, tz)}" if moment else None
    elif action == "referral.status_changed":
        to = details.get("to")
        if not isinstance(to, str):
            return None
        title = f"Referral now: {referral_status_words(to)}"
        note = f"By {by}"
    else:  # pragma: no cover - AUDITED_ACTIONS lists every action above
        return None
    return Entry(kind=AUDITED_ACTIONS[action], when=Moment.of(event.at, tz), title=title, note=note,
                 order=(1, event.id))  # fmt: skip
