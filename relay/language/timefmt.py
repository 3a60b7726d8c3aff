"""Dates and times as patients read them, always in a named time zone."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo


def local(dt: datetime, tz: str) -> datetime:
    if dt.tzinfo is None:
        raise ValueError("naive datetime: the domain only deals in aware times")
    return dt.astimezone(ZoneInfo(tz))


def format_when(dt: datetime, tz: str) -> str:
    """'Thu, Dec 3 at 10:00 AM' in the given zone (GSM-7, no leading zero on the hour)."""
    moment = local(dt, tz)
    hour = moment.strftime("%I").lstrip("0")
    return f"{moment:%a, %b} {moment.day} at {hour}:{moment:%M %p}"


def format_day(day: date) -> str:
    """'Mon, Nov 23'."""
    return f"{day:%a, %b} {day.day}"


def require_aware(value: datetime, what: str = "datetime") -> datetime:
    """Refuse naive datetimes at the domain's edges: whose '10:00' would it be?"""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"naive {what}: the domain only deals in aware times")
    return value


def format_clock(moment: time) -> str:
    """'3:00 PM', '10:30 AM': a wall-clock time as patients read it (GSM-7)."""
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


# Weekday words as patients and staff write them (0 = Monday).
WEEKDAY_WORDS = {
    "mon": 0, "monday": 0,
    "tue": 1, "tues": 1, "tuesday": 1,
    "wed": 2, "weds": 2, "wednesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3,
    "fri": 4, "friday": 4,
    "sat": 5, "saturday": 5,
    "sun": 6, "sunday": 6,
}  # fmt: skip
