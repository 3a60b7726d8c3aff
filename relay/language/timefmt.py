"""Dates and times as patients read them, in their language, always in a named time zone.

English: 'Thu, Dec 3 at 10:00 AM'. Spanish, as SPANISH.md writes dates for a
text: 'jueves 3 de diciembre a las 10:00 a. m.' (weekday and month in lower
case, no leading zero on the day, 'a. m.' / 'p. m.', and only letters GSM-7
has: "sabado", not "sábado"; the é of "miércoles" is GSM-7). No article: the
sentence around it chooses "el" or "del" ("su cita es el {when}").
"""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from relay.language.languages import Language
from relay.language.spanish import MONTHS, WEEKDAYS, sms_spelling

_WEEKDAYS_ES = tuple(sms_spelling(day) for day in WEEKDAYS)
_MONTHS_ES = MONTHS


def local(dt: datetime, tz: str) -> datetime:
    if dt.tzinfo is None:
        raise ValueError("naive datetime: the domain only deals in aware times")
    return dt.astimezone(ZoneInfo(tz))


def format_when(dt: datetime, tz: str, language: str = Language.EN) -> str:
    """'Thu, Dec 3 at 10:00 AM' in the given zone (GSM-7, no leading zero on the hour).

    Spanish: 'jueves 3 de diciembre a las 10:00 a. m.', 'a la 1:05 p. m.'.
    """
    moment = local(dt, tz)
    if language == Language.ES:
        return f"{format_day(moment.date(), language)} a {clock_with_article(moment.time())}"
    hour = moment.hour % 12 or 12
    return f"{moment:%a, %b} {moment.day} at {hour}:{moment:%M %p}"


def format_day(day: date, language: str = Language.EN) -> str:
    """'Mon, Nov 23'; in Spanish 'lunes 23 de noviembre'."""
    if language == Language.ES:
        return f"{_WEEKDAYS_ES[day.weekday()]} {day.day} de {_MONTHS_ES[day.month - 1]}"
    return f"{day:%a, %b} {day.day}"


def format_clock(moment: time, language: str = Language.EN) -> str:
    """'3:00 PM', '10:30 AM': a wall-clock time as patients read it (GSM-7); Spanish '3:00 p. m.'."""
    hour = moment.hour % 12 or 12
    if language == Language.ES:
        return f"{hour}:{moment.minute:02d} {'a. m.' if moment.hour < 12 else 'p. m.'}"
    return f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def clock_with_article(moment: time) -> str:
    """Spanish hours take an article, singular for one o'clock: 'las 3:00 p. m.', 'la 1:30 p. m.'."""
    return f"{'la' if moment.hour % 12 == 1 else 'las'} {format_clock(moment, Language.ES)}"


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
