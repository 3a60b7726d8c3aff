"""The date of birth is read in the patient's language: day first for a Spanish speaker, month first in English."""

import pytest

from relay.identity import verification
from relay.models import Patient
from relay.records import conversations

MARIA = "+13125550154"  # demo: born 1968-04-12, record says Spanish
JAMES = "+13125550145"  # demo: born 1957-09-03, English


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("12/04/1968", "verified"),  # how she writes it: 12 April, day first
        ("04/12/1968", "verified"),  # written the US way: both readings are dates, the second one is hers
        ("12 de abril de 1968", "verified"),
        ("13/04/1968", "mismatch"),  # only one reading (13 April): not her
    ],
)
def test_a_spanish_speakers_date_of_birth_is_read_day_first(db_session, text, outcome):
    conversation = conversations.find_or_open(db_session, phone=MARIA)
    assert db_session.get(Patient, conversation.patient_id).language == "es"
    assert verification.check_dob(db_session, conversation=conversation, text=text).outcome == outcome


def test_an_english_speakers_date_is_read_month_first_only(db_session):
    conversation = conversations.find_or_open(db_session, phone=JAMES)
    assert verification.check_dob(db_session, conversation=conversation, text="03/09/1957").outcome == "mismatch"
    assert verification.check_dob(db_session, conversation=conversation, text="09/03/1957").outcome == "verified"
