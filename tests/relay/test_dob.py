from datetime import date

import pytest

from relay.dob import parse_dob

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
