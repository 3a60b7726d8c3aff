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


class ClaimedByOther(Exception):
    """Another staff member has this conversation; `by_id` says who."""

    def __init__(self, handoff_id: int, by_id: int | None) -> None:
        super().__init__(f"handoff {handoff_id} is claimed by another staff member")
        self.by_id = by_id


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


def claim(session: Session, *, handoff: Handoff, staff_id: int, actor: str, now: datetime) -> Handoff:
    """Staff member `staff_id` takes the conversation; claiming one's own claim again is a no-op.

    A conditional UPDATE, so that two people pressing "Claim" together cannot
    both get it: the second is refused with ClaimedByOther. Raises
    HandoffResolved when the handoff is closed.
    """
    result = session.execute(
        update(Handoff)
        .where(Handoff.id == handoff.id, Handoff.status == HandoffStatus.OPEN, Handoff.assigned_to_id.is_(None))
        .values(assigned_to_id=staff_id, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(handoff, ["status", "assigned_to_id", "claimed_at"])
    if changed_rows(result) == 1:
        _audit(session, handoff.conversation, actor=actor, action="handoff.claimed", now=now,
               details={"handoff_id": handoff.id})  # fmt: skip
        return handoff
    if handoff.status != HandoffStatus.OPEN:
        raise HandoffResolved(f"handoff {handoff.id} is {handoff.status}")
    if handoff.assigned_to_id != staff_id:
        raise ClaimedByOther(handoff.id, handoff.assigned_to_id)
    return handoff


def release(session: Session, *, handoff: Handoff, staff_id: int, actor: str, now: datetime) -> None:
    """Give a claimed handoff back to the queue unresolved (the claimer only)."""
    if handoff.status != HandoffStatus.OPEN:
        raise HandoffResolved(f"handoff {handoff.id} is {handoff.status}")
    if handoff.assigned_to_id != staff_id:
        raise ClaimedByOther(handoff.id, handoff.assigned_to_id)
    handoff.assigned_to_id, handoff.claimed_at = None, None
    session.flush()
    _audit(session, handoff.conversation, actor=actor, action="handoff.released", now=now,
           details={"handoff_id": handoff.id})  # fmt: skip


def reply(
    session: Session,
    *,
    handoff: Handoff,
    body: str,
    actor: str,
    now: datetime | None = None,
    staff_id: int | None = None,
) -> Message:
    """A staff member answers the patient by SMS, from the clinic's number.

    With `staff_id` (the console), only the staff member who claimed the
    handoff may answer; the API's shared token has no person behind it.
    Raises HandoffResolved, ClaimedByOther, RecipientOptedOut, or SmsSendError (from Twilio).
    """
    now = now or utcnow()
    if handoff.status != HandoffStatus.OPEN:
        raise HandoffResolved(f"handoff {handoff.id} is {handoff.status}")
    if staff_id is not None and handoff.assigned_to_id != staff_id:
        raise ClaimedByOther(handoff.id, handoff.assigned_to_id)
    conversation = handoff.conversation
    if consent.is_opted_out(session, conversation.phone):
        raise RecipientOptedOut("the number has opted out of texts; it must text START first")
    message = send_sms(session, conversation=conversation, body=body, author="staff", now=now)
    _audit(session, conversation, actor=actor, action="handoff.replied", now=now,
           details={"handoff_id": handoff.id, "message_id": message.id})  # fmt: skip
    return message


def resolve(
    session: Session,
    *,
    handoff: Handoff,
    actor: str,
    now: datetime | None = None,
    staff_id: int | None = None,
    note: str | None = None,
) -> Handoff:
    """Close the handoff and give the conversation back to the bot, with a note of the outcome.

    With `staff_id` (the console), a handoff claimed by someone else cannot be
    resolved from under them. Raises HandoffResolved when it is already closed.
    """
    now = now or utcnow()
    if handoff.status != HandoffStatus.OPEN:
        raise HandoffResolved(f"handoff {handoff.id} is already {handoff.status}")
    if staff_id is not None and handoff.assigned_to_id not in (None, staff_id):
        raise ClaimedByOther(handoff.id, handoff.assigned_to_id)
    handoff.status, handoff.resolved_at = HandoffStatus.RESOLVED, now
    handoff.resolved_by_id = staff_id
    handoff.resolution_note = (note or "").strip()[:500] or None
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
