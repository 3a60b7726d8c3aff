"""The voice webhooks' edges, without the model: signatures, fields, silence, emergencies, transfers,
Rasa down or slow, replays and the call log. Every TwiML answer is checked against Twilio's documented TwiML."""

import socket
import time

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from relay.core.db import session_scope
from relay.core.settings import get_settings
from relay.inbound.voice_turns import RASA_SLOW
from relay.models import Call, CallTurn, Conversation, Handoff, Message
from tests.webhooks.twilio_helpers import post_sms
from tests.webhooks.voice_helpers import (
    VOICE_PATH,
    Caller,
    call_params,
    check_twiml,
    new_call_sid,
    signed_post,
)

JAMES = "+13125550145"
FRONT_DESK = "+13125550111"


def _count(model) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(model))


def _call(call_sid: str) -> Call:
    with session_scope() as session:
        call = session.scalars(select(Call).filter_by(call_sid=call_sid)).one()
        session.expunge(call)
        return call


def _handoff_reasons() -> list[str]:
    with session_scope() as session:
        return [h.reason for h in session.scalars(select(Handoff).order_by(Handoff.id))]


@pytest.fixture
def caller(api_client, fresh_demo, rasa_stopped):
    def make(phone: str | None = JAMES) -> Caller:
        return Caller(api_client, phone)

    return make


def test_the_greeting_names_the_clinic_and_listens_for_speech_and_keys(caller):
    james = caller()
    answer = james.dial_in()
    gather = answer.gather
    assert gather is not None and list(answer.root) == [gather]  # the greeting is said inside the Gather
    assert "Riverside Family Health" in answer.said and "how can i help" in answer.said.lower()
    attrs = gather.attrib
    assert attrs["input"] == "speech dtmf"
    assert attrs["action"] == "https://relay.example.test/webhooks/twilio/voice/turn?turn=1"
    assert (attrs["method"], attrs["speechTimeout"], attrs["actionOnEmptyResult"], attrs["language"]) == (
        "POST", "auto", "true", "en-US",
    )  # fmt: skip
    hints = {hint.strip() for hint in attrs["hints"].split(",")}
    assert {"confirm", "reschedule", "cancel", "referral", "appointment", "representative"} <= hints
    # Welcome, the offer of Spanish in a Spanish voice, the question (tests/webhooks/test_voice_spanish.py).
    assert [child.tag for child in gather] == ["Say", "Say", "Say"]

    call = _call(james.call_sid)
    with session_scope() as session:
        conversation = session.scalars(select(Conversation).filter_by(phone=JAMES)).one()
        assert call.conversation_id == conversation.id and call.status == "in-progress"
        greeting = session.scalars(select(Message)).one()
        assert (greeting.direction, greeting.channel, greeting.author) == ("outbound", "voice", "system")


@pytest.mark.parametrize("path", ["", "/turn?turn=1", "/dial", "/status"])
def test_a_bad_signature_is_refused_and_nothing_is_stored(api_client, fresh_demo, path):
    url = get_settings().base_url + VOICE_PATH + path
    params = call_params(new_call_sid(), JAMES, SpeechResult="hello", Confidence="0.9", DialCallStatus="completed")
    forged = signed_post(api_client, url, params, token="not-the-auth-token")
    assert forged.status_code == 403
    unsigned = api_client.post(url.removeprefix(get_settings().base_url), data=params)
    assert unsigned.status_code == 403
    assert _count(Call) == _count(CallTurn) == _count(Message) == _count(Conversation) == 0


def test_a_signature_covers_the_turn_in_the_query(api_client, fresh_demo):
    """A turn number changed after signing is a different URL: refused."""
    settings = get_settings()
    params = call_params(new_call_sid(), JAMES, SpeechResult="hello", Confidence="0.9")
    signature = RequestValidator(settings.twilio_auth_token.get_secret_value()).compute_signature(
        settings.base_url + VOICE_PATH + "/turn?turn=1", params
    )
    response = api_client.post(VOICE_PATH + "/turn?turn=2", data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


@pytest.mark.parametrize(
    "path, overrides, field",
    [
        ("", {"CallSid": None}, "CallSid"),
        ("", {"CallSid": "SM" + "0" * 32}, "CallSid"),
        ("", {"From": None}, "From"),
        ("/turn?turn=1", {"CallSid": None}, "CallSid"),
        ("/turn?turn=0", {}, "turn"),
        ("/turn?turn=abc", {}, "turn"),
        ("/turn", {}, "turn"),
        ("/turn?turn=1", {"Confidence": "very"}, "Confidence"),
        ("/turn?turn=1", {"Confidence": "7"}, "Confidence"),
        ("/dial", {}, "DialCallStatus"),
        ("/status", {"CallStatus": None}, "CallStatus"),
        ("/status", {"CallDuration": "ten"}, "CallDuration"),
    ],
)
def test_missing_or_malformed_fields_get_400_with_the_field_named(api_client, fresh_demo, path, overrides, field):
    params = call_params(new_call_sid(), JAMES, SpeechResult="hello") | overrides
    response = signed_post(api_client, get_settings().base_url + VOICE_PATH + path, params)
    assert response.status_code == 400
    assert field in response.json()["detail"]
    assert _count(Call) == _count(Message) == 0


def test_silence_is_asked_again_with_the_keypad_then_put_through(caller):
    james = caller()
    james.dial_in()
    again = james.stay_silent()
    assert again.gather is not None
    assert "did not hear" in again.said.lower() and "keypad" in again.said.lower() and "press 0" in again.said.lower()
    assert "how can i help" in again.said.lower()  # the question is repeated
    assert again.next_turn_url.endswith("?turn=2")

    transfer = james.stay_silent()
    assert transfer.dialed == FRONT_DESK
    assert [verb.tag for verb in transfer.root] == ["Say", "Dial"]  # told before being put through
    assert "connect you" in transfer.said.lower()
    assert _handoff_reasons() == ["voice_not_understood"]
    assert _call(james.call_sid).outcome == "transferred"


def test_low_confidence_speech_is_a_miss_too(caller):
    james = caller()
    james.dial_in()
    again = james.say("I want to confirm my appointment", confidence=0.31)
    assert "did not catch" in again.said.lower() and again.gather is not None
    assert james.stay_silent().dialed == FRONT_DESK  # the second miss in a row
    with session_scope() as session:
        heard = session.scalars(select(Message).filter_by(direction="inbound")).one()
        assert heard.body == "I want to confirm my appointment" and heard.channel == "voice"
        turn = session.scalars(select(CallTurn).filter_by(turn=1)).one()
        assert (turn.input, turn.confidence, turn.message_id) == ("unclear", 0.31, heard.id)


def test_keypad_0_is_a_person_at_once(caller):
    james = caller()
    james.dial_in()
    answer = james.press("0")
    assert answer.dialed == FRONT_DESK and "connect you" in answer.said.lower()
    assert _handoff_reasons() == ["patient_request"]


@pytest.mark.parametrize(
    "speech, number, reason",
    [
        ("I have crushing chest pain right now", "9 1 1", "emergency_medical"),
        ("I just want to end my life", "9 8 8", "emergency_mental_health"),
    ],
)
def test_an_emergency_gets_hang_up_and_dial_at_once_with_rasa_stopped(caller, speech, number, reason):
    james = caller()
    james.dial_in()
    answer = james.say(speech)
    assert "hang up" in answer.said.lower() and number in answer.said
    assert [verb.tag for verb in answer.root] == ["Say", "Dial"] and answer.dialed == FRONT_DESK
    with session_scope() as session:
        handoff = session.scalars(select(Handoff)).one()
        assert (handoff.reason, handoff.priority) == (reason, "urgent")
    assert _call(james.call_sid).outcome == "emergency"
    james.dial_ends("completed")
    assert _call(james.call_sid).outcome == "emergency"  # the transfer does not hide it


def test_when_rasa_is_down_the_caller_is_put_through(caller):
    james = caller()
    james.dial_in()
    answer = james.say("When is my appointment?")
    assert answer.dialed == FRONT_DESK and "sorry" in answer.said.lower()
    assert _handoff_reasons() == ["rasa_unavailable"]


@pytest.fixture
def hung_rasa(rasa_stopped, monkeypatch):
    """A Rasa that accepts the connection and never answers (stuck, overloaded): a listening socket
    nobody reads from. The kernel completes the TCP handshake, the request goes out, no reply comes."""
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    monkeypatch.setenv("RASA_URL", f"http://127.0.0.1:{hung.getsockname()[1]}")
    monkeypatch.setenv("VOICE_RASA_TIMEOUT_SECONDS", "0.5")
    get_settings.cache_clear()
    yield
    hung.close()
    get_settings.cache_clear()


def test_a_hung_rasa_gets_a_call_back_promise_well_inside_twilios_limit(caller, hung_rasa):
    james = caller()
    james.dial_in()
    started = time.monotonic()
    answer = james.say("When is my appointment?")
    # Twilio gives up on a webhook after 15 s; with a 0.5 s voice timeout the answer comes long before.
    assert time.monotonic() - started < 5
    assert answer.says == [RASA_SLOW.replace("911", "9 1 1")] and "call you back" in answer.said
    assert [verb.tag for verb in answer.root] == ["Say", "Hangup"] and answer.dialed is None
    assert _handoff_reasons() == ["voice_rasa_timeout"]  # not "rasa_unavailable": Rasa took the call
    assert _call(james.call_sid).outcome == "callback"
    with session_scope() as session:
        heard = session.scalars(select(Message).filter_by(direction="inbound")).one()
        assert heard.body == "When is my appointment?"  # the caller's words are kept for the call back


def test_a_retried_silent_turn_replays_the_same_twiml_and_counts_once(caller):
    james = caller()
    james.dial_in()
    first = james.stay_silent()
    retried = james.retry_last_turn()
    assert retried.xml == first.xml
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(CallTurn).filter_by(turn=1)) == 1
    # The retry was not a second miss: the next silence is.
    assert james.stay_silent().dialed == FRONT_DESK


def test_a_retried_call_start_replays_the_greeting(caller):
    james = caller()
    first = james.dial_in()
    assert james.dial_in().xml == first.xml
    assert _count(Call) == 1 and _count(Message) == 1


def test_an_unanswered_transfer_promises_a_call_back_and_keeps_the_handoff(caller, api_client):
    james = caller()
    james.dial_in()
    james.press("0")
    answer = james.dial_ends("no-answer")
    assert "call you back" in answer.said and answer.hangs_up
    assert [verb.tag for verb in answer.root] == ["Say", "Hangup"]
    with session_scope() as session:
        handoff = session.scalars(select(Handoff)).one()
        assert handoff.status == "open"
    assert _call(james.call_sid).outcome == "transfer_unanswered"
    # Twilio repeating the callback hears the same answer; it is stored once.
    dial_url = james.answers[-2].root.find("Dial").attrib["action"]
    again = signed_post(api_client, dial_url, call_params(james.call_sid, JAMES, DialCallStatus="no-answer"))
    assert again.text == answer.xml
    with session_scope() as session:
        told = session.scalars(select(Message).filter(Message.body.contains("call you back"))).all()
        assert len(told) == 1


def test_an_answered_transfer_just_ends(caller):
    james = caller()
    james.dial_in()
    james.press("0")
    answer = james.dial_ends("completed")
    assert [verb.tag for verb in answer.root] == ["Hangup"]
    assert _call(james.call_sid).outcome == "transferred"


def test_the_call_is_logged_with_duration_and_outcome_and_only_moves_forward(caller, api_client, caplog):
    james = caller()
    james.dial_in()
    james.press("0")
    with caplog.at_level("INFO", logger="relay.records.calls"):
        assert james.hang_up(duration=42) == 204
    call = _call(james.call_sid)
    assert (call.status, call.duration_seconds, call.outcome) == ("completed", 42, "transferred")
    assert call.ended_at is not None
    assert any("duration=42s outcome=transferred" in r.getMessage() for r in caplog.records)
    assert JAMES not in caplog.text and "0145" not in caplog.text  # no phone number in the log

    late = call_params(james.call_sid, JAMES, CallStatus="in-progress")
    assert signed_post(api_client, get_settings().base_url + VOICE_PATH + "/status", late).status_code == 204
    assert _call(james.call_sid).status == "completed"


def test_a_call_without_a_decision_ends_as_hung_up_by_the_caller(caller):
    james = caller()
    james.dial_in()
    assert james.hang_up(duration=7) == 204
    assert _call(james.call_sid).outcome == "caller_hung_up"


def test_a_withheld_number_reaches_a_person_and_nothing_is_looked_up(caller):
    anonymous = caller("anonymous")
    answer = anonymous.dial_in()
    assert answer.dialed == FRONT_DESK and "withheld" in answer.said
    assert _count(Conversation) == 0 and _call(anonymous.call_sid).conversation_id is None
    no_answer = anonymous.dial_ends("busy")
    assert "call again" in no_answer.said and no_answer.hangs_up
    assert _count(Handoff) == 0


def test_while_staff_hold_the_conversation_a_call_goes_straight_to_them(caller, api_client):
    post_sms(api_client, from_phone=JAMES, body="can someone call me", sid="SMvoice1")  # Rasa down: a handoff
    with session_scope() as session:
        assert session.scalars(select(Handoff)).one().status == "open"
    answer = caller().dial_in()
    assert answer.dialed == FRONT_DESK and answer.gather is None


def test_texts_and_calls_share_one_conversation(caller, api_client):
    post_sms(api_client, from_phone=JAMES, body="hi", sid="SMvoice2")
    with session_scope() as session:
        conversation = session.scalars(select(Conversation)).one()
        for handoff in session.scalars(select(Handoff)):
            handoff.status = "resolved"  # Rasa is down in this test; hand the conversation back
        conversation.needs_staff = False
    james = caller()
    james.dial_in()
    james.stay_silent()
    with session_scope() as session:
        assert session.scalars(select(Conversation)).one().phone == JAMES
        channels = [m.channel for m in session.scalars(select(Message).order_by(Message.id))]
        assert channels[:2] == ["sms", "sms"] and set(channels[2:]) == {"voice"}


def test_the_checker_refuses_what_twilio_does_not_document():
    for bad in (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Record/></Response>',
        '<?xml version="1.0" encoding="UTF-8"?><Response><Gather><Dial>+13125550111</Dial></Gather></Response>',
        '<?xml version="1.0" encoding="UTF-8"?><Response><Say voice="alice" speed="2">Hi</Say></Response>',
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Response><Dial record="record-from-answer">+13125550111</Dial></Response>',
        '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/><Say>Bye</Say></Response>',
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Response><Gather input="speech keypad"><Say>Hi</Say></Gather></Response>',
        '<?xml version="1.0" encoding="UTF-8"?><Response><Say></Say></Response>',
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Hi</Message></Response>',
    ):
        with pytest.raises(AssertionError):
            check_twiml(bad)
