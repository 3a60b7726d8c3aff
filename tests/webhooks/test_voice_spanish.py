"""Calls in Spanish through the signed voice webhooks, with a fake of Rasa's `voice` channel.

The call's language is the patient's on record: Maria Gonzalez (demo, language "es") is greeted
in Spanish, with es-US on the `<Gather>` and on every `<Say>`; an English caller hears the offer
of Spanish in a Spanish voice and can take it with keypad 2 right after the greeting. The fake
Rasa stands in for the bot's change_language path (it stores the language on the record, as the
action does) so the webhook's side of the switch is checked without the model.
"""

import pytest
from sqlalchemy import select

from relay.core.db import session_scope
from relay.messaging.handoffs import open_handoff
from relay.models import Call, CallTurn, Conversation, Message, Patient
from relay.records import conversations
from tests.fake_rasa import FakeRasa
from tests.webhooks.voice_helpers import Caller, Twiml

JAMES = "+13125550145"  # demo patient, language en
MARIA = "+13125550154"  # demo patient Maria Gonzalez, language es
STRANGER = "+13125550999"  # no record
FRONT_DESK = "+13125550111"

SPANISH_OFFER = "Para español, oprima 2 o diga español."
ENGLISH_OFFER = "For English, press 1 or say English."
BOT_SWITCHED_ES = "Muy bien, desde ahora le hablaré en español. ¿En qué le puedo ayudar?"
BOT_SWITCHED_EN = "OK, I will speak English from now on. How can I help you?"
BOT_ASKS_DOB = {
    "es": "Para proteger su información, ¿me puede decir su fecha de nacimiento, por favor?",
    "en": "To protect your information, can you tell me your date of birth, please?",
}


def _set_record_language(sender: str, language: str) -> None:
    """What action_change_language does to the record during a Rasa turn."""
    with session_scope() as session:
        conversation = session.scalars(select(Conversation).filter_by(public_id=sender)).one()
        if conversation.patient is not None:
            conversation.patient.language = language


def as_the_bot_would(body: dict) -> list[dict]:
    """Rasa's `voice` channel as far as the call needs it: a request for a language answered as the bot's
    change_language path answers it (storing it on the record), anything else with a question in the
    language the metadata names. Tests queue other answers in `replies`."""
    if body["message"] == "español":
        _set_record_language(body["sender"], "es")
        return [{"recipient_id": body["sender"], "text": BOT_SWITCHED_ES}]
    if body["message"] == "English":
        _set_record_language(body["sender"], "en")
        return [{"recipient_id": body["sender"], "text": BOT_SWITCHED_EN}]
    language = (body.get("metadata") or {}).get("language", "en")
    return [{"recipient_id": body["sender"], "text": BOT_ASKS_DOB[language]}]


@pytest.fixture
def voice_rasa(fake_rasa: FakeRasa) -> FakeRasa:
    fake_rasa.answer = as_the_bot_would
    return fake_rasa


@pytest.fixture
def caller(api_client, fresh_demo, voice_rasa):
    def make(phone: str | None = MARIA) -> Caller:
        return Caller(api_client, phone)

    return make


def _languages(answer: Twiml) -> list[str]:
    """The language of every <Say>, in order."""
    return [say.attrib.get("language", "") for say in answer.root.iter("Say")]


def _record_language(phone: str) -> str:
    with session_scope() as session:
        return session.scalars(select(Patient).filter_by(phone=phone)).one().language


def _hints(answer: Twiml) -> set[str]:
    assert answer.gather is not None
    return {hint.strip() for hint in answer.gather.attrib["hints"].split(",")}


# --- the greeting --------------------------------------------------------------------


def test_an_english_caller_hears_the_offer_of_spanish_in_a_spanish_voice(caller):
    answer = caller(JAMES).dial_in()
    assert answer.gather is not None and answer.gather.attrib["language"] == "en-US"
    assert answer.says[1] == SPANISH_OFFER
    assert answer.says[0].startswith("Thank you for calling Riverside Family Health")
    assert _languages(answer) == ["en-US", "es-US", "en-US"]  # the offer alone in es-US
    assert "español" in _hints(answer)  # the en-US recogniser told to expect the word


def test_maria_is_greeted_in_spanish_with_es_us_on_gather_and_say(caller):
    answer = caller(MARIA).dial_in()
    assert answer.gather is not None and answer.gather.attrib["language"] == "es-US"
    assert answer.says[0].startswith("Gracias por llamar a Riverside Family Health.")
    assert "cuelgue y marque 9 1 1" in answer.says[0] and "oprima 0" in answer.says[0]
    assert answer.says[1] == ENGLISH_OFFER
    assert answer.says[2].endswith("¿En qué le puedo ayudar hoy?")
    assert _languages(answer) == ["es-US", "en-US", "es-US"]
    assert {"sí", "confirmar", "cambiar", "cancelar", "cita", "referencia", "fecha de nacimiento"} <= _hints(answer)
    assert {"hablar con una persona", "mañana", "tarde", "lunes", "viernes", "la próxima semana"} <= _hints(answer)
    assert "English" in _hints(answer)
    with session_scope() as session:
        greeting = session.scalars(select(Message)).one()
        # Staff read the call as it was held: in Spanish, with the offer as it was said.
        assert greeting.body.startswith("Gracias por llamar") and ENGLISH_OFFER in greeting.body


def test_a_caller_without_a_record_is_greeted_in_english(caller):
    answer = caller(STRANGER).dial_in()
    assert answer.gather is not None and answer.gather.attrib["language"] == "en-US"
    assert _languages(answer) == ["en-US", "es-US", "en-US"]


def test_a_withheld_number_is_put_through_in_english(caller):
    answer = caller("anonymous").dial_in()
    assert answer.dialed == FRONT_DESK and "withheld" in answer.said
    assert set(_languages(answer)) == {"en-US"}


def test_while_staff_hold_the_conversation_maria_is_told_in_spanish(caller, voice_rasa):
    with session_scope() as session:
        open_handoff(session, conversation=conversations.find_or_open(session, phone=MARIA), reason="patient_request")
    answer = caller(MARIA).dial_in()
    assert answer.dialed == FRONT_DESK and "Alguien de nuestro equipo" in answer.said
    assert set(_languages(answer)) == {"es-US"}


# --- taking the offer ----------------------------------------------------------------


def test_keypad_2_after_the_greeting_asks_the_bot_for_spanish_and_the_answer_is_spanish(caller, voice_rasa):
    james = caller(JAMES)
    james.dial_in()
    answer = james.press("2")
    assert voice_rasa.messages == ["español"]
    # The record's language when the turn began, and the language asked for.
    assert voice_rasa.metadata == [{"language": "en", "written_in": None, "asked_for": "es"}]
    assert voice_rasa.received[0]["path"] == "/webhooks/voice/webhook"
    # The bot stored Spanish during the turn: its answer is already said and listened for in Spanish.
    assert _record_language(JAMES) == "es"
    assert answer.says == [BOT_SWITCHED_ES]
    assert answer.gather is not None and answer.gather.attrib["language"] == "es-US"
    assert _languages(answer) == ["es-US"]
    # What the caller did is kept as it was: the key, not the word the bot was sent.
    with session_scope() as session:
        pressed = session.scalars(select(Message).filter_by(direction="inbound")).one()
        assert pressed.body == "2"

    james.say("quiero confirmar mi cita")
    assert voice_rasa.metadata[-1] == {"language": "es", "written_in": "es", "asked_for": None}


def test_keypad_1_after_a_spanish_greeting_asks_the_bot_for_english(caller, voice_rasa):
    maria = caller(MARIA)
    maria.dial_in()
    answer = maria.press("1")
    assert voice_rasa.messages == ["English"]
    assert voice_rasa.metadata == [{"language": "es", "written_in": None, "asked_for": "en"}]
    assert _record_language(MARIA) == "en"
    assert answer.says == [BOT_SWITCHED_EN] and _languages(answer) == ["en-US"]
    assert answer.gather is not None and answer.gather.attrib["language"] == "en-US"


def test_the_other_key_is_just_a_key(caller, voice_rasa):
    """Keypad 1 on an English call (and 2 on a Spanish one) is no language request."""
    james, maria = caller(JAMES), caller(MARIA)
    james.dial_in()
    james.press("1")
    maria.dial_in()
    maria.press("2")
    assert voice_rasa.messages == ["1", "2"]
    assert _record_language(JAMES) == "en" and _record_language(MARIA) == "es"


def test_keypad_0_after_the_greeting_is_still_a_person_in_the_callers_language(caller, voice_rasa):
    maria = caller(MARIA)
    maria.dial_in()
    answer = maria.press("0")
    assert answer.dialed == FRONT_DESK and voice_rasa.received == []
    assert answer.says == ["Por favor, espere mientras le comunico con nuestro equipo."]
    assert _languages(answer) == ["es-US"]


def test_keys_after_the_first_turn_are_answers_not_language_requests(caller, voice_rasa):
    james = caller(JAMES)
    james.dial_in()
    james.say("I want to confirm my appointment")
    james.press("2")
    james.press("09031957")  # a date of birth on the keypad
    assert voice_rasa.messages == ["I want to confirm my appointment", "2", "09/03/1957"]
    assert [metadata["language"] for metadata in voice_rasa.metadata] == ["en"] * 3
    assert [metadata["asked_for"] for metadata in voice_rasa.metadata] == [None] * 3
    assert _record_language(JAMES) == "en"


def test_saying_espanol_reaches_the_bot_as_said(caller, voice_rasa):
    james = caller(JAMES)
    james.dial_in()
    answer = james.say("español")
    assert voice_rasa.messages == ["español"] and _languages(answer) == ["es-US"]


# --- a Spanish call ------------------------------------------------------------------


def test_the_metadata_carries_the_record_language(caller, voice_rasa):
    maria = caller(MARIA)
    maria.dial_in()
    answer = maria.say("quiero confirmar mi cita")
    assert voice_rasa.messages == ["quiero confirmar mi cita"]
    assert voice_rasa.metadata == [{"language": "es", "written_in": "es", "asked_for": None}]
    assert answer.says == [BOT_ASKS_DOB["es"]] and _languages(answer) == ["es-US"]


def test_a_spanish_call_asks_again_in_spanish_then_puts_through_in_spanish(caller, voice_rasa):
    maria = caller(MARIA)
    maria.dial_in()
    again = maria.stay_silent()
    assert again.says == [
        "Disculpe, no escuché nada. ¿En qué le puedo ayudar hoy?",
        "También puede usar el teclado de su teléfono, u oprimir 0 para hablar con una persona.",
    ]  # the question again, not the offer of English
    assert _languages(again) == ["es-US", "es-US"] and again.gather.attrib["language"] == "es-US"

    transfer = maria.stay_silent()
    assert transfer.dialed == FRONT_DESK
    assert transfer.says == [
        "Disculpe, todavía no le entiendo. Por favor, espere mientras le comunico con nuestro equipo."
    ]
    assert _languages(transfer) == ["es-US"] and voice_rasa.received == []


def test_a_spanish_reprompt_repeats_the_bots_question(caller, voice_rasa):
    maria = caller(MARIA)
    maria.dial_in()
    maria.say("quiero confirmar mi cita")
    again = maria.say("mmm", confidence=0.2)
    assert again.says[0] == f"Disculpe, no le entendí. {BOT_ASKS_DOB['es']}"
    assert _languages(again) == ["es-US", "es-US"]


def test_a_spanish_reprompt_after_an_answer_without_a_question_asks_for_more(caller, voice_rasa):
    maria = caller(MARIA)
    maria.dial_in()
    voice_rasa.replies.append(lambda body: [{"text": "Su cita quedó confirmada para el lunes a las nueve."}])
    maria.say("confirmar")
    again = maria.stay_silent()
    assert again.says[0] == (
        "Disculpe, no escuché nada. ¿Hay algo más en lo que le pueda ayudar? Si ya terminó, puede colgar."
    )


def test_a_spanish_question_with_oprima_is_repeated_without_a_second_keypad_hint(caller, voice_rasa):
    maria = caller(MARIA)
    maria.dial_in()
    voice_rasa.replies.append(
        lambda body: [{"text": "Tengo dos horarios. Marque o diga 1 para el lunes, o 2 para el martes."}]
    )
    maria.say("quiero cambiar mi cita")
    again = maria.stay_silent()
    assert again.says[0] == "Disculpe, no escuché nada. Marque o diga 1 para el lunes, o 2 para el martes."
    assert len(again.says) == 2  # the keypad hint: the question names keys but not the keypad


def test_a_spanish_emergency_is_answered_in_spanish_with_988(caller, voice_rasa):
    maria = caller(MARIA)
    maria.dial_in()
    answer = maria.say("quiero suicidarme")
    assert answer.dialed == FRONT_DESK and voice_rasa.received == []
    said = answer.said
    assert "9 8 8, la Línea de Prevención del Suicidio y Crisis" in said and "marque 9 1 1" in said
    assert "oprima 2 para español" in said
    assert _languages(answer) == ["es-US"]


def test_a_transfer_the_bot_asks_for_is_held_in_spanish(caller, voice_rasa):
    maria = caller(MARIA)
    maria.dial_in()
    voice_rasa.replies.append(
        lambda body: [{"text": "Claro, le comunico con alguien de recepción."}, {"custom": {"call": "transfer"}}]
    )
    answer = maria.say("quiero hablar con una persona")
    assert answer.dialed == FRONT_DESK
    assert answer.says == ["Claro, le comunico con alguien de recepción.", "Un momento, por favor."]
    assert _languages(answer) == ["es-US", "es-US"]


def test_an_unanswered_transfer_promises_a_call_back_in_spanish(caller):
    maria = caller(MARIA)
    maria.dial_in()
    maria.press("0")
    answer = maria.dial_ends("no-answer")
    assert answer.hangs_up and "Le devolveremos la llamada" in answer.said
    assert _languages(answer) == ["es-US"]


def test_when_rasa_is_down_a_spanish_caller_is_told_in_spanish(api_client, fresh_demo, rasa_stopped):
    maria = Caller(api_client, MARIA)
    maria.dial_in()
    answer = maria.say("cuándo es mi cita")
    assert answer.dialed == FRONT_DESK
    assert answer.says[0].startswith("Disculpe, en este momento no puedo consultar eso.")
    assert _languages(answer) == ["es-US"]


def test_the_bots_spanish_is_said_in_spanish_even_when_the_record_says_english(caller, voice_rasa):
    """The bot's language slot follows a caller who speaks Spanish without asking to switch; the record
    does not change, but Spanish words still get a Spanish voice."""
    james = caller(JAMES)
    james.dial_in()
    voice_rasa.replies.append(lambda body: [{"text": BOT_ASKS_DOB["es"]}])
    answer = james.say("hola, cuándo es mi cita con el doctor")
    assert voice_rasa.metadata == [{"language": "en", "written_in": "es", "asked_for": None}]
    assert _record_language(JAMES) == "en"
    assert _languages(answer) == ["es-US"] and answer.gather.attrib["language"] == "es-US"


# --- replays -------------------------------------------------------------------------


def test_a_retried_spanish_turn_replays_in_spanish(caller, voice_rasa):
    maria = caller(MARIA)
    first = maria.dial_in()
    assert maria.dial_in().xml == first.xml  # the greeting, replayed
    answer = maria.say("quiero confirmar mi cita")
    retried = maria.retry_last_turn(SpeechResult="quiero confirmar mi cita", Confidence="0.92")
    assert retried.xml == answer.xml and _languages(retried) == ["es-US"]
    assert len(voice_rasa.received) == 1  # answered once


def test_a_retried_language_switch_replays_the_spanish_answer(caller, voice_rasa):
    james = caller(JAMES)
    james.dial_in()
    answer = james.press("2")
    assert james.retry_last_turn(Digits="2").xml == answer.xml
    assert voice_rasa.messages == ["español"]


def test_a_turn_stored_before_calls_had_a_language_replays_in_english(caller, voice_rasa):
    maria = caller(MARIA)
    maria.dial_in()
    with session_scope() as session:
        call = session.scalars(select(Call).filter_by(call_sid=maria.call_sid)).one()
        greeting = session.scalars(select(CallTurn).filter_by(call_id=call.id, turn=0)).one()
        greeting.reply = {
            "says": ["Thank you for calling.", "How can I help you today?"],
            "then": "gather",
            "dial": None,
        }
    replayed = maria.dial_in()
    assert replayed.says == ["Thank you for calling.", "How can I help you today?"]
    assert _languages(replayed) == ["en-US", "en-US"] and replayed.gather.attrib["language"] == "en-US"
