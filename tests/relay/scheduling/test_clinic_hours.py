from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from relay.models import Clinic
from relay.scheduling.clinic_hours import OpeningBlock, display, is_open, parse_hours

CHICAGO = ZoneInfo("America/Chicago")


def _clinic(hours: str = "Mon-Fri 8:00 AM - 5:00 PM", tz: str = "America/Chicago") -> Clinic:
    return Clinic(name="Riverside Family Health", timezone=tz, hours=hours)


def test_the_demo_clinic_format():
    assert parse_hours("Mon-Fri 8:00 AM - 5:00 PM") == [OpeningBlock(d, time(8), time(17)) for d in range(5)]


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        ("Mon-Fri 8:00 AM - 5:00 PM; Sat 9 AM - 12 PM; Sun closed", {0, 1, 2, 3, 4, 5}),
        ("Mon, Wed & Fri 9am-1pm", {0, 2, 4}),
        ("Monday to Thursday 08:00-17:30, Friday 8:00-12:00", {0, 1, 2, 3, 4}),
        ("Tue\u2013Sat 10:00 AM \u2013 6:00 PM", {1, 2, 3, 4, 5}),
        ("Fri-Mon 9 AM - noon", {4, 5, 6, 0}),
    ],
)
def test_other_ways_staff_write_hours(hours, expected):
    assert {block.weekday for block in parse_hours(hours)} == expected


@pytest.mark.parametrize(
    "hours", ["", "whenever", "Mon-Fri", "Mon 13pm-2pm", "Mon-Fri 8:00 AM - 5:00 PM and by appointment"]
)
def test_unreadable_hours_are_refused_not_guessed(hours):
    with pytest.raises(ValueError):
        parse_hours(hours)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2026, 11, 25, 7, 59), False),  # Wednesday, before opening
        (datetime(2026, 11, 25, 8, 0), True),
        (datetime(2026, 11, 25, 12, 30), True),
        (datetime(2026, 11, 25, 16, 59), True),
        (datetime(2026, 11, 25, 17, 0), False),  # closing time is closed
        (datetime(2026, 11, 28, 10, 0), False),  # Saturday
        (datetime(2026, 11, 29, 10, 0), False),  # Sunday
        (datetime(2026, 11, 30, 9, 0), True),  # Monday
        (datetime(2026, 7, 1, 8, 30), True),  # daylight saving time
    ],
)
def test_is_open_in_the_clinic_time_zone(local, expected):
    now = local.replace(tzinfo=CHICAGO).astimezone(UTC)  # the caller's clock is UTC
    assert is_open(_clinic(), now) is expected


def test_the_same_instant_differs_by_clinic_time_zone():
    instant = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)  # 9:30 in Chicago, 7:30 in Los Angeles
    assert is_open(_clinic(), instant)
    assert not is_open(_clinic(tz="America/Los_Angeles"), instant)


def test_hours_past_midnight():
    clinic = _clinic("Fri 10 PM - 6 AM")
    assert is_open(clinic, datetime(2026, 11, 27, 23, 0, tzinfo=CHICAGO))  # Friday night
    assert is_open(clinic, datetime(2026, 11, 28, 5, 0, tzinfo=CHICAGO))  # Saturday early morning
    assert not is_open(clinic, datetime(2026, 11, 28, 7, 0, tzinfo=CHICAGO))
    assert not is_open(clinic, datetime(2026, 11, 27, 5, 0, tzinfo=CHICAGO))  # Friday early morning


def test_display_is_gsm():
    assert display(_clinic("Mon\u2013Fri 8:00 AM \u2013 5:00 PM")) == "Mon-Fri 8:00 AM - 5:00 PM"
