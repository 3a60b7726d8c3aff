"""Which language a text is in: short, accent-less and mixed texts as patients send them."""

import pytest

from relay.language.detect import detect_language, language_asked_for, language_metadata, marker_counts, written_in
from relay.language.languages import Language

EN, ES = Language.EN, Language.ES


@pytest.mark.parametrize(
    "text",
    [
        "hola, cuándo es mi cita?",
        "hola cuando es mi cita",
        "quiero cancelar mi appointment",  # Spanglish: the small words are Spanish
        "necesito cambiar la cita para el martes",
        "Buenos días, tengo una pregunta",
        "q dia es mi cita porfa",
    ],
)
def test_an_english_conversation_follows_a_clearly_spanish_text(text):
    assert detect_language(text, current=EN) is ES


@pytest.mark.parametrize(
    "text",
    [
        "hi when is my appointment",
        "I need to cancel my dermatology appt",
        "can you tell me where to park",
    ],
)
def test_a_spanish_conversation_follows_a_clearly_english_text(text):
    assert detect_language(text, current=ES) is EN


@pytest.mark.parametrize(
    ("text", "current"),
    [
        ("yes", ES),  # a Spanish speaker's "yes" keeps Spanish
        ("ok", ES),
        ("ok thanks", ES),
        ("si", EN),  # one word is not enough to switch
        ("hola", EN),
        ("04/12/1968", ES),
        ("2", EN),
        ("Dr. Park", ES),
        ("", EN),
    ],
)
def test_short_or_unclear_texts_keep_the_language_in_use(text, current):
    assert detect_language(text, current=current) is current


def test_markers_are_counted_after_folding_accents_and_case():
    assert marker_counts("MAÑANA después") == (0, 2)
    assert marker_counts("The appointment") == (2, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("en español", ES),
        ("en espanol porfa", ES),
        ("can you text me in Spanish", ES),
        ("English please", EN),
        ("en inglés por favor", EN),
        ("hablas ingles?", EN),
        ("when is my appointment", None),
        ("spanish or english, either", None),
    ],
)
def test_the_language_asked_for(text, expected):
    assert language_asked_for(text) is expected


@pytest.mark.parametrize(
    "text",
    ["hola, cuándo es mi cita?", "hi when is my appointment", "si", "ok", "3/9/72", "quiero cancelar mi appointment",
     "English please", "en español por favor", "thanks", "gracias", ""],
)  # fmt: skip
def test_what_rasa_is_told_settles_the_language_exactly_as_detect_language_does(text):
    """The language entity (bot/language_entity.py) sets the slot to written_in when there is one and leaves it
    otherwise: the same as detect_language from whatever language is in use."""
    hints = language_metadata(text, record=ES)
    assert hints["language"] == "es"  # the record's, for the session start
    for current in (EN, ES):
        followed = Language(hints["written_in"]) if hints["written_in"] else current
        assert followed is detect_language(text, current=current), (text, current)
    asked = language_asked_for(text)
    assert hints["asked_for"] == (asked.value if asked else None)


def test_an_unclear_text_settles_nothing():
    assert written_in("ok") is None and written_in("3/9/72") is None
    assert language_metadata("si", record=EN) == {"language": "en", "written_in": None, "asked_for": None}
