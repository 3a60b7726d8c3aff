"""SMS consent: the ledger of opt-outs and opt-ins, by phone number.

The ledger (ConsentEvent) is kept by phone, not by patient, because anyone can
text STOP, and a number that opted out must stay out even if it later turns
out to be a patient's. A patient's `sms_consent` flag mirrors the ledger so
that lists and reports can read it cheaply.
"""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay.models import ConsentEvent, Patient
from relay.records import audit


def latest_event(session: Session, phone: str) -> ConsentEvent | None:
    return session.scalars(
        select(ConsentEvent).filter_by(phone=phone).order_by(ConsentEvent.at.desc(), ConsentEvent.id.desc()).limit(1)
    ).first()


def is_opted_out(session: Session, phone: str, *, patient: Patient | None = None) -> bool:
    """May nothing be sent to this number unless it asks first?

    The ledger's latest event decides (see `opted_out_by`). `patient` is the
    patient with this number when the caller already has it.
    """
    event = latest_event(session, phone)
    if event is None and patient is None:
        patient = session.scalars(select(Patient).filter_by(phone=phone)).one_or_none()
    return opted_out_by(event, patient=patient)


def opted_out_by(latest: ConsentEvent | None, *, patient: Patient | None) -> bool:
    """The decision, from the number's latest ledger event and its patient (None if it has none).

    Without any event, a patient whose record says no consent counts as opted
    out (we never learned otherwise), and a number we know nothing about has
    not opted out.
    """
    if latest is not None:
        return not latest.consented
    return patient is not None and not patient.sms_consent


def record_consent(
    session: Session,
    *,
    phone: str,
    consented: bool,
    source: str,
    now: datetime,
    conversation_id: int | None = None,
) -> ConsentEvent:
    """Write one ledger row, keep the patient's flag in step, and audit it.

    Every request is recorded, even one that changes nothing (a second STOP):
    the ledger is the evidence of what the person asked for and when.
    """
    patient = session.scalars(select(Patient).filter_by(phone=phone)).one_or_none()
    event = ConsentEvent(
        patient_id=patient.id if patient else None, phone=phone, consented=consented, source=source, at=now
    )
    session.add(event)
    if patient is not None and patient.sms_consent != consented:
        patient.sms_consent = consented
        patient.sms_consent_changed_at = now
    session.flush()
    audit.record(
        session,
        actor="patient" if source.startswith("sms:") else "system",
        action="consent.opted_in" if consented else "consent.opted_out",
        patient_id=patient.id if patient else None,
        conversation_id=conversation_id,
        details={"consent_event_id": event.id, "source": source},
        now=now,
    )
    return event
