import pytest

from relay.inbound import keywords
from relay.language.gsm import is_gsm7, segments
from relay.language.languages import Language
from relay.models import Clinic

ES = Language.ES


@pytest.mark.parametrize(
    ("body", "kind", "word"),
    [
        ("STOP", "opt_out", "STOP"),
        (" Stop ", "opt_out", "STOP"),
        ("stop.", "opt_out", "STOP"),
        ("STOP!!", "opt_out", "STOP"),
        ("cancel.", "opt_out", "CANCEL"),
        ("CANCEL", "opt_out", "CANCEL"),
        ("stopall", "opt_out", "STOPALL"),
        ("Unsubscribe", "opt_out", "UNSUBSCRIBE"),
        ("end", "opt_out", "END"),
        ("Quit", "opt_out", "QUIT"),
        ("revoke", "opt_out", "REVOKE"),
        ("OptOut", "opt_out", "OPTOUT"),
        ("START", "opt_in", "START"),
        ("unstop", "opt_in", "UNSTOP"),
        ("yes", "opt_in_if_opted_out", "YES"),
        ("Yes!", "opt_in_if_opted_out", "YES"),
        ("HELP", "help", "HELP"),
        ("help?", "help", "HELP"),
        ("info", "help", "INFO"),
    ],
)
def test_whole_message_keywords(body, kind, word):
    assert keywords.parse(body) == keywords.Keyword(kind, word)


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ("ALTO", "ALTO"),
        ("alto", "ALTO"),
        ("Alto.", "ALTO"),
        ("¡Alto!", "ALTO"),
        (" ALTO ", "ALTO"),
        ("PARAR", "PARAR"),
        ("parar", "PARAR"),
        ("Parar!!", "PARAR"),
        ("BAJA", "BAJA"),
        ("baja", "BAJA"),
        ("Baja.", "BAJA"),
        ("Bája", "BAJA"),  # accents tolerated: a stray one does not hide the word
        ("CANCELAR", "CANCELAR"),
        ("cancelar", "CANCELAR"),
        ("Cancelar!", "CANCELAR"),
        ("¡CANCELÁR!", "CANCELAR"),
        ("¿cancelar?", "CANCELAR"),
    ],
)
def test_spanish_opt_out_words_are_whole_message_keywords_in_spanish(body, word):
    assert keywords.parse(body) == keywords.Keyword("opt_out", word, ES)


def test_the_spanish_words_are_opt_outs_only_and_not_twilios_defaults():
    assert sorted(keywords.SPANISH_OPT_OUT_WORDS) == ["ALTO", "BAJA", "CANCELAR", "PARAR"]
    assert not keywords.SPANISH_OPT_OUT_WORDS & keywords.TWILIO_DEFAULT_WORDS
    assert sorted(keywords.TWILIO_DEFAULT_WORDS) == sorted(
        ["STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "REVOKE", "OPTOUT", "START", "UNSTOP", "YES",
         "HELP", "INFO"]
    )  # fmt: skip


def test_english_words_are_english_and_answered_by_twilio_when_twilio_answers():
    stop = keywords.parse("stop")
    assert stop is not None and stop.language is Language.EN and stop.answered_by_twilio
    alto = keywords.parse("alto")
    assert alto is not None and not alto.answered_by_twilio  # Twilio knows it only with Advanced Opt-Out


@pytest.mark.parametrize(
    "body",
    [
        "please stop texting me",
        "stop it",
        "I want to cancel my appointment",
        "cancel appointment",
        "yes please",
        "yeah",
        "help me",
        "I need help",
        "STOP STOP",
        "stopp",
        "opt out",  # not one of Twilio's words (OPTOUT is)
        "cancelar mi cita",
        "quiero cancelar",
        "cancelar la cita",
        "alto ahi",
        "por favor parar",
        "dar de baja",
        "baja el volumen",
        "ALTO ALTO",
        "altos",
        "¡",
        "DETENER",  # not in the list or SPANISH.md: a sentence for the bot
        "AYUDA",
        "COMENZAR",
        "",
        "   ",
    ],
)
def test_sentences_are_not_keywords(body):
    assert keywords.parse(body) is None


def _clinic() -> Clinic:
    return Clinic(name="Riverside Family Health", sms_number="+13125550100", voice_number="+13125550100")


@pytest.mark.parametrize("reply", [keywords.opt_out_reply, keywords.opt_in_reply, keywords.help_reply])
def test_replies_are_plain_gsm_and_one_segment(reply):
    text = reply(_clinic())
    assert text.isascii() and "`" not in text
    assert len(text) <= 160


@pytest.mark.parametrize("reply", [keywords.opt_out_reply, keywords.opt_in_reply, keywords.help_reply])
def test_spanish_replies_are_gsm7_one_segment_and_unaccented(reply):
    text = reply(_clinic(), ES)
    assert is_gsm7(text), text
    assert not set(text) & set("áíóúÁÍÓÚ")  # SPANISH.md: these switch the whole text to UCS-2
    assert segments(text) == 1
    assert text.startswith("Riverside Family Health: ")  # SPANISH.md: automated texts start with the clinic


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("word", ["CANCEL", "CANCELAR"])
def test_a_lone_cancel_is_told_how_to_cancel_an_appointment_within_one_segment(language, word):
    text = keywords.opt_out_reply(_clinic(), language, word=word)
    assert "(312) 555-0100" in text and "START" in text
    assert is_gsm7(text) and segments(text) == 1


@pytest.mark.parametrize("language", list(Language))
def test_a_long_clinic_name_stays_within_two_segments(language):
    clinic = _clinic()
    clinic.name = "Riverside Family Health Center of North Chicago"
    for text in (
        keywords.opt_out_reply(clinic, language, word="CANCELAR"),
        keywords.opt_in_reply(clinic, language),
        keywords.help_reply(clinic, language),
    ):
        assert is_gsm7(text) and segments(text) <= 2


def test_the_spanish_replies_name_the_words_twilio_acts_on():
    clinic = _clinic()
    assert "START" in keywords.opt_out_reply(clinic, ES)
    assert "STOP" in keywords.opt_in_reply(clinic, ES)
    text = keywords.help_reply(clinic, ES)
    assert "(312) 555-0100" in text and "911" in text and "STOP" in text and "START" in text


def test_the_opt_out_reply_says_how_to_come_back():
    text = keywords.opt_out_reply(_clinic())
    assert "Riverside Family Health" in text and "START" in text
    assert "appointment" not in text  # the appointment hint is for a lone CANCEL only


def test_help_names_the_clinic_and_its_number_and_how_to_opt_out():
    text = keywords.help_reply(_clinic())
    assert "Riverside Family Health" in text and "(312) 555-0100" in text and "STOP" in text


# Twilio's OptOutType (Advanced Opt-Out): how Twilio itself read the message.


def test_optouttype_marks_a_keyword_we_know_as_answered_by_twilio():
    keyword = keywords.recognise("Alto", twilio_type="STOP")
    assert keyword == keywords.Keyword("opt_out", "ALTO", ES, flagged_by_twilio=True)
    assert keyword.answered_by_twilio


@pytest.mark.parametrize(
    ("body", "twilio_type", "kind", "word"),
    [
        ("Detener", "STOP", "opt_out", "DETENER"),
        ("comenzar", "START", "opt_in", "COMENZAR"),
        ("Ayuda!", "HELP", "help", "AYUDA"),
        ("Desuscribir", "stop", "opt_out", "DESUSCRIBIR"),
    ],
)
def test_optouttype_recognises_the_services_own_words(body, twilio_type, kind, word):
    assert keywords.recognise(body, twilio_type=twilio_type) == keywords.Keyword(kind, word, flagged_by_twilio=True)


def test_a_word_too_long_for_the_ledger_is_cut():
    keyword = keywords.recognise("X" * 200, twilio_type="STOP")
    assert keyword is not None and len(f"sms:{keyword.word}") <= 64


@pytest.mark.parametrize("twilio_type", [None, "", "OTHER"])
def test_without_a_known_optouttype_only_our_lists_count(twilio_type):
    assert keywords.recognise("Detener", twilio_type=twilio_type) is None
    assert keywords.recognise("STOP", twilio_type=twilio_type) == keywords.Keyword("opt_out", "STOP")
