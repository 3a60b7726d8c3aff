"""Spanish end to end, by text: a patient whose record says Spanish, or who writes in Spanish, has the
whole conversation in Spanish; "English please" / "en español" switch it and store it. Real webhook,
real model, real action server.

Maria Gonzalez's record says Spanish (endocrinology with Dr. Priya Raman, scheduled; DOB 12 April
1968, which she may well write 12/04/1968 or 04/12/1968).
"""

import pytest
from sqlalchemy import select

from relay.core.db import session_scope
from relay.language.spanish import sms_spelling
from relay.language.timefmt import format_when
from relay.models import Faq
from tests.bot.conversations import (
    appointment_is,
    handoff_reasons_are,
    misses,
    patient_language_is,
    replies,
    talk,
    turn,
)
from tests.bot.test_referral_status_conversation import JAMES, MARIA
from tests.support import demo_moment

pytestmark = pytest.mark.rasa

FECHA = "fecha de nacimiento"
RAMAN = "Dr. Priya Raman"
STOPPED_ES = "no cambié nada"
ENGLISH_WORDS = ("your appointment", "please", "date of birth", "thank you")
PARKING_ES = "Estacionamiento gratis en el garaje de Riverside Ave"


def _maria_when() -> str:
    """Her appointment as a Spanish text writes it: 'miercoles 2 de diciembre a las 9:00 a. m.'."""
    return sms_spelling(format_when(demo_moment(2, "09:00"), "America/Chicago", language="es"))


CONVERSATIONS = [
    talk(
        "Maria asks when her appointment is, in Spanish, and is answered in Spanish",
        MARIA,
        turn("hola, cuándo es mi cita?", FECHA, lacks=ENGLISH_WORDS),
        turn("12/04/1968", RAMAN, "Riverside Endocrine Clinic", lacks=ENGLISH_WORDS),
    ),
    talk(
        "her record says Spanish: even an unclear first text is answered in Spanish",
        MARIA,
        turn("cita?", FECHA),
        turn("04/12/1968", RAMAN),  # the other reading of the same date (docs/spanish.md)
    ),
    talk(
        "Maria writes her date of birth in words",
        MARIA,
        turn("necesito saber de mi referido", FECHA),
        turn("12 de abril de 1968", RAMAN),
    ),
    talk(
        "Maria cancels in Spanish, with a plain si",
        MARIA,
        turn("necesito cancelar mi cita", FECHA),
        turn("12/04/1968", "¿Quiere cancelar", "Responda SI"),
        turn("si", "cancelada"),
        then=(appointment_is("AP-3011", "cancelled"),),
    ),
    talk(
        "Maria changes her appointment: the soonest times, then a Spanish time of day",
        MARIA,
        turn("quiero cambiar mi cita", FECHA),
        turn("12/04/1968", "1)", RAMAN, lacks=ENGLISH_WORDS),
        turn("el jueves en la mañana", "jueves", lacks=("could not",)),
    ),
    talk(
        "never mind, in Spanish, in the middle of a change",
        MARIA,
        turn("quiero cambiar mi cita", FECHA),
        turn("12/04/1968", "1)"),
        turn("olvidalo", STOPPED_ES),
        then=(appointment_is("AP-3011", "scheduled"),),
    ),
    talk(
        "a question in the middle of a change is answered in Spanish from the FAQ table, then asked again",
        MARIA,
        turn("quiero cambiar mi cita", FECHA),
        turn("12/04/1968", "1)"),
        turn("donde me puedo estacionar?", PARKING_ES, any_of=("Responda", "digame")),
    ),
    talk(
        "a question the clinic has not answered in Spanish: the English answer, said to be English",
        MARIA,
        turn("a que hora abren ustedes?", "(en inglés)", "Monday to Friday"),
    ),
    talk(
        "yes I'll be there and where do I park, in Spanish",
        MARIA,
        turn("si ahi estare, donde me estaciono?", PARKING_ES, FECHA),
        turn("12/04/1968", "confirmada"),
        then=(appointment_is("AP-3011", "confirmed"),),
    ),
    talk(
        "a medical question in Spanish is passed to the care team",
        MARIA,
        turn("debo dejar de tomar mi medicina antes de la cita?", "No puedo responder preguntas médicas"),
        turn("si", "equipo médico"),
        then=(handoff_reasons_are(MARIA, "clinical_question"),),
    ),
    talk(
        "a person, asked for in Spanish",
        MARIA,
        turn("quiero hablar con una persona", "alguien de nuestro equipo"),
        then=(handoff_reasons_are(MARIA, "patient_request"),),
    ),
    talk(
        "Maria asks for English: the record follows, the bot switches",
        MARIA,
        turn("English please", "English", lacks=("español",)),
        turn("when is my appointment", "date of birth"),
        then=(patient_language_is(MARIA, "en", changed=True),),
    ),
    talk(
        "James asks for Spanish: the record follows, the bot switches",
        JAMES,
        turn("en español por favor", "español"),
        turn("cuando es mi cita", FECHA),
        turn("9/3/1957", "Dr. Amara Okafor", "Lakeside Heart Center", lacks=ENGLISH_WORDS),
        then=(patient_language_is(JAMES, "es", changed=True),),
    ),
    talk(
        "James writes in Spanish: answered in Spanish for the session, his record unchanged",
        JAMES,
        turn("hola, cuando es mi cita?", FECHA, lacks=ENGLISH_WORDS),
        turn("9/3/1957", "Dr. Amara Okafor", lacks=ENGLISH_WORDS),
        turn("gracias", "De nada"),
        then=(patient_language_is(JAMES, "en", changed=False),),
    ),
    talk(
        "a switch to English in the middle of the date-of-birth question asks it again in English",
        MARIA,
        turn("cuando es mi cita", FECHA),
        turn("can we do this in english?", "English", "date of birth"),
        turn("4/12/1968", RAMAN),
    ),
]


@pytest.fixture
def spanish_faq_answers(fresh_demo):
    """An admin has written the Spanish parking answer (the demo clinic ships English only), with its
    accents: a text drops the ones GSM-7 lacks (every reply is checked to be GSM-7)."""
    with session_scope() as session:
        parking = session.scalars(select(Faq).filter_by(key="parking")).one()
        parking.answer_es = PARKING_ES + "; traiga su boleto a la recepción para la validación."


@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=str)
def test_conversation(conversation, texter, spanish_faq_answers):
    for step, reply in replies(conversation, texter):
        assert not misses(step, reply), f"{conversation}: {step.says!r} got {reply!r}: {misses(step, reply)}"
    for check in conversation.then:
        check()


def test_the_date_is_written_the_spanish_way(texter):
    maria = texter(MARIA)
    maria.send("cuando es mi cita")
    assert _maria_when() in maria.send("12/04/1968")
