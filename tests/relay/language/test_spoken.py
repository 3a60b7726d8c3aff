"""Dates, times, choices and numbers as a phone call says them."""

from datetime import UTC, date, datetime, time

import pytest

from relay.language.spoken import (
    format_clock_spoken,
    format_day_spoken,
    format_when_spoken,
    keypad_text,
    respell_times,
    speakable,
    spoken_choice,
    spoken_options,
    spoken_phone,
)


@pytest.mark.parametrize(
    "utc, spoken",
    [
        (datetime(2026, 12, 3, 16, 0, tzinfo=UTC), "Thursday, December third at ten A M"),
        (datetime(2026, 12, 3, 19, 30, tzinfo=UTC), "Thursday, December third at one thirty P M"),
        (datetime(2026, 12, 23, 15, 5, tzinfo=UTC), "Wednesday, December twenty-third at nine oh five A M"),
        (datetime(2026, 12, 31, 18, 0, tzinfo=UTC), "Thursday, December thirty-first at twelve P M"),
        (datetime(2026, 11, 1, 5, 45, tzinfo=UTC), "Sunday, November first at twelve forty-five A M"),  # 00:45 CDT
    ],
)
def test_when_is_said_as_people_say_it(utc, spoken):
    assert format_when_spoken(utc, "America/Chicago") == spoken


def test_days_and_clock_times():
    assert format_day_spoken(date(2026, 11, 23)) == "Monday, November twenty-third"
    assert format_day_spoken(date(2026, 11, 11)) == "Wednesday, November eleventh"
    assert format_clock_spoken(time(8, 50)) == "eight fifty A M"
    assert format_clock_spoken(time(15, 0)) == "three P M"


def test_written_times_in_a_sentence_are_respelled():
    assert respell_times("Nothing is open Fri, Dec 4 after 3:00 PM.") == (
        "Nothing is open Friday, December fourth after three P M."
    )
    assert respell_times("between 9:00 AM and 11:30 AM") == "between nine A M and eleven thirty A M"


def test_phone_numbers_are_said_digit_by_digit():
    assert spoken_phone("+13125550100") == "3 1 2, 5 5 5, 0 1 0 0"
    assert spoken_phone("(312) 555-0176") == "3 1 2, 5 5 5, 0 1 7 6"


def test_speakable_leaves_nothing_a_caller_cannot_act_on():
    faq = "Many visits can be done by video. Reply VIDEO and we will check for your visit."
    assert speakable(faq) == "Many visits can be done by video."
    assert speakable("Telehealth is available; reply to ask for a video visit.") == "Telehealth is available."
    assert speakable("Our fax number is (312) 555-0119.") == "Our fax number is 3 1 2, 5 5 5, 0 1 1 9."
    assert speakable("Call 911 for emergencies, or 988.") == "Call 9 1 1 for emergencies, or 9 8 8."
    assert speakable("See https://reviews.example.org/x today.") == "See our website today."
    assert speakable("Your visit is Thu, Dec 3 at 10:00 AM.") == "Your visit is Thursday, December third at ten A M."
    # What is already spoken stays as it is.
    assert speakable("please call 3 1 2, 5 5 5, 0 1 0 0") == "please call 3 1 2, 5 5 5, 0 1 0 0"


@pytest.mark.parametrize(
    "said, choice",
    [("Two.", "2"), ("2", "2"), ("number one", "1"), ("One.", "1"), ("the second one", "2"), ("Option 3.", "3"),
     ("I'll take the first one.", "1"), ("Friday morning.", None), ("one thirty", None),
     ("I want to talk to a person", None), ("Yes.", None), ("12", None)],
)  # fmt: skip
def test_a_choice_said_in_words(said, choice):
    assert spoken_choice(said) == choice


def test_keypad_digits():
    assert keypad_text("09031957") == "09/03/1957"
    assert keypad_text("2") == "2"
    assert keypad_text("13451957") == "13451957"  # no month 13: left as pressed


def test_options_to_press_or_say():
    assert spoken_options(["Friday"]) == "press or say 1 for Friday"
    assert spoken_options(["A", "B", "C"]) == "press or say 1 for A, 2 for B, or 3 for C"


# --- Spanish -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "utc, spoken",
    [
        # SPANISH.md's own example: 9:00 on Monday 30 November in Chicago.
        (datetime(2026, 11, 30, 15, 0, tzinfo=UTC), "el lunes treinta de noviembre a las nueve de la mañana"),
        (datetime(2026, 12, 1, 19, 30, tzinfo=UTC), "el martes primero de diciembre a la una y media de la tarde"),
        (datetime(2026, 12, 2, 18, 0, tzinfo=UTC), "el miércoles dos de diciembre a las doce del mediodía"),
        (datetime(2026, 12, 5, 16, 15, tzinfo=UTC), "el sábado cinco de diciembre a las diez y cuarto de la mañana"),
        (datetime(2026, 12, 23, 15, 10, tzinfo=UTC),
         "el miércoles veintitrés de diciembre a las nueve y diez de la mañana"),
        (datetime(2026, 12, 31, 1, 45, tzinfo=UTC),
         "el miércoles treinta de diciembre a las siete y cuarenta y cinco de la noche"),
        (datetime(2026, 12, 16, 22, 0, tzinfo=UTC), "el miércoles dieciséis de diciembre a las cuatro de la tarde"),
    ],
)  # fmt: skip
def test_when_is_said_the_spanish_way(utc, spoken):
    assert format_when_spoken(utc, "America/Chicago", "es") == spoken


def test_spanish_days_with_or_without_the_article():
    assert format_day_spoken(date(2026, 11, 23), "es") == "el lunes veintitrés de noviembre"
    assert format_day_spoken(date(2026, 11, 23), "es", article=False) == "lunes veintitrés de noviembre"
    assert format_when_spoken(datetime(2026, 11, 30, 15, 0, tzinfo=UTC), "America/Chicago", "es", article=False) == (
        "lunes treinta de noviembre a las nueve de la mañana"
    )
    assert format_clock_spoken(time(13, 5), "es") == "una y cinco de la tarde"
    assert format_clock_spoken(time(8, 30), "es") == "ocho y media de la mañana"


def test_spanish_written_times_are_respelled_in_place():
    # A text's sentence becomes the spoken one: its own article stays, the accents come back.
    assert respell_times("Su cita es el lunes 30 de noviembre a las 9:00 a. m. Gracias.", "es") == (
        "Su cita es el lunes treinta de noviembre a las nueve de la mañana. Gracias."
    )
    assert respell_times("el sabado 5 de diciembre después de las 3:00 p. m.", "es") == (
        "el sábado cinco de diciembre después de las tres de la tarde"
    )
    assert respell_times("la proxima semana entre las 2:00 p. m. y las 4:00 p. m.", "es") == (
        "la próxima semana entre las dos de la tarde y las cuatro de la tarde"
    )
    assert respell_times("cualquier dia a la 1:00 p.m.", "es") == "cualquier día a la una de la tarde"


def test_speakable_in_spanish():
    text = "Su cita es el lunes 30 de noviembre a las 9:00 a. m. Responda C para confirmar. Llame al (312) 555-0100."
    assert speakable(text, "es") == (
        "Su cita es el lunes treinta de noviembre a las nueve de la mañana. Llame al 3 1 2, 5 5 5, 0 1 0 0."
    )
    assert speakable("Vea https://x.example.org hoy.", "es") == "Vea nuestro sitio web hoy."


@pytest.mark.parametrize(
    "said, choice",
    [("dos", "2"), ("La segunda, por favor.", "2"), ("opción 3", "3"), ("el número uno", "1"), ("Uno.", "1"),
     ("la primera", "1"), ("a la una", None), ("el viernes en la tarde", None), ("quiero hablar con alguien", None)],
)  # fmt: skip
def test_a_choice_said_in_spanish(said, choice):
    assert spoken_choice(said, "es") == choice


def test_options_to_press_or_say_in_spanish():
    assert spoken_options(["el viernes"], "es") == "marque o diga 1 para el viernes"
    assert spoken_options(["A", "B", "C"], "es") == "marque o diga 1 para A, 2 para B o 3 para C"
