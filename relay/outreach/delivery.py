"""Delivery status from Twilio's status callbacks, only ever moving forward.

Callbacks arrive in any order and sometimes twice; each one is applied with a
conditional UPDATE that names the states it may move from, so a late "sent"
after "delivered" changes nothing, even when two callbacks race.

Message.delivery_status follows Twilio's statuses:
    pending/not_sent (ours, before Twilio) < accepted/scheduled/queued
    < sending < sent < delivered < read;  undelivered, failed, canceled are final.
The outreach row follows along: `sent` becomes `delivered`, or `failed` with
the callback's ErrorCode, and then what a refusal at send time would get:
21610 records the opt-out, 21211/21614/30006 flag the number for staff, and
30003 (handset unreachable: off, out of coverage) plans another attempt
after a backoff (within max_attempts and the row's validity), because a
later try often reaches the phone. The undelivered message itself stays
undelivered; the retry is a new message with a new SID.
"""

import logging
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from relay.core.db import changed_rows
from relay.models import Message, PlannedOutreach
from relay.models.conversation import DeliveryStatus
from relay.models.outreach import ERROR_CODE_LENGTH, OutreachState
from relay.outreach import outcomes

log = logging.getLogger("relay.outreach.delivery")

_RANKS: dict[str, int] = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.NOT_SENT: 0,
    DeliveryStatus.DEV_OUTBOX: 1,
    DeliveryStatus.ACCEPTED: 1,
    DeliveryStatus.SCHEDULED: 1,
    DeliveryStatus.QUEUED: 1,
    DeliveryStatus.SENDING: 2,
    DeliveryStatus.SENT: 3,
    DeliveryStatus.DELIVERED: 4,
    DeliveryStatus.READ: 5,
}
FINAL = frozenset({DeliveryStatus.UNDELIVERED, DeliveryStatus.FAILED, DeliveryStatus.CANCELED, DeliveryStatus.READ})
FAILURES = frozenset({DeliveryStatus.UNDELIVERED, DeliveryStatus.FAILED})
KNOWN = frozenset(_RANKS) | FINAL


def may_move(current: str | None, new: str) -> bool:
    if current is None:
        return True
    if current in FINAL or current not in _RANKS:
        return False
    if current == DeliveryStatus.DELIVERED:
        return new == DeliveryStatus.READ
    return new in FINAL or _RANKS[new] > _RANKS[current]


def _sources(new: str) -> list[str]:
    return [status for status in KNOWN | {DeliveryStatus.UNCONFIRMED} if may_move(status, new)]


def record_status(session: Session, *, sid: str, status: str, error_code: int | None, now: datetime) -> bool:
    """Apply one callback. False when the SID is none of ours (nothing is stored then)."""
    status = status.strip().lower()
    message_id = session.scalar(select(Message.id).filter_by(twilio_sid=sid))
    outreach_id = session.scalar(select(PlannedOutreach.id).filter_by(twilio_sid=sid))
    if message_id is None and outreach_id is None:
        log.info("status callback for unknown sid=%s (%s): ignored", sid, status)
        return False
    if status not in KNOWN:
        log.warning("status callback sid=%s: unknown status %r ignored", sid, status)
        return True
    if message_id is not None:
        moved = changed_rows(
            session.execute(
                update(Message)
                .where(
                    Message.id == message_id,
                    or_(Message.delivery_status.is_(None), Message.delivery_status.in_(_sources(status))),
                )
                .values(delivery_status=status)
                .execution_options(synchronize_session=False)
            )
        )
        log.info("status sid=%s %s%s", sid, status, "" if moved else " (stale, kept)")
    if outreach_id is not None:
        _move_outreach(session, outreach_id, status=status, error_code=error_code, now=now)
    return True


def _move_outreach(session: Session, outreach_id: int, *, status: str, error_code: int | None, now: datetime) -> None:
    if status in (DeliveryStatus.DELIVERED, DeliveryStatus.READ):
        _conditional(session, outreach_id, state=OutreachState.DELIVERED, updated_at=now)
        return
    if status not in FAILURES:
        return  # queued/sending/sent: the row is already `sent`
    # Twilio's codes are five digits; anything longer is cut to fit the column, not refused.
    label = (str(error_code) if error_code else status)[:ERROR_CODE_LENGTH]
    if not _conditional(session, outreach_id, state=OutreachState.FAILED, error_code=label, updated_at=now):
        return
    outreach = session.get_one(PlannedOutreach, outreach_id)
    session.refresh(outreach)
    temporary = error_code in outcomes.TEMPORARY_CODES
    if temporary:
        # The retry is a new message: the row lets go of this one's SID and message.
        outreach.twilio_sid, outreach.message_id = None, None
    outcome = outcomes.after_refusal(session, outreach, code=error_code, label=label, temporary=temporary, now=now)
    log.info("outreach %s %s code=%s -> %s", outreach_id, status, label, outcome)


def _conditional(session: Session, outreach_id: int, **values) -> bool:
    """Move the row on from `sent` only: delivered and failed are settled."""
    moved = session.execute(
        update(PlannedOutreach)
        .where(PlannedOutreach.id == outreach_id, PlannedOutreach.state == OutreachState.SENT)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return changed_rows(moved) == 1
