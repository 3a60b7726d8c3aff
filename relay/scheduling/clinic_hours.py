"""When a person answers: the clinic's opening hours, parsed from how staff write them.

`Clinic.hours` is a display string ("Mon-Fri 8:00 AM - 5:00 PM"); it stays the
one source, so this reads it instead of keeping a second copy in columns.
Accepted: day ranges and lists ("Mon-Fri", "Mon, Wed & Fri", "Saturday"),
12- or 24-hour times ("8:00 AM", "8am", "17:00"), several blocks separated by
";" or "," ("Mon-Fri 8:00 AM - 5:00 PM; Sat 9 AM - 12 PM"), and "closed" blocks.
Anything else is refused with ValueError rather than guessed.
"""

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from relay.language.timefmt import WEEKDAY_WORDS
from relay.models import Clinic

_DAY_NAMES = WEEKDAY_WORDS
_DAY = r"(?:" + "|".join(sorted(_DAY_NAMES, key=len, reverse=True)) + r")\.?"
_DASH = r"\s*(?:-|\u2013|\u2014|to)\s*"
_DAY_RANGE = rf"{_DAY}(?:{_DASH}{_DAY})?"
_DAYS = rf"{_DAY_RANGE}(?:\s*(?:,|&|and)\s*{_DAY_RANGE})*"
_TIME = r"\d{1,2}(?::\d{2})?\s*(?:[ap]\.?m\.?)?|noon|midnight"
_BLOCK = re.compile(
    rf"(?P<days>{_DAYS})\s*:?\s*(?:(?P<start>{_TIME}){_DASH}(?P<end>{_TIME})|(?P<closed>closed))",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"[\s;,]*")


@dataclass(frozen=True)
class OpeningBlock:
    """Open on `weekday` (0 = Monday) from `start`; an `end` not after `start` runs past midnight."""

    weekday: int
    start: time
    end: time


def parse_hours(text: str) -> list[OpeningBlock]:
    blocks: list[OpeningBlock] = []
    position = 0
    while position < len(text):
        separators = _SEPARATOR.match(text, position)  # matches an empty run too
        position = separators.end() if separators else position
        if position >= len(text):
            break
        found = _BLOCK.match(text, position)
        if found is None:
            raise ValueError(f"cannot read clinic hours {text!r} at {text[position:]!r}")
        position = found.end()
        if found["closed"]:
            continue
        start, end = _clock(found["start"]), _clock(found["end"])
        blocks.extend(OpeningBlock(day, start, end) for day in _weekdays(found["days"]))
    if not blocks:
        raise ValueError(f"clinic hours {text!r} name no opening times")
    return blocks


def is_open(clinic: Clinic, now: datetime) -> bool:
    """Is the clinic's team at work at `now` (in the clinic's time zone)?"""
    local = now.astimezone(ZoneInfo(clinic.timezone))
    clock = local.time().replace(tzinfo=None)
    yesterday = (local - timedelta(days=1)).weekday()
    for block in parse_hours(clinic.hours):
        if block.end > block.start:
            if block.weekday == local.weekday() and block.start <= clock < block.end:
                return True
        elif (block.weekday == local.weekday() and clock >= block.start) or (
            block.weekday == yesterday and clock < block.end
        ):
            return True
    return False


def display(clinic: Clinic) -> str:
    """The hours as a patient reads them in a text (GSM-7 dashes)."""
    return clinic.hours.replace("\u2013", "-").replace("\u2014", "-")


def _weekdays(days: str) -> list[int]:
    result: list[int] = []
    for part in re.split(r"\s*(?:,|&|\band\b)\s*", days.strip(), flags=re.IGNORECASE):
        ends = [_day(d) for d in re.split(_DASH, part, flags=re.IGNORECASE) if d]
        first, last = ends[0], ends[-1]
        span = (last - first) % 7
        result.extend((first + offset) % 7 for offset in range(span + 1))
    return result


def _day(name: str) -> int:
    return _DAY_NAMES[name.strip().rstrip(".").lower()]


def _clock(text: str) -> time:
    text = text.strip().lower().replace(".", "")
    if text == "noon":
        return time(12, 0)
    if text == "midnight":
        return time(0, 0)
    found = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?\s*([ap]m)?", text)
    if found is None:
        raise ValueError(f"not a time of day: {text!r}")
    hours, minutes, meridiem = int(found[1]), int(found[2] or 0), found[3]
    if meridiem:
        if not 1 <= hours <= 12:
            raise ValueError(f"not a time of day: {text!r}")
        hours = hours % 12 + (12 if meridiem == "pm" else 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"not a time of day: {text!r}")
    return time(hours, minutes)
