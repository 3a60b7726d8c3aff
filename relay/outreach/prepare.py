"""Before a send: the checks at send time, and the message stored before it goes.

`prepare` decides one claimed row (held `sending` by its job), each check
with its own ending: consent (skipped, "opted_out"), validity (skipped,
"expired"), the plan (cancelled, "no_longer_applies"), quiet hours in the
patient's zone and the daily cap (back to `planned` at the next allowed
time). A row that may go gets its outbound Message (author "system",
delivery_status "pending") linked to it, stored by the caller's commit
before the send, so a job killed during the Twilio call leaves behind
exactly what it was about to send (relay.outreach.recovery looks it up).

Rows of channel "staff" (leakage_handoff) are not texts: executing one opens
a handoff on the patient's conversation, in the same transaction that marks
the row sent.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from relay.messaging.handoffs import open_handoff
from relay.models import Message, Patient, PlannedOutreach
from relay.models.conversation import DeliveryStatus
from relay.models.outreach import OutreachChannel, OutreachState
from relay.outreach.cadence import daily_cap
from relay.outreach.quiet_hours import next_allowed
from relay.outreach.reconcile import still_applies
from relay.outreach.send_facts import BatchFacts, RowFacts
from relay.outreach.templates import compose
from relay.records import conversations
from relay.records.clinics import session_clinic

log = logging.getLogger("relay.outreach.prepare")


@dataclass(frozen=True)
class ReadyToSend:
    message: Message  # stored (pending) before the send; its id exists once the session has flushed
    to: str
    from_: str
    body: str

    @property
    def message_id(self) -> int:
        return self.message.id


def prepare(
    session: Session, outreach: PlannedOutreach, now: datetime, facts: RowFacts | BatchFacts
) -> ReadyToSend | str:
    patient = session.get_one(Patient, outreach.patient_id)
    clinic = session_clinic(session)
    if outreach.channel == OutreachChannel.STAFF:
        return _open_staff_handoff(session, outreach, patient, now, facts)
    if patient.phone is None:
        return _settle(outreach, OutreachState.SKIPPED, "no_mobile", now)
    if facts.opted_out(patient):
        return _settle(outreach, OutreachState.SKIPPED, "opted_out", now)
    if outreach.valid_until is not None and outreach.valid_until <= now:
        return _settle(outreach, OutreachState.SKIPPED, "expired", now)
    if not still_applies(session, outreach, now):
        return _settle(outreach, OutreachState.CANCELLED, "no_longer_applies", now)
    zone = ZoneInfo(patient.timezone or clinic.timezone)
    allowed = next_allowed(now, clinic=clinic, zone=zone)
    if allowed > now:
        return _defer(outreach, allowed, "quiet_hours", now)
    if facts.automated_today(outreach, zone=zone, now=now) >= daily_cap():
        tomorrow = datetime.combine(now.astimezone(zone).date() + timedelta(days=1), time(0), tzinfo=zone)
        return _defer(outreach, next_allowed(tomorrow, clinic=clinic, zone=zone), "daily_cap", now)
    body = compose(session, outreach)
    message = _store_pending(session, outreach, patient, body, now, facts)
    facts.will_send(outreach)
    return ReadyToSend(message=message, to=patient.phone, from_=clinic.sms_number, body=body)


def _settle(outreach: PlannedOutreach, state: OutreachState, code: str, now: datetime) -> str:
    outreach.state, outreach.error_code, outreach.next_attempt_at, outreach.updated_at = state, code, None, now
    log.info("outreach %s %s (%s)", outreach.id, state, code)
    return f"{state}:{code}"


def _defer(outreach: PlannedOutreach, until: datetime, reason: str, now: datetime) -> str:
    """Back to the plan at `until`, unless the message would be stale by then."""
    if outreach.valid_until is not None and until > outreach.valid_until:
        return _settle(outreach, OutreachState.SKIPPED, "expired", now)
    outreach.state, outreach.due_at, outreach.next_attempt_at, outreach.updated_at = (
        OutreachState.PLANNED,
        until,
        None,
        now,
    )
    log.info("outreach %s deferred to %s (%s)", outreach.id, until.isoformat(), reason)
    return f"deferred:{reason}"


def _open_staff_handoff(
    session: Session, outreach: PlannedOutreach, patient: Patient, now: datetime, facts: RowFacts | BatchFacts
) -> str:
    if not still_applies(session, outreach, now):
        return _settle(outreach, OutreachState.CANCELLED, "no_longer_applies", now)
    conversation = facts.conversation(patient, now=now)
    session.flush()  # the handoff names the conversation by id
    handoff = open_handoff(
        session,
        conversation=conversation,
        reason="referral_leakage",
        referral_id=outreach.referral_id,
        now=now,
    )
    outreach.state, outreach.sent_at, outreach.error_code, outreach.updated_at = OutreachState.SENT, now, None, now
    log.info("outreach %s: handoff %s opened for staff", outreach.id, handoff.id)
    return "handoff"


def _store_pending(
    session: Session,
    outreach: PlannedOutreach,
    patient: Patient,
    body: str,
    now: datetime,
    facts: RowFacts | BatchFacts,
) -> Message:
    """The message we are about to send, stored (by the caller's commit) before it is sent; a retry reuses it.

    Nothing is flushed here: a batch inserts all its messages in one flush.
    """
    message = session.get(Message, outreach.message_id) if outreach.message_id else None
    if message is None or message.twilio_sid is not None:
        message = conversations.record_message(
            session, conversation=facts.conversation(patient, now=now), direction="outbound", channel="sms",
            author="system", body=body, delivery_status=DeliveryStatus.PENDING, now=now, flush=False,
        )  # fmt: skip
    else:
        message.body, message.created_at, message.delivery_status = body, now, DeliveryStatus.PENDING
    outreach.message, outreach.updated_at = message, now
    return message
