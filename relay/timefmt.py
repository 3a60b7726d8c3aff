"""Dates and times as patients read them, always in a named time zone."""

from datetime import date, datetime
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
