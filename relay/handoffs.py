"""Hand a conversation to the staff (the staff's one work list)."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay import audit
from relay.models import Conversation, Handoff, utcnow


def open_handoff(
    session: Session,
    *,
    conversation: Conversation,
    reason: str,
    priority: str = "normal",
    referral_id: int | None = None,
    now: datetime | None = None,
) -> Handoff:
    """Open a handoff, or return the one already open for this conversation.

    One open handoff per conversation keeps the queue free of duplicates; a more
    urgent reason raises the priority of the open one.
    """
    now = now or utcnow()
    conversation.needs_staff = True
    existing = session.scalars(
        select(Handoff).filter_by(conversation_id=conversation.id, status="open")
    ).first()
    if existing is not None:
        if _rank(priority) < _rank(existing.priority):
            existing.priority = priority
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
    audit.record(
        session,
        actor="system",
        action="handoff.opened",
        patient_id=conversation.patient_id,
        conversation_id=conversation.id,
        details={"handoff_id": handoff.id, "reason": reason, "priority": priority},
        now=now,
    )
    return handoff


def _rank(priority: str) -> int:
    return {"urgent": 0, "high": 1, "normal": 2}.get(priority, 3)
