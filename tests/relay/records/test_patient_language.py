"""A patient's language, switched on request: stored and audited once."""

from datetime import UTC, datetime

from sqlalchemy import select

from relay.language.languages import Language
from relay.models import AuditEvent, Patient
from relay.records.patient_language import set_language

NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)


def _patient(session, name: str) -> Patient:
    return session.scalars(select(Patient).filter_by(name=name)).one()


def _changes(session, patient: Patient) -> list[dict]:
    events = session.scalars(
        select(AuditEvent).filter_by(action="patient.language_changed", patient_id=patient.id)
    ).all()
    return [event.details for event in events]


def test_switching_to_spanish_is_stored_and_audited_without_any_text(db_session):
    james = _patient(db_session, "James Carter")
    assert set_language(db_session, patient=james, language=Language.ES, actor="patient", now=NOW) is True
    db_session.flush()
    assert james.language == "es"
    assert _changes(db_session, james) == [{"from": "en", "to": "es"}]


def test_asking_for_the_language_already_on_record_writes_nothing(db_session):
    maria = _patient(db_session, "Maria Gonzalez")
    assert set_language(db_session, patient=maria, language=Language.ES, actor="patient", now=NOW) is False
    db_session.flush()
    assert maria.language == "es" and _changes(db_session, maria) == []
