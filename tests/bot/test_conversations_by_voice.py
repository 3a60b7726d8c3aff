"""Off the happy path by voice, in English and Spanish: digressions, "never mind", the request named
before the date of birth, choices by name, soonest slots, medical questions, and Spanish calls
(es-US on every <Say> and <Gather>). Real voice webhooks, real model, real action server."""

import pytest

from tests.bot.conversations import (
    answers,
    appointment_is,
    handoff_reasons_are,
    misses,
    patient_language_is,
    press,
    ring,
    say,
    talk,
)
from tests.bot.test_referral_status_conversation import AISHA, JAMES, KEVIN, MARIA
from tests.bot.test_voice_conversation import CheckedCaller

pytestmark = pytest.mark.rasa

SPANISH, ENGLISH = 'language="es-US"', 'language="en-US"'
DOB = "date of birth"
FECHA = "fecha de nacimiento"
PARKING = "garage on Riverside Ave"
BRING = "photo ID, insurance card"

CALLS = [
    talk(
        "parking while choosing a time, then a slot by keypad",
        JAMES,
        ring("How can I help"),
        say("I need to reschedule my appointment.", DOB),
        say("September 3rd, 1957.", "press or say 1"),
        say("Where do I park?", PARKING, "say or press the number"),
        press("1", "Dr. Amara Okafor"),
    ),
    talk(
        "the skin appointment, named before the date of birth, cancelled",
        KEVIN,
        ring(),
        say("I want to cancel my skin appointment.", DOB),
        press("07191988", "cancel your appointment with Dr. Lena Park"),
        say("Yes.", "cancelled"),
        then=(appointment_is("AP-3010", "cancelled"), appointment_is("AP-3009", "scheduled")),
    ),
    talk(
        "the heart doctor, chosen by name",
        KEVIN,
        ring(),
        say("When is my appointment?", DOB),
        press("07191988", "more than one referral"),
        say("The heart doctor.", "Dr. Amara Okafor", lacks=("Dr. Lena Park",)),
    ),
    talk(
        "a medical question, passed to the care team",
        JAMES,
        ring(),
        say("Should I stop my metformin before the visit?", "can't answer medical questions"),
        say("Yes please.", "care team"),
        then=(handoff_reasons_are(JAMES, "clinical_question"),),
    ),
    talk(
        "never mind in the middle of a change",
        JAMES,
        ring(),
        say("I need to reschedule.", DOB),
        press("09031957"),
        say("Never mind.", "changed nothing"),
        then=(appointment_is("AP-3001", "scheduled"),),
    ),
    talk(
        "as soon as possible, and what to bring before choosing",
        AISHA,
        ring(),
        say("Can you book me in as soon as possible?", DOB),
        press("02171991", "soonest", "press or say 1"),
        say("Do I need to bring anything?", BRING),
        press("1", "booked", "Dr. Lena Park"),
    ),
    talk(
        "Maria's record says Spanish: the whole call is in Spanish",
        MARIA,
        ring("Gracias por llamar", twiml_has=(SPANISH,)),
        say("Cuándo es mi cita?", FECHA, twiml_has=(SPANISH,)),
        say("Doce de abril de mil novecientos sesenta y ocho.", "Dr. Priya Raman", twiml_has=(SPANISH,)),
    ),
    talk(
        "James presses 2 for Spanish, and the bot speaks Spanish",
        JAMES,
        ring("para español, oprima 2", twiml_has=(SPANISH,)),
        press("2", "español", twiml_has=(SPANISH,)),
        say("Cuándo es mi cita?", FECHA, twiml_has=(SPANISH,)),
        then=(patient_language_is(JAMES, "es", changed=True),),
    ),
    talk(
        "Maria asks for English on a call",
        MARIA,
        ring(),
        say("English please.", "English", twiml_has=(ENGLISH,)),
        say("When is my appointment?", DOB),
        then=(patient_language_is(MARIA, "en", changed=True),),
    ),
]


@pytest.fixture
def caller(api_client, rasa_stack, fresh_demo):
    def make(phone: str) -> CheckedCaller:
        return CheckedCaller(api_client, phone)

    return make


@pytest.mark.parametrize("conversation", CALLS, ids=str)
def test_call(conversation, caller):
    for step, heard, twiml in answers(conversation, caller):
        assert not misses(step, heard, twiml), (
            f"{conversation}: {step.says!r} got {heard!r}: {misses(step, heard, twiml)}"
        )
    for check in conversation.then:
        check()
