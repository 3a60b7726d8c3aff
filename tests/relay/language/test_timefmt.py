"""Dates and times as patients read them, in English and in Spanish (SPANISH.md's way, in GSM-7)."""

from datetime import UTC, date, datetime

from relay.language.languages import Language
from relay.language.timefmt import format_day, format_when


def test_spanish_dates_and_times():
    assert format_day(date(2026, 11, 28), Language.ES) == "sabado 28 de noviembre"
    assert format_day(date(2026, 12, 2), Language.ES) == "miércoles 2 de diciembre"
    assert format_when(datetime(2026, 12, 2, 19, 5, tzinfo=UTC), "America/Chicago", Language.ES) == (
        "miércoles 2 de diciembre a la 1:05 p.m."
    )
    assert format_when(datetime(2026, 12, 2, 16, 0, tzinfo=UTC), "America/Chicago", Language.ES).endswith(
        "a las 10:00 a.m."
    )
    assert format_when(datetime(2026, 12, 2, 16, 0, tzinfo=UTC), "America/Chicago") == "Wed, Dec 2 at 10:00 AM"
