"""The conversation tables' own check can fail: a reply is held to every expectation of its turn."""

from tests.bot.conversations import misses, say, turn


def test_a_reply_meeting_every_expectation_misses_nothing():
    step = turn("hola", "fecha de nacimiento", lacks=("date of birth",), any_of=("privacidad", "seguridad"))
    assert misses(step, "Para proteger su privacidad, responda con su fecha de nacimiento.") == []


def test_each_broken_expectation_is_named():
    step = turn("hola", "fecha de nacimiento", lacks=("date of birth",), any_of=("privacidad",))
    assert misses(step, "Please reply with your date of birth.") == [
        "missing 'fecha de nacimiento'",
        "should not say 'date of birth'",
        "none of ('privacidad',)",
    ]
    call = say("Cuándo es mi cita?", twiml_has=('language="es-US"',))
    assert misses(call, "¿fecha?", '<Say language="en-US">') == ["no 'language=\"es-US\"' in the TwiML"]
