"""Who answers a carrier keyword (SMS_KEYWORD_REPLIES), and what is recorded whoever does.

With "twilio", Twilio answers its standard English words itself, so the webhook
answers them with an empty <Response/> (one text, not two), while the Spanish
words, which Twilio knows only through Advanced Opt-Out, still get Relay's
reply unless the request's OptOutType says Twilio handled them. With "relay",
Relay answers every keyword. Either way each opt-out and opt-in reaches the
consent ledger, and an opted-out number gets nothing the clinic starts.
"""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from relay.core.settings import Settings
from relay.inbound.turns import RASA_DOWN_REPLY, RASA_DOWN_REPLY_ES
from scheduler import jobs
from scheduler.sweep import sweep
from tests.outreach_support import add_row
from tests.webhooks.keyword_helpers import JAMES, MARIA, TOM, UNKNOWN, consent_flag, ledger, reply
from tests.webhooks.twilio_helpers import post_sms

pytestmark = pytest.mark.usefixtures("rasa_stopped", "fresh_demo")

ENGLISH_OPT_OUTS = ["STOP", "stop.", "StopAll", "UNSUBSCRIBE", "cancel", "End", "quit", "revoke", "OPTOUT"]
SPANISH_OPT_OUTS = ["ALTO", "parar", "Baja", "¡Cancelar!"]


def _word(body: str) -> str:
    return body.strip("¡!. ").upper()


# --- Twilio answers ---------------------------------------------------------


@pytest.mark.usefixtures("twilio_answers_keywords")
@pytest.mark.parametrize("body", ENGLISH_OPT_OUTS)
def test_twilio_answers_the_english_opt_outs_and_relay_only_records_them(api_client, body):
    response = post_sms(api_client, from_phone=JAMES, body=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert "<Message" not in response.text and "<Response" in response.text  # an empty TwiML answer
    assert ledger(JAMES) == [(False, f"sms:{_word(body)}")]
    assert consent_flag(JAMES) is False


@pytest.mark.usefixtures("twilio_answers_keywords")
def test_twilio_answers_start_unstop_help_and_info_too(api_client):
    assert reply(api_client, JAMES, "STOP") == []
    assert reply(api_client, JAMES, "start") == []
    assert reply(api_client, JAMES, "STOP") == []
    assert reply(api_client, JAMES, "Unstop") == []
    assert reply(api_client, JAMES, "HELP") == []
    assert reply(api_client, JAMES, "info") == []
    assert ledger(JAMES) == [(False, "sms:STOP"), (True, "sms:START"), (False, "sms:STOP"), (True, "sms:UNSTOP")]
    assert consent_flag(JAMES) is True


@pytest.mark.usefixtures("twilio_answers_keywords")
def test_yes_from_an_opted_out_number_is_recorded_and_left_to_twilio(api_client):
    assert reply(api_client, TOM, "yes") == []
    assert ledger(TOM) == [(True, "sms:YES")] and consent_flag(TOM) is True
    assert reply(api_client, TOM, "yes") == [RASA_DOWN_REPLY]  # opted in now: an ordinary answer for the bot


@pytest.mark.usefixtures("twilio_answers_keywords")
def test_a_spanish_patients_stop_is_left_to_twilio_too(api_client):
    assert reply(api_client, MARIA, "STOP") == []
    assert ledger(MARIA) == [(False, "sms:STOP")]


@pytest.mark.usefixtures("twilio_answers_keywords")
@pytest.mark.parametrize("body", SPANISH_OPT_OUTS)
def test_relay_still_answers_the_spanish_words_twilio_does_not_know(api_client, body):
    [text] = reply(api_client, UNKNOWN, body)
    assert text.startswith("Riverside Family Health: ya no le enviaremos mensajes de texto.")
    assert ledger(UNKNOWN) == [(False, f"sms:{_word(body)}")]


@pytest.mark.usefixtures("twilio_answers_keywords")
def test_with_advanced_opt_out_twilio_answers_the_spanish_words_it_flags(api_client):
    assert reply(api_client, MARIA, "Alto", OptOutType="STOP") == []
    assert ledger(MARIA) == [(False, "sms:ALTO")]


@pytest.mark.parametrize("setting", ["twilio", "relay"])
def test_the_services_own_words_flagged_by_twilio_reach_the_ledger(api_client, keyword_replies, setting):
    keyword_replies(setting)
    reply(api_client, MARIA, "Detener", OptOutType="STOP")
    reply(api_client, MARIA, "Comenzar", OptOutType="START")
    reply(api_client, MARIA, "Ayuda", OptOutType="HELP")
    assert ledger(MARIA) == [(False, "sms:DETENER"), (True, "sms:COMENZAR")]
    assert consent_flag(MARIA) is True


@pytest.mark.usefixtures("twilio_answers_keywords")
def test_words_twilio_flags_are_silent_and_words_it_does_not_go_to_the_bot(api_client):
    assert reply(api_client, MARIA, "Detener", OptOutType="STOP") == []
    assert reply(api_client, MARIA, "Detener") == [
        RASA_DOWN_REPLY_ES
    ]  # not flagged: not a keyword for us (she is answered in Spanish)


@pytest.mark.usefixtures("twilio_answers_keywords")
def test_a_duplicate_stop_is_recorded_once_and_stays_silent(api_client):
    assert reply(api_client, JAMES, "STOP", sid="SMstop-twice") == []
    assert reply(api_client, JAMES, "STOP", sid="SMstop-twice") == []
    assert ledger(JAMES) == [(False, "sms:STOP")]


# --- Relay answers ----------------------------------------------------------


@pytest.mark.usefixtures("relay_answers_keywords")
@pytest.mark.parametrize("body", ENGLISH_OPT_OUTS + SPANISH_OPT_OUTS)
def test_relay_answers_every_opt_out_and_records_it(api_client, body):
    [text] = reply(api_client, JAMES, body)
    assert "START" in text
    assert ledger(JAMES) == [(False, f"sms:{_word(body)}")]


@pytest.mark.usefixtures("relay_answers_keywords")
def test_relay_answers_start_and_help(api_client):
    reply(api_client, JAMES, "STOP")
    [start] = reply(api_client, JAMES, "START")
    [help_text] = reply(api_client, JAMES, "HELP")
    assert "resubscribed" in start and "(312) 555-0100" in help_text


# --- whoever answers, STOP stops the clinic's texts ---------------------------


@pytest.mark.parametrize(("setting", "body"), [("twilio", "STOP"), ("twilio", "ALTO"), ("relay", "STOP")])
def test_after_an_opt_out_the_clinics_texts_are_refused(
    api_client, auth_headers, keyword_replies, outreach_env, stub_plan, daytime, setting, body
):
    keyword_replies(setting)
    reply(api_client, JAMES, body)
    now = datetime.now(UTC)
    outreach_id = add_row("James Carter", due_at=now - timedelta(minutes=1))
    assert outreach_id in sweep(now).queued
    assert jobs.send_outreach(outreach_id, now=now) == "skipped:opted_out"
    assert outreach_env.created_requests() == []


# --- the setting ------------------------------------------------------------

PRODUCTION = {
    "relay_env": "production",
    "twilio_account_sid": "AC" + "1" * 32,
    "twilio_auth_token": "a-real-token",
    "api_token": "a-real-api-token",
    "public_base_url": "https://relay.example.org",
}


@pytest.fixture
def unset(monkeypatch):
    monkeypatch.delenv("SMS_KEYWORD_REPLIES", raising=False)


@pytest.mark.usefixtures("unset")
def test_unset_twilio_answers_in_production_and_relay_elsewhere():
    assert Settings(**PRODUCTION).keyword_replier == "twilio"
    assert Settings(relay_env="development").keyword_replier == "relay"


@pytest.mark.usefixtures("unset")
@pytest.mark.parametrize("value", ["twilio", "relay"])
def test_an_explicit_value_wins_in_every_environment(value):
    assert Settings(**PRODUCTION, sms_keyword_replies=value).keyword_replier == value
    assert Settings(relay_env="development", sms_keyword_replies=value).keyword_replier == value


def test_the_environment_variable_is_read(monkeypatch):
    monkeypatch.setenv("SMS_KEYWORD_REPLIES", "twilio")
    assert Settings(relay_env="development").keyword_replier == "twilio"


@pytest.mark.usefixtures("unset")
@pytest.mark.parametrize("value", ["both", "Twilio ", "none"])
def test_other_values_are_refused(value):
    with pytest.raises(ValidationError, match="sms_keyword_replies"):
        Settings(sms_keyword_replies=value)
