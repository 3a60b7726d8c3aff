"""The handoff queue as staff read it: who, why in plain words, which referral, how long, who has it."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from console.display import masked_phone
from relay.messaging import handoffs
from relay.models import Handoff, HandoffPriority, HandoffStatus, Patient, Referral, StaffUser

# Every reason code the bot, the inbound path and the outreach engine open a handoff with.
REASONS: dict[str, str] = {
    "emergency_medical": "Emergency: described a medical emergency",
    "emergency_mental_health": "Emergency: described a mental health crisis",
    "emergency_referral": "Urgent referral: needs a person to book",
    "insurance_not_accepted": "Insurance not accepted here",
    "invalid_number": "Bad number: our texts cannot reach it",
    "patient_request": "Asked for a person",
    "rasa_unavailable": "The bot was down when they wrote",
    "referral_leakage": "No booking yet: the referral may be lost",
    "repeated_misunderstanding": "The bot did not understand them twice",
    "send_unconfirmed": "A text may not have gone out",
    "service_recovery": "Low rating after a visit",
    "verification_locked": "Date of birth failed three times",
    "voice_not_understood": "Call: the bot could not understand them",
    "voice_rasa_timeout": "Call: the bot was too slow; promised a call back",
    "voice_transfer_unanswered": "Call: transfer to the front desk was not answered",
}

PRIORITY_WORDS = {HandoffPriority.URGENT: "Urgent", HandoffPriority.HIGH: "High", HandoffPriority.NORMAL: "Normal"}


def reason_words(code: str) -> str:
    return REASONS.get(code) or "Other: " + code.replace("_", " ")


def waited(since: datetime, now: datetime) -> str:
    minutes = max(int((now - since).total_seconds() // 60), 0)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} day{'s' if days > 1 else ''} {hours} h" if hours else f"{days} day{'s' if days > 1 else ''}"


@dataclass(frozen=True)
class QueueRow:
    handoff_id: int
    priority: HandoffPriority
    priority_words: str
    reason: str
    patient_id: int | None
    who: str  # the patient's name, or "Unknown number"
    known: bool
    referral: str | None
    opened_at: datetime
    waited: str
    claimed_by: str | None
    claimed_by_id: int | None = None
    phone: str | None = None  # for an unknown number: its last four digits, (***) ***-0199


def open_queue(session: Session, *, now: datetime) -> list[QueueRow]:
    """Open handoffs, most urgent first, then longest waiting first."""
    return [_row(session, handoff, now) for handoff in handoffs.queue(session, status=HandoffStatus.OPEN)]


def _row(session: Session, handoff: Handoff, now: datetime) -> QueueRow:
    conversation = handoff.conversation
    patient_id = handoff.patient_id or conversation.patient_id
    patient = session.get(Patient, patient_id) if patient_id else None
    referral = session.get(Referral, handoff.referral_id) if handoff.referral_id else None
    claimer = session.get(StaffUser, handoff.assigned_to_id) if handoff.assigned_to_id else None
    return QueueRow(
        handoff_id=handoff.id,
        priority=handoff.priority,
        priority_words=PRIORITY_WORDS[handoff.priority],
        reason=reason_words(handoff.reason),
        patient_id=patient.id if patient is not None else None,
        who=patient.name if patient is not None else "Unknown number",
        known=patient is not None,
        referral=referral.external_id if referral is not None else None,
        opened_at=handoff.opened_at,
        waited=waited(handoff.opened_at, now),
        claimed_by=claimer.name if claimer is not None else None,
        claimed_by_id=claimer.id if claimer is not None else None,
        phone=masked_phone(conversation.phone, missing="-") if patient is None else None,
    )
