"""The emergency matcher, table-driven: what must trigger, and what must not derail a conversation."""

import pytest

from relay.inbound import safety

MEDICAL = [
    "I have crushing chest pain",
    "chest pain and my arm is numb",
    "CHEST PAIN",
    "my chest hurts really bad",
    "pain in my chest when I breathe",
    "there is pressure in my chest",
    "I think I'm having a heart attack",
    "I can't breathe",
    "I can\u2019t breathe",  # curly apostrophe, as phones type it
    "cant breath",
    "i cannot breathe right now",
    "having trouble breathing",
    "he is not breathing",
    "I'm short of breath",
    "my throat is closing",
    "her face is drooping",
    "face drooping and slurred speech",
    "my dad's speech is slurred",
    "I think my mom is having a stroke",
    "numbness on one side of my body",
    "worst headache of my life",
    "severe bleeding from my leg",
    "it won't stop bleeding",
    "bleeding heavily after surgery",
    "coughing up blood",
    "I passed out at work",
    "my wife fainted",
    "he collapsed and is unresponsive",
    "my husband won't wake up",
    "she is having a seizure",
    "I overdosed",
    "i think i over dosed on my meds",
    "took too many pills",
    "my appointment is about chest pain follow up",  # deliberate: chest pain always gets the 911 advice
    "no fever, but chest pain since this morning",
    "I don't know why but my chest hurts",
    "I'm not sure, I passed out",
    "chest pain has gone on for days",
    "my chest pain hasn't gone away",
]

MENTAL_HEALTH = [
    "I want to kill myself",
    "thinking about suicide",
    "I've been having suicidal thoughts",
    "i want to die",
    "I wish I was dead",
    "everyone would be better off if I was dead",
    "I'm going to end my life",
    "I want to end it all",
    "I don't want to live anymore",
    "i dont want to be alive",
    "I've been thinking about hurting myself",
    "I keep cutting myself",
    "self harm",
    "there's no reason to live",
    "I can't do this anymore",
]

NOT_EMERGENCIES = [
    "no chest pain anymore",
    "I don't have chest pain",
    "I dont have any chest pain",
    "not having chest pain today",
    "never had chest pain",
    "my chest pain is gone",
    "chest pain went away",
    "I'm not having trouble breathing",
    "I can breathe fine",
    "no bleeding",
    "I never passed out",
    "the pain is killing me to wait",
    "this wait is killing me",
    "I'm dying to know when my appointment is",
    "I'm dying of boredom on hold",
    "just trying to kill time before my appointment",
    "I would kill for an earlier slot",
    "my mom passed away last year",
    "lots of blood work before the visit",
    "is my blood pressure ok",
    "I hurt myself at the gym, need the ortho referral",
    "I can't go on Tuesday",
    "I cant wake up that early",
    "I took all my meds this morning",
    "that's odd",
    "my dad had a stroke in 2019",
    "follow up after my heart attack last year",
    "can I cancel my appointment",
    "when is my appointment?",
    "9/3/1957",
    "yes",
    "I'm not suicidal, just frustrated",
    "I don't want to die, what does the cardiologist do",
    "",
]


@pytest.mark.parametrize("text", MEDICAL)
def test_medical_emergencies_are_caught(text):
    assert safety.match(text) == "medical"


@pytest.mark.parametrize("text", MENTAL_HEALTH)
def test_mental_health_crises_are_caught(text):
    assert safety.match(text) == "mental_health"


@pytest.mark.parametrize("text", NOT_EMERGENCIES)
def test_ordinary_messages_are_left_to_the_bot(text):
    assert safety.match(text) is None


def test_medical_comes_first_when_both_appear():
    assert safety.match("I took too many pills, I want to die") == "medical"


@pytest.mark.parametrize("category", ["medical", "mental_health"])
def test_replies_are_gsm_and_at_most_two_segments(category):
    reply = safety.REPLIES[category]
    assert reply.isascii() and len(reply) <= 306
    assert "alerted" in reply


def test_the_replies_name_the_right_numbers():
    assert "911" in safety.MEDICAL_REPLY
    assert "988" in safety.MENTAL_HEALTH_REPLY and "911" in safety.MENTAL_HEALTH_REPLY


# --- Spanish, as patients text it: with or without accents -----------------------------------

MEDICAL_ES = [
    "me duele el pecho",
    "tengo dolor de pecho y me falta el aire",
    "Dolor en el pecho",
    "no puedo respirar",
    "mi mama tiene la cara caida, creo que es un derrame cerebral",
    "creo que es un ataque al corazón",
    "se desmayó en la cocina",
    "perdió el conocimiento",
    "no para de sangrar",
    "me tomé todas las pastillas",
    "está vomitando sangre",
]
MENTAL_HEALTH_ES = [
    "quiero matarme",
    "ya no quiero vivir",
    "pienso en quitarme la vida",
    "me quiero morir",
    "estarían mejor sin mí",
]
NOT_EMERGENCIES_ES = [
    "cuando es mi cita",
    "ya no me duele el pecho",  # resolved
    "no tengo dolor de pecho",
    "el doctor no responde mis mensajes",
    "el tráfico me va a matar de aburrimiento",
    "quiero cambiar mi cita para el martes",
    "no puedo ir el lunes",
]


@pytest.mark.parametrize("text", MEDICAL_ES)
def test_spanish_medical_emergencies_are_caught(text):
    assert safety.match(text) == "medical"


@pytest.mark.parametrize("text", MENTAL_HEALTH_ES)
def test_spanish_mental_health_crises_are_caught(text):
    assert safety.match(text) == "mental_health"


@pytest.mark.parametrize("text", NOT_EMERGENCIES_ES)
def test_ordinary_spanish_messages_are_left_to_the_bot(text):
    assert safety.match(text) is None


@pytest.mark.parametrize("category", ["medical", "mental_health"])
def test_the_spanish_replies_are_gsm_two_segments_and_name_the_numbers(category):
    from relay.language.gsm import is_gsm7, segments

    text = safety.reply(category, "es")
    assert is_gsm7(text) and segments(text) <= 2
    assert "911" in text and ("988" in text) == (category == "mental_health")
    assert safety.reply(category, "en") == safety.REPLIES[category]
