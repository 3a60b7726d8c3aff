"""Write audit events. Details carry ids and codes, never message text or PHI."""

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from relay.models import AuditEvent, utcnow


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    patient_id: int | None = None,
    referral_id: int | None = None,
    conversation_id: int | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    event = AuditEvent(
        at=now or utcnow(),
        actor=actor,
        action=action,
        patient_id=patient_id,
        referral_id=referral_id,
        conversation_id=conversation_id,
        details=details or {},
    )
    session.add(event)
    return event
