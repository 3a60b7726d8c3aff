import pytest

from relay.inbound import keywords
from relay.models import Clinic


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


def test_the_opt_out_reply_says_how_to_come_back():
    text = keywords.opt_out_reply(_clinic())
    assert "Riverside Family Health" in text and "START" in text


def test_help_names_the_clinic_and_its_number_and_how_to_opt_out():
    text = keywords.help_reply(_clinic())
    assert "Riverside Family Health" in text and "(312) 555-0100" in text and "STOP" in text
