from datetime import date

import pytest

from relay.identity.dob import parse_dob

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
