"""Verify a texter's identity by date of birth before disclosing anything.

A verification holds for a session (default 30 minutes). Three wrong dates
lock the conversation and hand it to staff; only staff can unlock it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from relay.core.settings import get_settings
from relay.identity.dob import dob_candidates
from relay.language.languages import language_of
from relay.messaging.handoffs import open_handoff
from relay.models import Conversation, HandoffPriority, utcnow
from relay.records import audit
from relay.records.clinics import get_clinic


class NotLocked(Exception):
    """Unlock asked for a conversation that is not locked."""


@dataclass(frozen=True)
class DobCheck:
    outcome: str  # verified | mismatch | unreadable | locked | unknown_patient
    attempts_left: int = 0


def is_verified(conversation: Conversation, now: datetime | None = None) -> bool:
    if conversation.verified_at is None or conversation.locked_at is not None:
        return False
    window = timedelta(minutes=get_settings().verification_minutes)
    return (now or utcnow()) - conversation.verified_at < window


def check_dob(session: Session, *, conversation: Conversation, text: str, now: datetime | None = None) -> DobCheck:
    now = now or utcnow()
    if conversation.patient is None:
        return DobCheck("unknown_patient")
    if conversation.locked_at is not None:
        return DobCheck("locked")
    max_attempts = get_settings().verification_max_attempts
    today = now.astimezone(ZoneInfo(get_clinic(session).timezone)).date()
    # In the patient's language: a Spanish speaker's 04/12/1968 is read day first, with month first as the
    # second candidate (docs/spanish.md has the decision and its cost); English reads one date, month first.
    given = dob_candidates(text, today, language_of(conversation.patient.language))
    if not given:
        return DobCheck("unreadable", max_attempts - conversation.failed_verifications)

    def record(action: str, details: dict | None = None) -> None:
        audit.record(
            session, actor="bot", action=action, patient_id=conversation.patient_id,
            conversation_id=conversation.id, details=details, now=now,
        )  # fmt: skip

    if conversation.patient.dob in given:
        conversation.verified_at = now
        conversation.failed_verifications = 0
        record("verification.passed")
        return DobCheck("verified")
    conversation.failed_verifications += 1
    attempts_left = max_attempts - conversation.failed_verifications
    record("verification.failed", {"attempt": conversation.failed_verifications})
    if attempts_left > 0:
        return DobCheck("mismatch", attempts_left)
    conversation.locked_at = now
    conversation.verified_at = None
    record("verification.locked")
    open_handoff(
        session, conversation=conversation, reason="verification_locked", priority=HandoffPriority.HIGH, now=now
    )
    return DobCheck("locked")


def unlock(session: Session, *, conversation: Conversation, actor: str, now: datetime | None = None) -> None:
    """Staff lift a lock: the texter may try their date of birth again, from a clean count.

    The conversation is not marked verified: whoever texts next still proves
    who they are to the bot. The lock's handoff is left to staff to resolve,
    since they may still be talking with the patient.
    """
    if conversation.locked_at is None:
        raise NotLocked("the conversation is not locked")
    conversation.locked_at = None
    conversation.failed_verifications = 0
    conversation.verified_at = None
    audit.record(session, actor=actor, action="verification.unlocked", patient_id=conversation.patient_id,
                 conversation_id=conversation.id, now=now or utcnow())  # fmt: skip
