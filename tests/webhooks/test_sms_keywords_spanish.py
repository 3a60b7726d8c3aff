"""The Spanish opt-out words, and keyword replies in the patient's language, through the real webhook.

ALTO, PARAR, BAJA and CANCELAR as whole messages opt the number out like STOP;
the reply is in Spanish for a Spanish word or a patient whose record says
Spanish, in GSM-7 and one segment. Relay answers keywords in these tests
(SMS_KEYWORD_REPLIES=relay); test_sms_keyword_replies.py has Twilio answering.
"""

from datetime import UTC, datetime, timedelta

import pytest

from relay.core.db import session_scope
from relay.inbound.turns import RASA_DOWN_REPLY_ES
from relay.language.gsm import is_gsm7, segments
from relay.messaging.handoffs import open_handoff
from relay.records import conversations
from scheduler import jobs
from scheduler.sweep import sweep
from tests.outreach_support import add_row
from tests.webhooks.keyword_helpers import JAMES, MARIA, UNKNOWN, consent_flag, ledger, reply

pytestmark = pytest.mark.usefixtures("rasa_stopped", "fresh_demo", "relay_answers_keywords")

SPANISH_OPT_OUT = (
    "Riverside Family Health: ya no le enviaremos mensajes de texto. Responda START para volver a recibirlos."
)


def _handoff(phone: str) -> int:
    with session_scope() as session:
        conversation = conversations.find_or_open(session, phone=phone)
        return open_handoff(session, conversation=conversation, reason="patient_request", priority="normal").id


def _one_plain_segment(text: str) -> bool:
    return is_gsm7(text) and segments(text) == 1


@pytest.mark.parametrize(
    ("body", "word"),
    [("ALTO", "ALTO"), ("alto", "ALTO"), ("¡Alto!", "ALTO"), ("Parar.", "PARAR"), ("parar", "PARAR"),
     ("BAJA", "BAJA"), ("baja!", "BAJA"), ("Bája", "BAJA"), ("Cancelar", "CANCELAR")],
)  # fmt: skip
def test_each_spanish_word_opts_out_with_a_spanish_reply(api_client, body, word):
    [text] = reply(api_client, JAMES, body)  # James's record says English: the word decides
    assert text.startswith(SPANISH_OPT_OUT)
    assert _one_plain_segment(text)
    assert consent_flag(JAMES) is False
    assert ledger(JAMES) == [(False, f"sms:{word}")]


def test_cancelar_alone_also_says_how_to_cancel_an_appointment(api_client):
    [text] = reply(api_client, MARIA, "CANCELAR")
    assert text == SPANISH_OPT_OUT + " Para cancelar una cita, llame al (312) 555-0100."
    assert _one_plain_segment(text)
    assert ledger(MARIA) == [(False, "sms:CANCELAR")]


@pytest.mark.parametrize("body", ["cancelar mi cita", "Quiero cancelar", "alto ahi", "dar de baja", "parar por favor"])
def test_sentences_with_spanish_keywords_in_them_go_to_the_bot(api_client, body):
    assert reply(api_client, MARIA, body) == [RASA_DOWN_REPLY_ES]  # the bot's turn (here Rasa is down)
    assert ledger(MARIA) == [] and consent_flag(MARIA) is True


def test_a_spanish_patient_gets_spanish_replies_to_the_english_keywords(api_client):
    [stop] = reply(api_client, MARIA, "STOP")
    assert stop == SPANISH_OPT_OUT
    [start] = reply(api_client, MARIA, "START")
    assert start.startswith("Riverside Family Health: volvera a recibir nuestros mensajes de texto.")
    [help_text] = reply(api_client, MARIA, "HELP")
    assert "llamenos al (312) 555-0100" in help_text and "911" in help_text
    assert all(_one_plain_segment(text) for text in (stop, start, help_text))
    assert ledger(MARIA) == [(False, "sms:STOP"), (True, "sms:START")]  # HELP changes no consent


def test_an_english_patient_gets_english_replies_to_the_english_keywords(api_client):
    [text] = reply(api_client, JAMES, "STOP")
    assert text.startswith("You are unsubscribed")


def test_an_unknown_number_texting_alto_is_ledgered_by_phone_and_answered_in_spanish(api_client):
    [text] = reply(api_client, UNKNOWN, "Alto")
    assert text == SPANISH_OPT_OUT
    [text] = reply(api_client, UNKNOWN, "START")  # no record, an English word: English
    assert text.startswith("You are resubscribed")
    assert ledger(UNKNOWN) == [(False, "sms:ALTO"), (True, "sms:START")]


def test_yes_after_baja_opts_back_in(api_client):
    reply(api_client, MARIA, "baja")
    [text] = reply(api_client, MARIA, "yes")
    assert text.startswith("Riverside Family Health: volvera a recibir")
    assert ledger(MARIA) == [(False, "sms:BAJA"), (True, "sms:YES")]
    assert consent_flag(MARIA) is True


def test_after_parar_staff_cannot_text_the_number_until_it_opts_back_in(api_client, auth_headers, fake_twilio):
    reply(api_client, MARIA, "PARAR")
    handoff_id = _handoff(MARIA)
    refused = api_client.post(f"/api/handoffs/{handoff_id}/reply", json={"body": "hola"}, headers=auth_headers)
    assert refused.status_code == 409 and "opted out" in refused.json()["detail"]
    assert fake_twilio.requests == []
    reply(api_client, MARIA, "START")
    sent = api_client.post(f"/api/handoffs/{handoff_id}/reply", json={"body": "hola"}, headers=auth_headers)
    assert sent.status_code == 201


def test_after_alto_the_clinics_reminders_are_skipped(api_client, outreach_env, stub_plan, daytime):
    reply(api_client, MARIA, "ALTO")
    now = datetime.now(UTC)
    outreach_id = add_row("Maria Gonzalez", due_at=now - timedelta(minutes=1))
    assert outreach_id in sweep(now).queued
    assert jobs.send_outreach(outreach_id, now=now) == "skipped:opted_out"
    assert outreach_env.created_requests() == []
