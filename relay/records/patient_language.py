"""A patient's language, as they ask for it ("en español", "English please"), on the record and audited.

Stored on the patient, so reminders, the bot and staff all follow it. An EHR
import that sends a different language later wins: the record is the clinic's.
"""

from datetime import datetime

from sqlalchemy.orm import Session

from relay.language.languages import Language, language_of
from relay.models import Patient
from relay.records import audit


def set_language(
    session: Session,
    *,
    patient: Patient,
    language: Language,
    actor: str,
    now: datetime,
    conversation_id: int | None = None,
) -> bool:
    """Store `language` as the patient's; False (and nothing written) when it already is."""
    before = language_of(patient.language)
    if before is language:
        return False
    patient.language = language.value
    audit.record(
        session,
        actor=actor,
        action="patient.language_changed",
        patient_id=patient.id,
        conversation_id=conversation_id,
        details={"from": before.value, "to": language.value},
        now=now,
    )
    return True
