import pytest

from relay.models import Faq
from relay.records.faq import answer_for, similarity


def test_a_restated_question_is_a_strong_match():
    assert similarity("where do i park", "Where do I park?") > 0.9
    assert similarity("do you do flu shots", "Do you give flu shots?") > 0.7


def test_unrelated_questions_score_low():
    assert similarity("whats the weather", "What are your hours?") < 0.45


@pytest.mark.parametrize(
    ("message", "selected", "confidence", "expected"),
    [
        ("where can i leave my car", "parking", 0.95, "parking"),  # the model knows the topic
        ("is there parking", None, 0.0, "parking"),  # stored example, no model help
        ("do you sell hearing aids", "what_to_bring", 0.9, None),  # confident model, no support in wording
        ("asdf", None, 0.0, None),
    ],
)
def test_answer_for_combines_model_and_stored_wording(db_session, message, selected, confidence, expected):
    faq = answer_for(db_session, message=message, selected_key=selected, selector_confidence=confidence)
    assert (faq.key if faq else None) == expected


def test_a_new_entry_is_found_without_retraining(db_session):
    db_session.add(Faq(key="flu_shots", question="Do you give flu shots?", examples=["flu vaccine?"], answer="Yes."))
    db_session.flush()
    assert (
        answer_for(db_session, message="do u give flu shots", selected_key=None, selector_confidence=0).key
        == "flu_shots"
    )


def test_a_retired_entry_is_not_answered_even_when_the_model_picks_it(db_session):
    from relay.models import utcnow

    parking = db_session.query(Faq).filter_by(key="parking").one()
    assert answer_for(db_session, message="where do i park", selected_key="parking", selector_confidence=0.99)
    parking.retired_at = utcnow()
    db_session.flush()
    assert answer_for(db_session, message="where do i park", selected_key="parking", selector_confidence=0.99) is None


def test_the_answer_is_in_the_patients_language_once_written():
    from relay.records.faq import answer_in

    faq = Faq(key="wifi", question="Wifi?", examples=[], answer="Yes: RiversideGuest.")
    # No Spanish yet: English rather than nothing, and said to be English.
    assert answer_in(faq, "es") == "(en inglés) Yes: RiversideGuest."
    faq.answer_es = "Si: RiversideGuest."
    assert answer_in(faq, "es") == "Si: RiversideGuest." and answer_in(faq, "en") == "Yes: RiversideGuest."
    # Written with its accents: a text drops the ones GSM-7 lacks (é stays), a call keeps them all.
    faq.answer_es = "Sí, la contraseña está en la recepción y el café es gratis."
    assert answer_in(faq, "es") == "Si, la contraseña esta en la recepcion y el café es gratis."
    assert answer_in(faq, "es", spoken=True) == faq.answer_es


def _spanish(db_session, *, selector: float, intent: float, language: str = "es"):
    faq = answer_for(
        db_session,
        message="donde me puedo estacionar",
        selected_key="parking",
        selector_confidence=selector,
        language=language,
        intent_confidence=intent,
    )
    return faq.key if faq else None


def test_in_spanish_the_models_topic_is_trusted_only_when_both_classifiers_are_sure(db_session):
    """The stored wording is English, so a Spanish question shares none of it: the model's topic counts alone,
    and only when the selector and the intent classifier are both confident."""
    assert _spanish(db_session, selector=0.99, intent=0.95) == "parking"
    assert _spanish(db_session, selector=0.99, intent=0.6) is None  # perhaps a medical question
    assert _spanish(db_session, selector=0.8, intent=0.95) is None
    assert _spanish(db_session, selector=0.99, intent=0.95, language="en") is None  # English needs wording support
