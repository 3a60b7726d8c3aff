"""Calls to the clinic number: opened on the first webhook, logged with duration and outcome."""

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from relay.models import Call, CallTurn, utcnow
from relay.models.call import CallOutcome
from relay.records import conversations

log = logging.getLogger("relay.records.calls")

# Twilio's CallStatus values after which nothing more happens on the call.
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


def by_sid(session: Session, call_sid: str) -> Call | None:
    return session.scalars(select(Call).filter_by(call_sid=call_sid)).one_or_none()


def find_or_open(session: Session, *, call_sid: str, phone: str | None, now: datetime | None = None) -> Call:
    """The call with this CallSid, opened on its first webhook.

    A caller's call joins the conversation with their number, the same one
    their texts are in, so staff read one timeline. A withheld number has no
    conversation. Two first webhooks can race; the unique CallSid lets one win.
    """
    call = by_sid(session, call_sid)
    if call is not None:
        return call
    now = now or utcnow()
    conversation = conversations.find_or_open(session, phone=phone, now=now) if phone else None
    call = Call(call_sid=call_sid, conversation_id=conversation.id if conversation else None, started_at=now)
    try:
        with session.begin_nested():
            session.add(call)
    except IntegrityError:
        call = session.scalars(select(Call).filter_by(call_sid=call_sid)).one()
    return call


def claim_turn(
    session: Session, *, call: Call, turn: int, heard: str, confidence: float | None = None, now: datetime | None = None
) -> CallTurn | None:
    """Record that this turn of the call is being answered; None when it already is (a retried webhook)."""
    record = CallTurn(call_id=call.id, turn=turn, input=heard, confidence=confidence, created_at=now or utcnow())
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:
        return None
    return record


def get_turn(session: Session, *, call: Call, turn: int) -> CallTurn | None:
    return session.scalars(select(CallTurn).filter_by(call_id=call.id, turn=turn)).one_or_none()


def set_outcome(call: Call, outcome: CallOutcome) -> None:
    """An emergency stays the call's outcome whatever follows it (a transfer, say)."""
    if outcome not in set(CallOutcome):
        raise ValueError(f"unknown call outcome {outcome!r}")
    if call.outcome != CallOutcome.EMERGENCY:
        call.outcome = CallOutcome(outcome)


def record_status(
    session: Session, *, call_sid: str, status: str, duration_seconds: int | None, now: datetime | None = None
) -> Call | None:
    """Twilio's status callback: the call's final status and duration. Only ever moves forward."""
    call = by_sid(session, call_sid)
    if call is None:
        log.info("status %s for unknown call %s: ignored", status, call_sid)
        return None
    if call.ended_at is not None:
        return call  # a late or repeated callback never reopens an ended call
    call.status = status
    if status in FINAL_STATUSES:
        call.ended_at = now or utcnow()
        call.duration_seconds = duration_seconds
        if call.outcome is None:
            call.outcome = CallOutcome.CALLER_HUNG_UP if status == "completed" else CallOutcome.NOT_CONNECTED
        # A log line per call for operations; ids and codes only, never the number or words.
        log.info(
            "call %s ended: status=%s duration=%ss outcome=%s turns=%d",
            call.call_sid, status, duration_seconds, call.outcome, len(call.turns),
        )  # fmt: skip
    return call
