"""Dates and times as patients read them, in their language, always in a named time zone.

English: 'Thu, Dec 3 at 10:00 AM'. Spanish, as SPANISH.md writes dates for a
text: 'jueves 3 de diciembre a las 10:00 a.m.' (weekday and month in lower
case, and only letters GSM-7 has: "sabado", not "sábado").
"""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from relay.language.languages import Language

_WEEKDAYS_ES = ("lunes", "martes", "miércoles", "jueves", "viernes", "sabado", "domingo")
_MONTHS_ES = (
    "enero", "febrero", "marzo", "abril", "mayo", "junio",
    "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre",
)  # fmt: skip


def local(dt: datetime, tz: str) -> datetime:
    if dt.tzinfo is None:
        raise ValueError("naive datetime: the domain only deals in aware times")
    return dt.astimezone(ZoneInfo(tz))


def format_when(dt: datetime, tz: str, language: Language = Language.EN) -> str:
    """'Thu, Dec 3 at 10:00 AM' in the given zone (GSM-7, no leading zero on the hour)."""
    moment = local(dt, tz)
    hour = moment.hour % 12 or 12
    if language == Language.ES:
        meridiem = "a.m." if moment.hour < 12 else "p.m."
        at = "a la" if hour == 1 else "a las"
        return f"{format_day(moment.date(), language)} {at} {hour}:{moment.minute:02d} {meridiem}"
    return f"{moment:%a, %b} {moment.day} at {hour}:{moment:%M %p}"


def format_day(day: date, language: Language = Language.EN) -> str:
    """'Mon, Nov 23'; in Spanish 'lunes 23 de noviembre'."""
    if language == Language.ES:
        return f"{_WEEKDAYS_ES[day.weekday()]} {day.day} de {_MONTHS_ES[day.month - 1]}"
    return f"{day:%a, %b} {day.day}"


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
