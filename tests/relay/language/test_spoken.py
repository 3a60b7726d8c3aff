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
