"""Dates and times as patients read them, in English and in Spanish (SPANISH.md's way, in GSM-7)."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from relay.language.gsm import is_gsm7
from relay.language.languages import Language
from relay.language.timefmt import clock_with_article, format_clock, format_day, format_when


def test_spanish_dates_and_times():
    assert format_day(date(2026, 11, 28), Language.ES) == "sabado 28 de noviembre"
    assert format_day(date(2026, 12, 2), Language.ES) == "miércoles 2 de diciembre"
    assert format_when(datetime(2026, 12, 2, 19, 5, tzinfo=UTC), "America/Chicago", Language.ES) == (
        "miércoles 2 de diciembre a la 1:05 p. m."
    )
    assert format_when(datetime(2026, 12, 2, 16, 0, tzinfo=UTC), "America/Chicago", Language.ES).endswith(
        "a las 10:00 a. m."
    )
    assert format_when(datetime(2026, 12, 2, 16, 0, tzinfo=UTC), "America/Chicago") == "Wed, Dec 2 at 10:00 AM"


def test_spanish_as_spanish_md_writes_it():
    # "lunes 30 de noviembre a las 9:00 a. m.": lower case, no leading zero, "a. m." / "p. m.".
    assert format_when(datetime(2026, 11, 30, 15, 0, tzinfo=UTC), "America/Chicago", "es") == (
        "lunes 30 de noviembre a las 9:00 a. m."
    )
    assert format_day(date(2026, 12, 1), "es") == "martes 1 de diciembre"


def test_spanish_clock_times():
    assert format_clock(time(15, 0), "es") == "3:00 p. m."
    assert format_clock(time(9, 5), "es") == "9:05 a. m."
    assert format_clock(time(12, 0), "es") == "12:00 p. m."
    assert format_clock(time(15, 0)) == "3:00 PM"
    assert clock_with_article(time(13, 30)) == "la 1:30 p. m."
    assert clock_with_article(time(1, 0)) == "la 1:00 a. m."
    assert clock_with_article(time(11, 0)) == "las 11:00 a. m."


@pytest.mark.parametrize("day", [date(2026, 11, 30) + timedelta(days=n) for n in range(7)])
def test_every_spanish_weekday_is_gsm7(day):
    when = format_when(datetime.combine(day, time(16, 0), tzinfo=UTC), "America/Chicago", "es")
    assert is_gsm7(when), when
    assert not set("áíóú") & set(when)
