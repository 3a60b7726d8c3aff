"""What follows a send that did not simply succeed, shared by the send job and the status webhook.

Every function here is handed a row that the caller already owns: the send
job holds it in `sending` (its claim), the status webhook has just moved it
out of `sent` with a conditional UPDATE. So none of them re-check state.
"""

import logging
import random
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from relay.core.db import changed_rows
from relay.core.phones import mask
from relay.core.settings import Settings, get_settings
from relay.messaging.handoffs import open_handoff
from relay.models import Patient, PlannedOutreach
from relay.models.outreach import PENDING_STATES, OutreachState
from relay.records import audit, consent, conversations

log = logging.getLogger("relay.outreach.outcomes")

# Twilio error codes (API errors 2xxxx at create time, delivery errors 3xxxx in callbacks).
UNSUBSCRIBED = 21610
INVALID_NUMBER_CODES = frozenset({21211, 21614, 30006})  # invalid, not a mobile, landline
TEMPORARY_CODES = frozenset({20429, 30003})  # too many requests, handset unreachable


def error_code(code: int | None, status: int | None = None) -> str:
    if code:
        return str(code)
    return f"http_{status}" if status else "network"


def backoff(attempt: int, settings: Settings | None = None) -> timedelta:
    """Exponential, capped, plus jitter so retries of one outage do not arrive together."""
    settings = settings or get_settings()
    base = min(settings.outreach_backoff_max_seconds, settings.outreach_backoff_base_seconds * 2 ** max(attempt - 1, 0))
    return timedelta(seconds=base * (1 + random.uniform(0, settings.outreach_backoff_jitter)))


def retry_later(session: Session, outreach: PlannedOutreach, *, code: str, now: datetime) -> str:
    """Count the attempt; plan the next one after a backoff, or give up after the last."""
    settings = get_settings()
    outreach.attempts += 1
    outreach.error_code = code
    outreach.updated_at = now
    if outreach.attempts >= settings.outreach_max_attempts:
        outreach.state, outreach.next_attempt_at = OutreachState.FAILED, None
        log.warning("outreach %s failed after %s attempts code=%s", outreach.id, outreach.attempts, code)
        return "failed"
    outreach.state = OutreachState.PLANNED
    outreach.next_attempt_at = now + backoff(outreach.attempts, settings)
    log.info("outreach %s retry %s at %s code=%s", outreach.id, outreach.attempts, outreach.next_attempt_at, code)
    return "retry"


def fail(outreach: PlannedOutreach, *, code: str, now: datetime) -> str:
    outreach.state, outreach.error_code, outreach.next_attempt_at, outreach.updated_at = (
        OutreachState.FAILED,
        code,
        None,
        now,
    )
    return "failed"


def opted_out_at_carrier(session: Session, outreach: PlannedOutreach, *, now: datetime) -> str:
    """21610: the number had texted STOP to Twilio. Record it, and drop the rest of the plan."""
    patient = session.get_one(Patient, outreach.patient_id)
    fail(outreach, code=str(UNSUBSCRIBED), now=now)
    # Recorded even if the ledger already says so: it is Twilio's evidence, with its time.
    if patient.phone is not None:  # an import may have taken the number away since the send
        consent.record_consent(session, phone=patient.phone, consented=False, source=f"twilio:{UNSUBSCRIBED}",
                               now=now)  # fmt: skip
    cancelled = cancel_pending(session, patient_id=patient.id, code="opted_out", now=now)
    log.warning(
        "outreach %s: %s unsubscribed (21610); %s pending rows cancelled", outreach.id, mask(patient.phone), cancelled
    )
    return "opted_out"


def cancel_pending(session: Session, *, patient_id: int, code: str, now: datetime) -> int:
    result = session.execute(
        update(PlannedOutreach)
        .where(PlannedOutreach.patient_id == patient_id, PlannedOutreach.state.in_(PENDING_STATES))
        .values(state=OutreachState.CANCELLED, error_code=code, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return changed_rows(result)


def flag_number(session: Session, outreach: PlannedOutreach, *, code: int, now: datetime) -> str:
    """21211/21614/30006: the number cannot take texts. Staff must find a better one."""
    patient = session.get_one(Patient, outreach.patient_id)
    fail(outreach, code=str(code), now=now)
    if patient.phone is None:
        return "flagged"  # an import has already taken the number away: nothing left to flag
    conversation = conversations.find_or_open(session, phone=patient.phone, now=now)
    audit.record(
        session,
        actor="system",
        action="phone.flagged",
        patient_id=patient.id,
        referral_id=outreach.referral_id,
        conversation_id=conversation.id,
        details={"outreach_id": outreach.id, "error_code": code},
        now=now,
    )
    open_handoff(session, conversation=conversation, reason="invalid_number", referral_id=outreach.referral_id, now=now)
    log.warning("outreach %s: number %s flagged (code %s), handoff opened", outreach.id, mask(patient.phone), code)
    return "flagged"


def after_refusal(
    session: Session, outreach: PlannedOutreach, *, code: int | None, label: str, temporary: bool, now: datetime
) -> str:
    """Twilio did not take (or did not deliver) the message: retry, or the permanent follow-up.

    `label` is what goes into error_code ("20429", "http_503", "network").
    """
    if code == UNSUBSCRIBED:
        return opted_out_at_carrier(session, outreach, now=now)
    if code in INVALID_NUMBER_CODES:
        return flag_number(session, outreach, code=code, now=now)
    if temporary or code in TEMPORARY_CODES:
        return retry_later(session, outreach, code=label, now=now)
    log.warning("outreach %s refused permanently code=%s", outreach.id, label)
    return fail(outreach, code=label, now=now)
