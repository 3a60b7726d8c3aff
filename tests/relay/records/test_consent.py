from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from relay.models import AuditEvent, ConsentEvent, Patient
from relay.records.consent import is_opted_out, latest_event, record_consent

JAMES, TOM, UNKNOWN = "+13125550145", "+13125550151", "+13125550199"  # Tom's seed consent is false


@pytest.fixture
def now():
    """After the seed's ledger rows (which another test's fresh_demo may have just rewritten)."""
    return datetime.now(UTC) + timedelta(minutes=1)


def test_the_seed_ledger_decides(db_session):
    assert not is_opted_out(db_session, JAMES)
    assert is_opted_out(db_session, TOM)


def test_an_unknown_number_has_not_opted_out_until_it_says_stop(db_session, now):
    assert not is_opted_out(db_session, UNKNOWN)
    event = record_consent(db_session, phone=UNKNOWN, consented=False, source="sms:STOP", now=now)
    assert (event.patient_id, event.phone, event.consented, event.source) == (None, UNKNOWN, False, "sms:STOP")
    assert is_opted_out(db_session, UNKNOWN)


def test_a_patient_without_any_ledger_event_follows_the_flag(db_session):
    tom = db_session.scalars(select(Patient).filter_by(phone=TOM)).one()
    db_session.execute(ConsentEvent.__table__.delete().where(ConsentEvent.phone == TOM))
    assert is_opted_out(db_session, TOM)
    tom.sms_consent = True
    assert not is_opted_out(db_session, TOM)


def test_record_consent_keeps_the_patient_in_step_and_audits_without_phi(db_session, now):
    record_consent(db_session, phone=JAMES, consented=False, source="sms:CANCEL", now=now)
    james = db_session.scalars(select(Patient).filter_by(phone=JAMES)).one()
    assert (james.sms_consent, james.sms_consent_changed_at) == (False, now)
    assert is_opted_out(db_session, JAMES)

    later = now + timedelta(minutes=5)
    record_consent(db_session, phone=JAMES, consented=True, source="sms:START", now=later)
    assert (james.sms_consent, james.sms_consent_changed_at) == (True, later)
    assert latest_event(db_session, JAMES).source == "sms:START"
    assert not is_opted_out(db_session, JAMES)

    events = db_session.scalars(
        select(AuditEvent)
        .filter_by(patient_id=james.id)
        .where(AuditEvent.action.like("consent.%"))
        .order_by(AuditEvent.id)
    ).all()
    assert [e.action for e in events] == ["consent.opted_out", "consent.opted_in"]
    assert all(set(e.details) == {"consent_event_id", "source"} for e in events)
    assert JAMES not in str([e.details for e in events])
