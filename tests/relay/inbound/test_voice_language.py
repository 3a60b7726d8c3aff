"""A call's words in English and Spanish, the language of each saying, and what a Spanish caller's words
become for the bot. No database, no Rasa: the webhook tests are tests/webhooks/test_voice_spanish.py."""

import re
from dataclasses import fields

import pytest

from relay.inbound import safety
from relay.inbound.voice_turns import Heard, VoiceStep, _asks, _greeting, _language_request, _reprompt
from relay.inbound.voice_words import ENGLISH, SPANISH, TWILIO_LANGUAGE, WORDS
from relay.language.languages import Language
from relay.models import CallTurn

# Words that give away an English sentence left in the Spanish table.
_ENGLISH_GIVEAWAYS = re.compile(r"\b(the|please|sorry|you|your|hold|call|press|team)\b", re.IGNORECASE)


def test_every_phrase_has_both_languages_and_the_same_placeholders():
    for spec in fields(ENGLISH):
        english, spanish = getattr(ENGLISH, spec.name), getattr(SPANISH, spec.name)
        if isinstance(english, dict):
            assert english.keys() == spanish.keys() == set(safety.REPLIES), spec.name
            english, spanish = tuple(english.values()), tuple(spanish.values())
        if isinstance(english, str):
            english, spanish = (english,), (spanish,)
        for en, es in zip(english, spanish, strict=True):
            assert en.strip() and es.strip() and en != es, spec.name
            assert ("{clinic}" in en) == ("{clinic}" in es), spec.name


def test_the_spanish_phrases_are_spanish_with_their_accents():
    for spec in fields(SPANISH):
        if spec.name in ("other_language_offer", "other_language_request", "hints"):
            continue  # the other language's words, on purpose
        value = getattr(SPANISH, spec.name)
        texts = value.values() if isinstance(value, dict) else [value] if isinstance(value, str) else value
        for text in texts:
            assert not _ENGLISH_GIVEAWAYS.search(text), (spec.name, text)
    said = " ".join([*SPANISH.greeting, SPANISH.keypad_hint, SPANISH.still_not_understood, SPANISH.rasa_slow])
    for accented in ("médica", "automático", "¿En qué", "teléfono", "todavía", "devolverá", "Adiós"):
        assert accented in said  # speech keeps every accent (SPANISH.md)
    assert "oprima 0" in SPANISH.greeting[0] and "911" in SPANISH.greeting[0]
    assert "la Línea de Prevención del Suicidio y Crisis" in SPANISH.emergency["mental_health"]
    assert "988" in SPANISH.emergency["mental_health"] and "911" in SPANISH.emergency["medical"]


def test_the_offers_name_the_key_that_takes_them():
    assert ENGLISH.other_language_offer == "Para español, oprima 2 o diga español."
    assert SPANISH.other_language_offer == "For English, press 1 or say English."
    for words in WORDS.values():
        assert f" {words.other_language_digit} " in words.other_language_offer
        assert words.other_language_request in words.other_language_offer


def test_spanish_hints_carry_the_words_the_bot_listens_for():
    hints = {hint.strip() for hint in SPANISH.hints.split(",")}
    assert {"sí", "no", "confirmar", "cambiar", "cancelar", "cita", "referencia", "hablar con una persona"} <= hints
    assert {"fecha de nacimiento", "mañana", "tarde", "la próxima semana"} <= hints
    assert {"lunes", "martes", "miércoles", "jueves", "viernes"} <= hints
    assert all(0 < len(hint) <= 100 for hint in hints)
    assert TWILIO_LANGUAGE == {Language.EN: "en-US", Language.ES: "es-US"}


# --- the step and its stored reply ---------------------------------------------------


def test_the_greeting_gives_the_offer_the_other_language():
    english = _greeting(Language.EN, clinic="Riverside")
    assert english.spoken == [
        (ENGLISH.greeting[0].format(clinic="Riverside"), Language.EN),
        ("Para español, oprima 2 o diga español.", Language.ES),
        (ENGLISH.greeting[1], Language.EN),
    ]
    spanish = _greeting(Language.ES, clinic="Riverside")
    assert spanish.language is Language.ES
    assert [language for _, language in spanish.spoken] == [Language.ES, Language.EN, Language.ES]


def test_a_step_keeps_its_languages_through_a_stored_reply():
    step = _greeting(Language.ES, clinic="Riverside")
    reply = step.as_reply()
    assert reply["language"] == "es" and reply["say_languages"] == ["es", "en", "es"]
    assert VoiceStep.from_reply(reply) == step
    plain = VoiceStep(says=["Disculpe, no le entendí."], language=Language.ES)
    assert "say_languages" not in plain.as_reply()
    assert VoiceStep.from_reply(plain.as_reply()).spoken == [("Disculpe, no le entendí.", Language.ES)]


def test_a_reply_stored_before_calls_had_a_language_is_english():
    old = VoiceStep.from_reply({"says": ["Please hold."], "then": "dial", "dial": "+13125550111"})
    assert old.language is Language.EN and old.spoken == [("Please hold.", Language.EN)]


def test_a_language_for_some_sayings_only_is_refused():
    with pytest.raises(ValueError):
        VoiceStep(says=["one", "two"], say_languages=[Language.ES])


# --- what the caller says ------------------------------------------------------------


@pytest.mark.parametrize(
    "heard, turn, language, asked_for",
    [
        (Heard("dtmf", "2"), 1, Language.EN, "español"),
        (Heard("dtmf", "1"), 1, Language.ES, "English"),
        (Heard("dtmf", "1"), 1, Language.EN, None),
        (Heard("dtmf", "2"), 1, Language.ES, None),
        (Heard("dtmf", "2"), 2, Language.EN, None),  # later, a 2 is a choice
        (Heard("dtmf", "22"), 1, Language.EN, None),
        (Heard("speech", "2"), 1, Language.EN, None),
    ],
)
def test_the_offered_key_right_after_the_greeting_is_a_language_request(heard, turn, language, asked_for):
    assert _language_request(heard, turn=turn, language=language) == asked_for


@pytest.mark.parametrize(
    "said, sent",
    [
        ("La segunda.", "2"),
        ("el número uno por favor", "1"),
        ("cuatro de diciembre de mil novecientos sesenta y ocho", "4 de diciembre de 1968"),
        ("cero cuatro uno dos mil novecientos sesenta y ocho", "04/12/1968"),  # both readings kept
        ("quiero cambiar mi cita", "quiero cambiar mi cita"),
    ],
)
def test_a_spanish_callers_words_for_the_bot(said, sent):
    assert Heard("speech", said, 0.9).for_rasa(Language.ES) == sent


def test_keypad_digits_are_the_same_in_both_languages():
    assert Heard("dtmf", "04121968").for_rasa(Language.ES) == Heard("dtmf", "04121968").for_rasa() == "04/12/1968"


def test_an_english_callers_words_are_read_as_before():
    assert Heard("speech", "number two").for_rasa() == "2"
    assert Heard("speech", "October twenty seventh two thousand one").for_rasa() == "10/27/2001"


# --- asking again --------------------------------------------------------------------


@pytest.mark.parametrize(
    "sentence",
    [
        "¿Me puede decir su fecha de nacimiento?",
        "¿Me puede decir su fecha de nacimiento, por favor.",
        "Por favor, dígame su fecha de nacimiento.",
        "Diga sí o no.",
        "Marque o diga 1 para el lunes.",
        "Oprima 1 para confirmar.",
    ],
)
def test_spanish_questions_are_recognised(sentence):
    assert _asks(sentence)


@pytest.mark.parametrize("sentence", ["Su cita quedó confirmada.", "Gracias por llamar.", "Le comunico."])
def test_spanish_statements_are_not_questions(sentence):
    assert not _asks(sentence)


def _previous(step: VoiceStep) -> CallTurn:
    return CallTurn(call_id=1, turn=0, input="call", reply=step.as_reply())


def test_a_spanish_reprompt_repeats_the_question_without_the_offer():
    greeting = _greeting(Language.ES, clinic="Riverside")
    again = _reprompt(Heard("silence"), _previous(greeting), words=SPANISH, language=Language.ES)
    assert again == ["Disculpe, no escuché nada. ¿En qué le puedo ayudar hoy?", SPANISH.keypad_hint]


def test_an_english_reprompt_after_the_greeting_leaves_the_spanish_offer_out():
    greeting = _greeting(Language.EN, clinic="Riverside")
    again = _reprompt(Heard("unclear", "mm", 0.2), _previous(greeting), words=ENGLISH, language=Language.EN)
    assert again == ["Sorry, I did not catch that. How can I help you today?", ENGLISH.keypad_hint]


def test_a_spanish_question_that_names_the_keypad_gets_no_second_hint():
    asked = VoiceStep(says=["Puede usar el teclado. ¿Cuál es su fecha de nacimiento?"], language=Language.ES)
    again = _reprompt(Heard("silence"), _previous(asked), words=SPANISH, language=Language.ES)
    assert again == ["Disculpe, no escuché nada. ¿Cuál es su fecha de nacimiento?", SPANISH.keypad_hint]
    by_keypad = VoiceStep(
        says=["Dígame su fecha de nacimiento, o escríbala con el teclado de su teléfono."], language=Language.ES
    )
    again = _reprompt(Heard("silence"), _previous(by_keypad), words=SPANISH, language=Language.ES)
    assert again == [
        "Disculpe, no escuché nada. Dígame su fecha de nacimiento, o escríbala con el teclado de su teléfono."
    ]


def test_when_the_last_words_were_in_the_other_language_the_reprompt_asks_for_more():
    english = VoiceStep(says=["What is your date of birth?"], language=Language.EN)
    again = _reprompt(Heard("silence"), _previous(english), words=SPANISH, language=Language.ES)
    assert again == [f"Disculpe, no escuché nada. {SPANISH.anything_else}", SPANISH.keypad_hint]
