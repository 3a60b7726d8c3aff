"""While staff have a conversation the bot is silent: one acknowledgement, then nothing, everything stored."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from relay.core.db import session_scope
from relay.inbound.safety import MEDICAL_REPLY
from relay.inbound.turns import HANDOFF_ACK_REPLY, RASA_DOWN_REPLY
from relay.messaging.handoffs import open_handoff
from relay.models import Conversation, Handoff
from relay.records import conversations
from tests.webhooks.twilio_helpers import post_sms, twiml_messages

JAMES = "+13125550145"
CHICAGO = ZoneInfo("America/Chicago")
WEDNESDAY_MORNING = datetime(2026, 12, 2, 10, 0, tzinfo=CHICAGO)
SATURDAY_EVENING = datetime(2026, 12, 5, 19, 0, tzinfo=CHICAGO)
HOURS = "Our team is available Mon-Fri 8:00 AM - 5:00 PM."

pytestmark = pytest.mark.usefixtures("rasa_stopped", "fresh_demo")


def _open_handoff(reason: str = "patient_request") -> None:
    with session_scope() as session:
        conversation = conversations.find_or_open(session, phone=JAMES)
        open_handoff(session, conversation=conversation, reason=reason)


def _send(api_client, body: str, sid: str | None = None) -> list[str]:
    response = post_sms(api_client, from_phone=JAMES, body=body, sid=sid)
    assert response.status_code == 200, response.text
    return twiml_messages(response)


def _messages() -> list[tuple[str, str, str]]:
    with session_scope() as session:
        conversation = session.scalars(select(Conversation).filter_by(phone=JAMES)).one()
        return [(m.direction, m.author, m.body) for m in conversation.messages]


def test_one_acknowledgement_then_silence_and_every_message_stored(api_client):
    _open_handoff()
    with time_machine.travel(WEDNESDAY_MORNING, tick=True):
        assert _send(api_client, "hello?") == [HANDOFF_ACK_REPLY]  # within hours: no hours in it
        assert _send(api_client, "is anyone there") == []
        response = post_sms(api_client, from_phone=JAMES, body="my number changed")
    assert response.text.endswith("<Response />")  # empty TwiML: no reply at all
    assert _messages() == [
        ("inbound", "patient", "hello?"),
        ("outbound", "system", HANDOFF_ACK_REPLY),
        ("inbound", "patient", "is anyone there"),
        ("inbound", "patient", "my number changed"),
    ]
    with session_scope() as session:
        handoff = session.scalars(select(Handoff)).one()
        assert handoff.acknowledged_at is not None and handoff.status == "open"


def test_after_hours_the_acknowledgement_gives_the_hours(api_client):
    _open_handoff()
    with time_machine.travel(SATURDAY_EVENING, tick=True):
        assert _send(api_client, "hello?") == [f"{HANDOFF_ACK_REPLY} {HOURS}"]


def test_a_retried_sid_during_the_handoff_replays_the_acknowledgement(api_client):
    _open_handoff()
    first = _send(api_client, "hello?", sid="SMack")
    assert _send(api_client, "hello?", sid="SMack") == first
    assert _send(api_client, "again") == []


def test_after_rasa_failed_the_next_message_is_acknowledged_not_sent_to_rasa(api_client):
    assert _send(api_client, "when is my appointment") == [RASA_DOWN_REPLY]
    [ack] = _send(api_client, "hello?")
    assert ack.startswith(HANDOFF_ACK_REPLY)
    assert _send(api_client, "hello??") == []


def test_keywords_and_emergencies_still_work_during_a_handoff(api_client):
    _open_handoff()
    [help_reply] = _send(api_client, "HELP")
    assert "(312) 555-0100" in help_reply
    [stop_reply] = _send(api_client, "STOP")
    assert "unsubscribed" in stop_reply
    assert _send(api_client, "I passed out") == [MEDICAL_REPLY]
    # None of those used up the one acknowledgement.
    [ack] = _send(api_client, "ok")
    assert ack.startswith(HANDOFF_ACK_REPLY)
    assert _send(api_client, "START")[0].startswith("You are resubscribed")
    assert _send(api_client, "thanks") == []


def test_messages_arriving_together_get_one_acknowledgement(api_client):
    import threading

    _open_handoff()
    results: list = []
    barrier = threading.Barrier(4)

    def send(n: int) -> None:
        barrier.wait()
        results.append(twiml_messages(post_sms(api_client, from_phone=JAMES, body=f"hello {n}")))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    outbound = [m for m in _messages() if m[0] == "outbound"]
    assert len(outbound) == 1 and outbound[0][2].startswith(HANDOFF_ACK_REPLY)


def test_unreadable_clinic_hours_are_given_rather_than_guessed(api_client):
    from relay.models import Clinic

    with session_scope() as session:
        session.scalars(select(Clinic)).one().hours = "By appointment"
    _open_handoff()
    with time_machine.travel(WEDNESDAY_MORNING, tick=True):
        assert _send(api_client, "hello?") == [f"{HANDOFF_ACK_REPLY} Our team is available By appointment."]


MARIA = "+13125550154"  # her record says Spanish


def test_spanish_speakers_get_the_fallbacks_and_the_acknowledgement_in_spanish(api_client):
    """Rasa down, then staff holding the conversation: Maria (record es) and James writing Spanish are answered
    in Spanish, as the bot would answer them; emergencies too."""
    from relay.inbound.safety import reply
    from relay.inbound.turns import HANDOFF_ACK_REPLY_ES, RASA_DOWN_REPLY_ES
    from relay.language.gsm import is_gsm7

    maria = post_sms(api_client, from_phone=MARIA, body="cita?")
    assert twiml_messages(maria) == [RASA_DOWN_REPLY_ES]
    with time_machine.travel(SATURDAY_EVENING, tick=True):
        [ack] = twiml_messages(post_sms(api_client, from_phone=MARIA, body="hola?"))
    assert ack.startswith(HANDOFF_ACK_REPLY_ES) and "Nuestro horario: Mon-Fri 8:00 AM - 5:00 PM." in ack
    assert twiml_messages(post_sms(api_client, from_phone=MARIA, body="me duele el pecho")) == [reply("medical", "es")]

    assert _send(api_client, "hola, cuando es mi cita?") == [RASA_DOWN_REPLY_ES]  # James writes Spanish
    assert _send(api_client, "hello, is anyone there?")[0].startswith(HANDOFF_ACK_REPLY)  # ... then English
    for text in (RASA_DOWN_REPLY_ES, HANDOFF_ACK_REPLY_ES):
        assert is_gsm7(text)
