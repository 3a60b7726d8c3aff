from datetime import date

import pytest

from relay.identity.dob import dob_as_text, dob_candidates, parse_dob

TODAY = date(2026, 11, 26)


@pytest.mark.parametrize(
    "text",
    [
        "9/3/1957",
        "09-03-57",
        "09.03.1957",
        "Sept 3 1957",
        "sep 3, 1957",
        "September 3rd, 1957",
        "3 September 1957",
        "1957-09-03",
        "09031957",
        "my dob is 9/3/1957",
        "born sept 3 57 thx",
    ],
)
def test_the_ways_patients_write_a_birth_date(text):
    assert parse_dob(text, TODAY) == date(1957, 9, 3)


def test_two_digit_years_never_land_in_the_future():
    assert parse_dob("12/1/95", TODAY) == date(1995, 12, 1)
    assert parse_dob("1/2/05", TODAY) == date(2005, 1, 2)
    assert parse_dob("1/2/30", TODAY) == date(1930, 1, 2)


@pytest.mark.parametrize("text", ["hello", "13/45/1990", "2/30/1990", "tomorrow", "12/1/2030", "555-0145"])
def test_no_plausible_birth_date_gives_none(text):
    assert parse_dob(text, TODAY) is None


@pytest.mark.parametrize(
    "said, born",
    [
        ("March ninth nineteen seventy two", date(1972, 3, 9)),
        ("march 9 1972", date(1972, 3, 9)),
        ("March 9th, 1972.", date(1972, 3, 9)),
        ("march nine nineteen seventy-two", date(1972, 3, 9)),
        ("the ninth of March nineteen seventy two", date(1972, 3, 9)),
        ("zero three zero nine nineteen seventy two", date(1972, 3, 9)),
        ("oh three oh nine one nine seven two", date(1972, 3, 9)),
        ("three nine nineteen seventy two", date(1972, 3, 9)),
        ("It's September third, nineteen fifty-seven.", date(1957, 9, 3)),
        ("October twenty seventh two thousand one", date(2001, 10, 27)),
        ("october twenty-seventh, two thousand and one", date(2001, 10, 27)),
        ("January twenty second nineteen eighty three", date(1983, 1, 22)),
        ("December first nineteen ninety five", date(1995, 12, 1)),
        ("may fifth twenty oh five", date(2005, 5, 5)),
        ("my birthday is June fifth 1964", date(1964, 6, 5)),
        ("7 19 1988", date(1988, 7, 19)),
    ],
)
def test_a_birth_date_said_on_a_call(said, born):
    assert parse_dob(said, TODAY) == born


@pytest.mark.parametrize(
    "said", ["I want to confirm my appointment", "two", "March ninth", "nineteen seventy two", "twenty twenty"]
)
def test_speech_without_a_whole_birth_date_gives_none(said):
    assert parse_dob(said, TODAY) is None


# --- Spanish -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "4 de diciembre de 1968",
        "4 de Diciembre, 1968",
        "4 dic 1968",
        "4 dic. 68",
        "nací el 4 de diciembre del 68",
        "diciembre 4 de 1968",
        "4 December 1968",
        "1968-12-04",
    ],
)
def test_the_ways_spanish_speakers_write_a_birth_date(text):
    assert dob_candidates(text, TODAY, language="es") == (date(1968, 12, 4),)


@pytest.mark.parametrize(
    "text, born",
    [
        ("25/12/1968", date(1968, 12, 25)),
        ("12/25/1968", date(1968, 12, 25)),
        ("25-12-68", date(1968, 12, 25)),
        ("1968-12-25", date(1968, 12, 25)),
        ("25121968", date(1968, 12, 25)),  # keypad, day first
        ("1ro de mayo de 1970", date(1970, 5, 1)),
        ("1º de mayo del 70", date(1970, 5, 1)),
        ("12 abril 1968", date(1968, 4, 12)),
        ("mi fecha de nacimiento es el 12 de abril de 1968", date(1968, 4, 12)),
        ("3 de setiembre de 1957", date(1957, 9, 3)),
        ("5/5/1970", date(1970, 5, 5)),  # both orders are the same day: one candidate
    ],
)
def test_a_date_with_one_reading_has_one_candidate(text, born):
    assert dob_candidates(text, TODAY, language="es") == (born,)


@pytest.mark.parametrize("text", ["04/12/1968", "4/12/1968", "4-12-68", "04.12.1968", "04121968", "4 12 1968"])
def test_an_ambiguous_numeric_date_has_both_readings_day_first(text):
    assert dob_candidates(text, TODAY, language="es") == (date(1968, 12, 4), date(1968, 4, 12))
    assert parse_dob(text, TODAY, language="es") == date(1968, 12, 4)


def test_english_keeps_one_reading_month_first():
    assert dob_candidates("4/12/1968", TODAY) == (date(1968, 4, 12),)
    assert parse_dob("4/12/1968", TODAY) == date(1968, 4, 12)
    assert dob_candidates("hello", TODAY) == ()


def test_both_readings_come_from_one_written_date():
    # Two dates in one message never widen the guess beyond the first date's two readings.
    assert dob_candidates("4/12/1968 o 3/11/1970", TODAY, language="es") == (date(1968, 12, 4), date(1968, 4, 12))


def test_a_reading_in_the_future_is_dropped():
    # 11 December 2026 is still ahead (TODAY is 26 November): only 12 November is left.
    assert dob_candidates("11/12/2026", TODAY, language="es") == (date(2026, 11, 12),)


@pytest.mark.parametrize(
    "said, born",
    [
        ("cuatro de diciembre de mil novecientos sesenta y ocho", date(1968, 12, 4)),
        ("el doce de abril de mil novecientos sesenta y ocho", date(1968, 4, 12)),
        ("doce de abril del sesenta y ocho", date(1968, 4, 12)),
        ("primero de enero de dos mil uno", date(2001, 1, 1)),
        ("treinta y uno de diciembre de mil novecientos noventa y nueve", date(1999, 12, 31)),
        ("veintiuno de junio de mil novecientos ochenta", date(1980, 6, 21)),
        ("dieciséis de septiembre de mil novecientos noventa", date(1990, 9, 16)),
        ("diecinueve de marzo de diecinueve setenta y dos", date(1972, 3, 19)),  # the year said the English way
        ("Nací el 4 de diciembre de 1968.", date(1968, 12, 4)),  # the recogniser wrote digits
    ],
)
def test_a_birth_date_said_in_spanish_on_a_call(said, born):
    assert dob_candidates(said, TODAY, language="es") == (born,)


def test_digits_said_one_at_a_time_in_spanish():
    assert dob_candidates("cero cuatro uno dos mil novecientos sesenta y ocho", TODAY, language="es") == (
        date(1968, 12, 4),
        date(1968, 4, 12),
    )


@pytest.mark.parametrize(
    "text",
    ["hola", "el 30 de febrero de 1968", "31/12/2030", "quiero confirmar mi cita", "cuatro de diciembre", "mil"],
)
def test_no_plausible_spanish_birth_date_gives_nothing(text):
    assert dob_candidates(text, TODAY, language="es") == ()
    assert parse_dob(text, TODAY, language="es") is None


@pytest.mark.parametrize(
    "said",
    ["cuatro de diciembre de mil novecientos sesenta y ocho", "04/12/1968", "12/4/1968", "25/12/1968", "12/25/1968"],
)
def test_the_candidates_written_out_read_back_the_same(said):
    # What relay.inbound.voice_turns should hand the bot: neither widened (a month said in words
    # stays one reading) nor narrowed (an ambiguous date keeps both).
    found = dob_candidates(said, TODAY, language="es")
    assert dob_candidates(dob_as_text(found), TODAY, language="es") == found
    assert dob_as_text((date(1968, 12, 4),)) == "4 de diciembre de 1968"
    assert parse_dob("4 de diciembre de 1968", TODAY) == date(1968, 12, 4)  # English reads it too
