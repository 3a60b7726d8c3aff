"""STOP, START, YES and HELP through the real webhook, before (and without) Rasa, with Relay answering them.

The Spanish words are in test_sms_keywords_spanish.py; Twilio answering instead in test_sms_keyword_replies.py.
"""

import pytest
from sqlalchemy import select

from relay.core.db import session_scope
from relay.inbound.turns import RASA_DOWN_REPLY
from relay.models import AuditEvent, ConsentEvent, Handoff
from tests.webhooks.keyword_helpers import JAMES, TOM, UNKNOWN
from tests.webhooks.keyword_helpers import consent_flag as _consent
from tests.webhooks.keyword_helpers import ledger as _ledger
from tests.webhooks.keyword_helpers import reply as _reply

pytestmark = pytest.mark.usefixtures("rasa_stopped", "fresh_demo", "relay_answers_keywords")


def test_cancel_alone_opts_out_and_start_opts_back_in(api_client):
    [reply] = _reply(api_client, JAMES, "CANCEL")
    assert reply == (
        "You are unsubscribed from Riverside Family Health texts. Reply START to resubscribe."
        " To cancel an appointment, call (312) 555-0100."
    )
    assert _consent(JAMES) is False
    assert _ledger(JAMES) == [(False, "sms:CANCEL")]

    [reply] = _reply(api_client, JAMES, "START")
    assert "resubscribed" in reply and "STOP" in reply
    assert _consent(JAMES) is True
    assert _ledger(JAMES) == [(False, "sms:CANCEL"), (True, "sms:START")]

    with session_scope() as session:
        actions = [e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.action.like("consent.%")))]
        assert actions == ["consent.opted_out", "consent.opted_in"]
        assert session.scalars(select(Handoff)).first() is None  # Rasa was never asked


@pytest.mark.parametrize(
    "body", ["cancel.", " Stop ", "stop!", "UNSUBSCRIBE", "quit", "End", "revoke", "optout", "STOPALL"]
)
def test_every_opt_out_word_in_any_case(api_client, body):
    [reply] = _reply(api_client, JAMES, body)
    assert "unsubscribed" in reply and "START" in reply
    assert _consent(JAMES) is False
    assert _ledger(JAMES) == [(False, f"sms:{body.strip().rstrip('.!').upper()}")]


def test_an_unknown_number_is_ledgered_by_phone(api_client):
    [reply] = _reply(api_client, UNKNOWN, "stop")
    assert "unsubscribed" in reply
    with session_scope() as session:
        event = session.scalars(select(ConsentEvent).filter_by(phone=UNKNOWN)).one()
        assert (event.patient_id, event.consented, event.source) == (None, False, "sms:STOP")
    [reply] = _reply(api_client, UNKNOWN, "unstop")
    assert "resubscribed" in reply
    assert _ledger(UNKNOWN) == [(False, "sms:STOP"), (True, "sms:UNSTOP")]


def test_yes_from_an_opted_in_number_is_an_ordinary_answer_for_the_bot(api_client):
    assert _reply(api_client, JAMES, "yes") == [RASA_DOWN_REPLY]  # it reached the Rasa path
    assert _ledger(JAMES) == []
    assert _consent(JAMES) is True


def test_yes_from_an_opted_out_number_opts_it_back_in(api_client):
    [reply] = _reply(api_client, TOM, "Yes")
    assert "resubscribed" in reply
    assert _consent(TOM) is True
    assert _ledger(TOM) == [(True, "sms:YES")]
    # Now opted in, the next "yes" is the bot's again.
    assert _reply(api_client, TOM, "yes") == [RASA_DOWN_REPLY]


def test_yes_after_stop_opts_back_in(api_client):
    _reply(api_client, UNKNOWN, "STOP")
    [reply] = _reply(api_client, UNKNOWN, "yes")
    assert "resubscribed" in reply
    assert _ledger(UNKNOWN) == [(False, "sms:STOP"), (True, "sms:YES")]


@pytest.mark.parametrize("body", ["HELP", "help", "Info"])
def test_help_names_the_clinic_and_its_number(api_client, body):
    [reply] = _reply(api_client, UNKNOWN, body)
    assert "Riverside Family Health" in reply and "(312) 555-0100" in reply
    assert "STOP" in reply
    assert _ledger(UNKNOWN) == []


def test_a_duplicate_stop_is_processed_once(api_client):
    first = _reply(api_client, JAMES, "STOP", sid="SMstop-twice")
    second = _reply(api_client, JAMES, "STOP", sid="SMstop-twice")
    assert first == second and "unsubscribed" in first[0]
    assert _ledger(JAMES) == [(False, "sms:STOP")]


def test_sentences_with_keywords_in_them_go_to_the_bot(api_client):
    assert _reply(api_client, JAMES, "please stop texting me") == [RASA_DOWN_REPLY]
    assert _ledger(JAMES) == [] and _consent(JAMES) is True


def test_an_opted_out_number_still_gets_answers_to_what_it_asks(api_client):
    _reply(api_client, JAMES, "STOP")
    assert _reply(api_client, JAMES, "when is my appointment?") == [RASA_DOWN_REPLY]
