"""Hand a conversation to the staff (the staff's one work list)."""

from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from relay.core.db import changed_rows
from relay.messaging.sms_sender import send_sms
from relay.models import Conversation, Handoff, HandoffPriority, HandoffStatus, Message, utcnow
from relay.records import audit, consent


class HandoffResolved(Exception):
    """The handoff is closed: staff can no longer act on it."""


class RecipientOptedOut(Exception):
    """The number texted STOP (or never consented): nothing may be sent to it."""


def open_handoff(
    session: Session,
    *,
    conversation: Conversation,
    reason: str,
    priority: HandoffPriority = HandoffPriority.NORMAL,
    referral_id: int | None = None,
    now: datetime | None = None,
) -> Handoff:
    """Open a handoff, or return the one already open for this conversation.

    One open handoff per conversation keeps the queue free of duplicates; a more
    urgent reason raises the priority of the open one and takes its place as
    the reason, since it is what staff must see first.
    """
    now = now or utcnow()
    conversation.needs_staff = True
    existing = open_handoff_for(session, conversation=conversation)
    if existing is not None:
        if HandoffPriority(priority).rank < existing.priority.rank:
            _audit(session, conversation, actor="system", action="handoff.escalated", now=now, details={
                "handoff_id": existing.id, "from_reason": existing.reason, "reason": reason,
                "from_priority": existing.priority, "priority": priority,
            })  # fmt: skip
            existing.priority, existing.reason = priority, reason
        return existing
    handoff = Handoff(
        conversation_id=conversation.id,
        patient_id=conversation.patient_id,
        referral_id=referral_id,
        priority=priority,
        reason=reason,
        opened_at=now,
    )
    session.add(handoff)
    session.flush()
    _audit(session, conversation, actor="system", action="handoff.opened", now=now,
           details={"handoff_id": handoff.id, "reason": reason, "priority": priority})  # fmt: skip
    return handoff


def open_handoff_for(session: Session, *, conversation: Conversation) -> Handoff | None:
    return session.scalars(
        select(Handoff).filter_by(conversation_id=conversation.id, status=HandoffStatus.OPEN).order_by(Handoff.id)
    ).first()


def acknowledge(session: Session, *, handoff: Handoff, now: datetime) -> bool:
    """Mark the handoff as acknowledged to the patient; True only for the first caller.

    A conditional UPDATE rather than read-then-write, so two messages arriving
    together cannot both send the "we'll reply soon" text.
    """
    result = session.execute(
        update(Handoff)
        .where(Handoff.id == handoff.id, Handoff.acknowledged_at.is_(None))
        .values(acknowledged_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(handoff, ["acknowledged_at"])
    return changed_rows(result) == 1


def queue(session: Session, *, status: HandoffStatus | None = None) -> list[Handoff]:
    """The staff's work list: most urgent first, then the longest waiting."""
    query = select(Handoff).order_by(_rank_sql(), Handoff.opened_at, Handoff.id)
    if status is not None:
        query = query.filter_by(status=status)
    return list(session.scalars(query))


def reply(session: Session, *, handoff: Handoff, body: str, actor: str, now: datetime | None = None) -> Message:
    """A staff member answers the patient by SMS, from the clinic's number.

    Raises HandoffResolved, RecipientOptedOut, or SmsSendError (from Twilio).
    """
    now = now or utcnow()
    if handoff.status != HandoffStatus.OPEN:
        raise HandoffResolved(f"handoff {handoff.id} is {handoff.status}")
    conversation = handoff.conversation
    if consent.is_opted_out(session, conversation.phone):
        raise RecipientOptedOut("the number has opted out of texts; it must text START first")
    message = send_sms(session, conversation=conversation, body=body, author="staff", now=now)
    _audit(session, conversation, actor=actor, action="handoff.replied", now=now,
           details={"handoff_id": handoff.id, "message_id": message.id})  # fmt: skip
    return message


def resolve(session: Session, *, handoff: Handoff, actor: str, now: datetime | None = None) -> Handoff:
    """Close the handoff and give the conversation back to the bot.

    Raises HandoffResolved when it is already closed.
    """
    now = now or utcnow()
    if handoff.status != HandoffStatus.OPEN:
        raise HandoffResolved(f"handoff {handoff.id} is already {handoff.status}")
    handoff.status, handoff.resolved_at = HandoffStatus.RESOLVED, now
    session.flush()
    conversation = handoff.conversation
    if open_handoff_for(session, conversation=conversation) is None:
        conversation.needs_staff = False
    _audit(session, conversation, actor=actor, action="handoff.resolved", now=now,
           details={"handoff_id": handoff.id, "reason": handoff.reason})  # fmt: skip
    return handoff


def _audit(session: Session, conversation: Conversation, *, actor: str, action: str, now: datetime,
           details: dict) -> None:  # fmt: skip
    """Every handoff event is about its conversation and that conversation's patient (ids only, no PHI)."""
    audit.record(session, actor=actor, action=action, patient_id=conversation.patient_id,
                 conversation_id=conversation.id, details=details, now=now)  # fmt: skip


def _rank_sql():
    """The queue's order in SQL: HandoffPriority's own order, most urgent first."""
    return case({priority: priority.rank for priority in HandoffPriority}, value=Handoff.priority)
