"""Which language a text is in: short, accent-less and mixed texts as patients send them."""

import pytest

from relay.language.detect import detect_language, language_asked_for, marker_counts
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
