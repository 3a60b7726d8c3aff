"""Audit what staff see: every console page that shows a patient's data records who saw which patient, where.

A page that refreshes itself (the queue every few seconds) would otherwise write
an event per patient per refresh; a view of the same patient on the same page
in the same console session is recorded once per idle period, which still
answers "who saw this patient, on which page, when".
"""

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.deps import Staff
from relay.models import AuditEvent
from relay.records.audit import record
from relay.staff.sessions import idle_limit

VIEWED = "console.viewed"


def viewed(
    db: Session,
    staff: Staff,
    *,
    page: str,
    patient_ids: Iterable[int | None],
    now: datetime,
    referral_id: int | None = None,
    conversation_id: int | None = None,
    dedupe: bool = False,
) -> int:
    """Record that `staff` saw these patients on `page`; returns how many events were written.

    `dedupe` is for pages that refresh themselves (see the module's docstring).
    """
    ids = sorted({patient_id for patient_id in patient_ids if patient_id is not None})
    if dedupe and ids:
        already = set(
            db.scalars(
                select(AuditEvent.patient_id).where(
                    AuditEvent.actor == staff.actor,
                    AuditEvent.action == VIEWED,
                    AuditEvent.patient_id.in_(ids),
                    AuditEvent.at > now - idle_limit(),
                    AuditEvent.details["page"].as_string() == page,
                    AuditEvent.details["session"].as_integer() == staff.session.id,
                )
            )
        )
        ids = [patient_id for patient_id in ids if patient_id not in already]
    for patient_id in ids:
        record(db, actor=staff.actor, action=VIEWED, patient_id=patient_id, referral_id=referral_id,
               conversation_id=conversation_id, details={"page": page, "session": staff.session.id},
               now=now)  # fmt: skip
    return len(ids)
