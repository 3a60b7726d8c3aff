"""Interrupted sends: rows a dead send job left `sending`, settled without ever sending twice.

The sweep (scheduler.sweep) calls `resolve_stuck_sending` for rows held
`sending` for longer than any job may live (`OUTREACH_SENDING_GRACE_SECONDS`).
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from relay.core.db import changed_rows, session_scope
from relay.core.phones import mask
from relay.core.settings import Settings, get_settings
from relay.messaging.handoffs import open_handoff
from relay.messaging.sms_sender import SmsLookupUnavailable, find_sent
from relay.models import Message, Patient, PlannedOutreach
from relay.models.conversation import DeliveryStatus
from relay.models.outreach import OutreachChannel, OutreachState
from relay.outreach.send import CLOCK_SKEW
from relay.records import audit
from relay.records.clinics import get_clinic

log = logging.getLogger("relay.outreach.recovery")


@dataclass
class Recovered:
    confirmed: list[int] = field(default_factory=list)  # found at Twilio: sent
    replanned: list[int] = field(default_factory=list)  # interrupted before Twilio had them: planned again
    unconfirmed: list[int] = field(default_factory=list)  # could not tell: failed, for staff to check


def resolve_stuck_sending(now: datetime, *, settings: Settings | None = None) -> Recovered:
    """Settle rows whose send job died, without ever sending a message twice.

    Two ways were open: look the message up, or hand every such row to staff
    for review. We look it up, and fall back to review only when we cannot
    tell. The send job commits the exact message it is about to send (status
    "pending", linked to the row) before calling Twilio, so for a stuck row:

    - no stored message, or one marked not_sent: the job died before calling
      Twilio; nothing went out, the row goes back to the plan. The attempt
      counts, so a row whose job always dies ends as failed.
    - a pending message: ask Twilio for messages from the clinic number to
      the patient (To/From filter, newest first) created since we stored it,
      with exactly its body.
      - found: it went out. Record it as sent, with Twilio's SID (the status
        callbacks then move it on as usual).
      - Twilio answers and it is not there: Twilio never accepted it (the
        job died before or during the request). Back to the plan, counting
        the attempt so a job that always dies cannot loop forever.
      - Twilio cannot be asked: try again next sweep; after
        `unconfirmed_review_seconds`, give up guessing: state failed,
        error_code "send_unconfirmed", and a handoff so a person checks the
        conversation. We never resend on a guess.

    Marking every stuck row for review would be simpler, but a worker killed
    by a deploy would then turn each in-flight reminder into staff work and
    the patient into someone who missed a reminder. Twilio has no
    idempotency key for Messages, so the lookup matches on number, time and
    body; the stored body makes that exact.
    """
    settings = settings or get_settings()
    result = Recovered()
    cutoff = now - timedelta(seconds=settings.outreach_sending_grace_seconds)
    with session_scope() as session:
        stuck = session.scalars(
            select(PlannedOutreach.id).where(
                PlannedOutreach.state == OutreachState.SENDING, PlannedOutreach.updated_at <= cutoff
            )
        ).all()
    for outreach_id in stuck:
        with session_scope() as session:
            _resolve_one(session, outreach_id, now=now, settings=settings, result=result)
    return result


def _resolve_one(session: Session, outreach_id: int, *, now: datetime, settings: Settings, result: Recovered) -> None:
    outreach = session.get(PlannedOutreach, outreach_id)
    if outreach is None or outreach.state != OutreachState.SENDING:
        return
    seen_at = outreach.updated_at
    message = session.get(Message, outreach.message_id) if outreach.message_id else None
    if (
        outreach.channel == OutreachChannel.STAFF
        or message is None
        or message.delivery_status == DeliveryStatus.NOT_SENT
    ):
        # Died before calling Twilio. (Staff rows open their handoff in the
        # transaction that marks them sent, so theirs did not happen either.)
        _not_sent(session, outreach, message, now=now, seen_at=seen_at, settings=settings, result=result)
        return
    if message.twilio_sid is not None:
        _take(session, outreach_id, seen_at, state=OutreachState.SENT, twilio_sid=message.twilio_sid,
              sent_at=message.created_at, updated_at=now)  # fmt: skip
        result.confirmed.append(outreach_id)
        return
    patient = session.get_one(Patient, outreach.patient_id)
    try:
        found = find_sent(
            to=message.conversation.phone,  # where it went, whatever the record says now
            from_=get_clinic(session).sms_number,
            body=message.body,
            since=message.created_at - CLOCK_SKEW,
            page_size=settings.outreach_lookup_page_size,
        )
    except SmsLookupUnavailable as exc:
        if now - seen_at < timedelta(seconds=settings.outreach_unconfirmed_review_seconds):
            log.warning("outreach %s: interrupted send not checked yet (%s)", outreach_id, exc)
            return
        _hand_to_staff(session, outreach, message, now=now, seen_at=seen_at, result=result)
        return
    if found is not None:
        # Its callbacks may be long gone: what Twilio says now is what the row records.
        delivered = found.status in (DeliveryStatus.DELIVERED, DeliveryStatus.READ)
        state = OutreachState.DELIVERED if delivered else OutreachState.SENT
        if _take(session, outreach_id, seen_at, state=state, twilio_sid=found.sid,
                 sent_at=message.created_at, error_code=None, updated_at=now):  # fmt: skip
            message.twilio_sid, message.delivery_status = found.sid, found.status
            audit.record(session, actor="system", action="outreach.send_confirmed", patient_id=patient.id,
                         referral_id=outreach.referral_id, conversation_id=message.conversation_id,
                         details={"outreach_id": outreach_id, "twilio_sid": found.sid}, now=now)  # fmt: skip
            result.confirmed.append(outreach_id)
            log.info(
                "outreach %s: interrupted send had gone out sid=%s to=%s", outreach_id, found.sid, mask(patient.phone)
            )
        return
    _not_sent(session, outreach, message, now=now, seen_at=seen_at, settings=settings, result=result)


def _not_sent(session: Session, outreach: PlannedOutreach, message: Message | None, *, now: datetime,
              seen_at: datetime, settings: Settings, result: Recovered) -> None:  # fmt: skip
    """Back to the plan at once, counting the attempt: a row whose job always dies ends as failed."""
    attempts = outreach.attempts + 1
    final = attempts >= settings.outreach_max_attempts
    if not _take(session, outreach.id, seen_at, attempts=attempts, error_code="interrupted", updated_at=now,
                 state=OutreachState.FAILED if final else OutreachState.PLANNED, next_attempt_at=None):  # fmt: skip
        return
    if message is not None:
        message.delivery_status = DeliveryStatus.FAILED if final else DeliveryStatus.NOT_SENT
    result.replanned.append(outreach.id)
    log.warning(
        "outreach %s: interrupted before Twilio had it; %s", outreach.id, "failed" if final else "planned again"
    )


def _hand_to_staff(session: Session, outreach: PlannedOutreach, message: Message, *, now: datetime,
                   seen_at: datetime, result: Recovered) -> None:  # fmt: skip
    if not _take(
        session, outreach.id, seen_at, state=OutreachState.FAILED, error_code="send_unconfirmed", updated_at=now
    ):
        return
    message.delivery_status = DeliveryStatus.UNCONFIRMED
    conversation = message.conversation
    audit.record(session, actor="system", action="outreach.send_unconfirmed", patient_id=outreach.patient_id,
                 referral_id=outreach.referral_id, conversation_id=conversation.id,
                 details={"outreach_id": outreach.id, "message_id": message.id}, now=now)  # fmt: skip
    open_handoff(
        session, conversation=conversation, reason="send_unconfirmed", referral_id=outreach.referral_id, now=now
    )
    result.unconfirmed.append(outreach.id)
    log.warning("outreach %s: could not tell whether it was sent; handed to staff", outreach.id)


def _take(session: Session, outreach_id: int, seen_at: datetime, **values) -> bool:
    """Apply `values` only if the row is still the stuck one we looked at (another sweep may be here too)."""
    changed = session.execute(
        update(PlannedOutreach)
        .where(
            PlannedOutreach.id == outreach_id,
            PlannedOutreach.state == OutreachState.SENDING,
            PlannedOutreach.updated_at == seen_at,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return changed_rows(changed) == 1
