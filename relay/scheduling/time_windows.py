"""What a patient asked for ("tuesday after 3"), as a window of time.

Everything is worked out in the clinic's time zone, relative to a given `now`.
dateparser reads calendar dates ("dec 14", "12/14", "in 2 weeks"); the rest is
read here, because dateparser 1.5 gets it wrong in ways that matter for
booking: "the 14th" comes back in the past even with PREFER_DATES_FROM='future',
"tuesday after 3" becomes a date in March, "tmrw", "asap" and "any morning" are
not understood, and words such as "we" or "may" in a sentence are read as
dates. dateparser is given a naive local RELATIVE_BASE and no TIMEZONE (its
future preference compares in UTC when a zone is set, scrapinghub/dateparser
#403); only the calendar date of its answer is used, and local times are built
with zoneinfo, so a window never gains or loses an hour across a DST change.

Interpretation (each rule is tested in tests/relay/test_time_windows.py):

- morning 08:00-12:00, afternoon 12:00-17:00, evening 17:00-20:00; "after 3"
  is 15:00 to the end of the day, "before noon" midnight to 12:00.
- An hour without am/pm is read as clinic patients mean it: 7-11 morning,
  12 noon, 1-6 afternoon; 0 and 13-23 as written.
- A bare weekday ("friday", "this friday") is the next such day. Today counts
  while the requested part of today is still ahead (a day with no time asked
  for is taken to end at 17:00, when the clinic closes), so "friday" said on a
  Friday morning is today and on a Friday evening is a week later.
- "next tuesday" is the first Tuesday after today: the coming one when asked
  on Wednesday through Monday (so on Sunday or Monday too), a week later when
  asked on a Tuesday. The reply reads the date back ("Tue, Dec 1 afternoon"),
  so a patient who meant the week after can say so.
- "the 14th" is the next 14th (today under the rule above), skipping months
  that have no such day; "dec 14" is the next Dec 14. A weekday with a date
  ("monday the 14th") only describes it when it matches; when it does not, both
  days are kept and the label reads them back for the patient to choose.
- A day with no time is the whole day; "next week" is Monday-Sunday of next
  week; "this week" is the rest of this week.
- An exact time ("the 14th at 9am") becomes `preferred`, and the window is that
  whole day, so that slots near 9 can be offered when 9 is taken. Without a
  day ("3pm") it is the next time the clock shows it: today if still ahead,
  else tomorrow.
- A time of day without a day ("in the afternoon", "after 3") means any day in
  the next two weeks (SOON_DAYS).
- "asap", "earliest you have", "first available": now to now + 30 days.
- "monday or thursday": both days and only those (`days`).
- Windows never start before `now`; a window whose time has all passed is left
  empty (start == end) rather than moved, so the caller offers the nearest
  alternatives instead of silently answering a different question.

Spanish (`language="es"`): relay.language.spanish_times rewrites the request in
the English words above ("el martes x la tarde" -> "tuesday afternoon"), so both
languages follow exactly these rules; only the label is said back in Spanish
("el martes 1 de diciembre por la tarde"), GSM-7 as SPANISH.md spells texts.
docs/spanish.md lists the Spanish phrasings and the decisions behind them.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

import dateparser
from dateparser.search import search_dates

from relay.core.clock import require_aware
from relay.language.languages import Language, language_of
from relay.language.spanish_times import as_english
from relay.language.timefmt import WEEKDAY_WORDS, clock_with_article, format_clock, format_day, format_when

MORNING = (time(8, 0), time(12, 0))
AFTERNOON = (time(12, 0), time(17, 0))
EVENING = (time(17, 0), time(20, 0))
# The exclusive end of "the rest of the day": no wall-clock time reaches it.
END_OF_DAY = time.max
# A day asked for without a time is over for booking purposes when the clinic closes.
CLINIC_CLOSES = time(17, 0)
ASAP_DAYS = 30
SOON_DAYS = 14

_WEEKDAY_WORDS = WEEKDAY_WORDS
_PARTS_OF_DAY = {"morning": MORNING, "afternoon": AFTERNOON, "evening": EVENING}


@dataclass(frozen=True)
class TimeWindow:
    start: datetime  # aware, inclusive
    end: datetime  # aware, exclusive
    preferred: datetime | None  # an exact time the patient named, else None
    label: str  # how to say it back (GSM-7)
    asap: bool = False
    part_of_day: tuple[time, time] | None = None  # wall-clock [start, end) on each day
    days: tuple[date, ...] | None = None  # only these local dates, when not one stretch


def parse_time_request(text: str, *, now: datetime, tz: str, language: str = Language.EN) -> TimeWindow | None:
    """The window of time `text` asks for, or None when it asks for no time at all.

    `language` is the patient's ("es", "es-MX" ...): Spanish is read (English words
    in it too) and the label is written in Spanish; any other is English.
    """
    require_aware(now, "now")
    zone = ZoneInfo(tz)
    local_now = now.astimezone(zone)
    say = _SAY_ES if language_of(language) == Language.ES else _SAY_EN
    words = _Words(_normalise(as_english(text) if say is _SAY_ES else text))
    clock = _read_clock(words, say)
    days = _read_days(words, local_now, clock, say)
    if days is None:
        if clock is None:
            return _asap_window(local_now, say) if _ASAP.search(words.original) else None
        days = _soon(local_now, clock, say)
    return _build_window(days, clock, local_now, zone, say)


# --- saying it back ----------------------------------------------------------


class _SayEnglish:
    """The label's words: 'Tue, Dec 1 after 3:00 PM' (GSM-7)."""

    asap = "as soon as possible"

    def between(self, start: time, end: time) -> str:
        return f"between {format_clock(start)} and {format_clock(end)}"

    def after(self, moment: time) -> str:
        return f"after {format_clock(moment)}"

    def before(self, moment: time) -> str:
        return f"before {format_clock(moment)}"

    def at(self, moment: time) -> str:
        return f"at {format_clock(moment)}"

    def part(self, name: str) -> tuple[str, str]:
        """One day's and several days' words for a named part of the day."""
        return name, name + "s"

    def any_part(self, name: str) -> str:
        return f"any {name}"

    def any_day(self, clock_label: str) -> str:
        return f"any day {clock_label}"

    def week(self, which: str, weekend: bool) -> str:
        return f"{'next' if which == 'next' else 'this'} {'weekend' if weekend else 'week'}"

    def days(self, dates: tuple[date, ...]) -> str:
        if len(dates) == 1:
            return format_day(dates[0])
        if len(dates) <= 3:
            return ", ".join(format_day(d) for d in dates[:-1]) + " or " + format_day(dates[-1])
        return f"{format_day(dates[0])} to {format_day(dates[-1])}"

    def when(self, moment: datetime, tz: str) -> str:
        return format_when(moment, tz)


class _SaySpanish(_SayEnglish):
    """'el martes 1 de diciembre después de las 3:00 p. m.': whole phrases with their article, as
    'la proxima semana' and 'cualquier tarde' need one; á í ó ú without the accent (SMS)."""

    asap = "lo antes posible"
    _PARTS: ClassVar[dict[str, tuple[str, str, str]]] = {
        "morning": ("por la mañana", "por las mañanas", "cualquier mañana"),
        "afternoon": ("por la tarde", "por las tardes", "cualquier tarde"),
        "evening": ("por la noche", "por las noches", "cualquier noche"),
    }

    def between(self, start: time, end: time) -> str:
        return f"entre {clock_with_article(start)} y {clock_with_article(end)}"

    def after(self, moment: time) -> str:
        return f"después de {clock_with_article(moment)}"

    def before(self, moment: time) -> str:
        return f"antes de {clock_with_article(moment)}"

    def at(self, moment: time) -> str:
        return f"a {clock_with_article(moment)}"

    def part(self, name: str) -> tuple[str, str]:
        return self._PARTS[name][:2]

    def any_part(self, name: str) -> str:
        return self._PARTS[name][2]

    def any_day(self, clock_label: str) -> str:
        return f"cualquier dia {clock_label}"

    def week(self, which: str, weekend: bool) -> str:
        if weekend:
            return "el proximo fin de semana" if which == "next" else "este fin de semana"
        return "la proxima semana" if which == "next" else "esta semana"

    def days(self, dates: tuple[date, ...]) -> str:
        named = [f"el {format_day(d, Language.ES)}" for d in dates]
        if len(named) == 1:
            return named[0]
        if len(named) <= 3:
            return ", ".join(named[:-1]) + " o " + named[-1]
        return f"del {format_day(dates[0], Language.ES)} al {format_day(dates[-1], Language.ES)}"

    def when(self, moment: datetime, tz: str) -> str:
        return "el " + format_when(moment, tz, Language.ES)


_SAY_EN, _SAY_ES = _SayEnglish(), _SaySpanish()


# --- reading the text --------------------------------------------------------


class _Words:
    """The normalised text; what has been understood is blanked out of `rest`."""

    def __init__(self, text: str) -> None:
        self.original = text
        self.rest = text

    def take(self, pattern: re.Pattern[str]) -> list[re.Match[str]]:
        matches = list(pattern.finditer(self.rest))
        for match in matches:
            start, end = match.span()
            self.rest = self.rest[:start] + " " * (end - start) + self.rest[end:]
        return matches


_SPELLING = [
    (re.compile(r"\b(?:tmrw|tmrow|tmr|tmw|tmorrow|tomorow|tommorow|tommorrow|2morrow|2moro|2mrw)\b"), "tomorrow"),
    (re.compile(r"(?<=\d)\s*a\.m\.?"), "am"),
    (re.compile(r"(?<=\d)\s*p\.m\.?"), "pm"),
    (re.compile(r"\bo\W?clock\b"), ""),
    (re.compile(r"\bnxt\b"), "next"),
    (re.compile(r"\bwk\b"), "week"),
    (re.compile(r"\bmorn\b"), "morning"),
    (re.compile(r"\b(?:aft|arvo)\b"), "afternoon"),
    (re.compile(r"\bin (?:a|an|one) (day|week)\b"), r"in 1 \1"),
    (re.compile(r"\bin two (day|week)s\b"), r"in 2 \1s"),
    (re.compile(r"\bin three (day|week)s\b"), r"in 3 \1s"),
]


def _normalise(text: str) -> str:
    text = text.lower()
    for pattern, replacement in _SPELLING:
        text = pattern.sub(replacement, text)
    text = re.sub(r"[^a-z0-9:/@\- ]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


_ASAP = re.compile(
    r"\b(?:asap|a s a p|soonest|earliest|first available|next available|first opening|next opening"
    r"|as soon as (?:possible|you can)|right away|whenever|any ?time)\b"
)

# --- the time of day ---------------------------------------------------------

# One clock time: "noon", "3", "3pm", "10:30", "9 am"; never the 14 of "14th" or "12/14".
_T = (
    r"(?:\bnoon\b|\bmidday\b|\d{1,2}(?::[0-5]\d)?(?:\s*(?:am|pm)\b)?)"
    r"(?![\d/:]|st\b|nd\b|rd\b|th\b|\s*(?:days?|weeks?|months?|hours?|hrs?|min(?:ute)?s?)\b)"
)
_BETWEEN = re.compile(rf"\b(?:between|from)\s+(?P<a>{_T})\s*(?:and|to|until|till|-)\s*(?P<b>{_T})")
_DASH = re.compile(rf"(?<![\d/:])(?P<a>{_T})\s*(?:-|to)\s*(?P<b>\d{{1,2}}(?::[0-5]\d)?\s*(?:am|pm)\b)")
_AFTER = re.compile(rf"\b(?:after|from|past|later than)\s+(?P<t>{_T})")
_BEFORE = re.compile(rf"\b(?:before|by|until|till|earlier than)\s+(?P<t>{_T})")
_AT = re.compile(rf"(?:\b(?:at|around|about|abt)\b|@)\s*(?P<t>{_T})")
_BARE = re.compile(
    r"(?<![\d/:])(?P<t>\d{1,2}(?::[0-5]\d)?\s*(?:am|pm)\b|\d{1,2}:[0-5]\d|\bnoon\b|\bmidday\b)(?![\d/:])"
)
_PART_WORD = re.compile(r"\b(morning|afternoon|evening)s?\b|\b(tonight)\b")
_CLOCK = re.compile(r"(?:(?P<noon>noon|midday)|(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s*(?P<ap>am|pm)?)")


@dataclass(frozen=True)
class _Clock:
    """What the text said about the time of day."""

    part: tuple[time, time] | None = None
    exact: time | None = None
    label: str = ""  # "morning", "after 3:00 PM", "at 9:00 AM"
    plural: str = ""  # "mornings", for several days
    named_part: bool = False  # morning/afternoon/evening rather than clock bounds
    part_name: str = ""  # which of them, when named_part
    tonight: bool = False


def _read_clock(words: _Words, say: _SayEnglish) -> _Clock | None:
    found: list[_Clock] = []
    for match in words.take(_BETWEEN) + words.take(_DASH):
        if bounds := _clock_range(match["a"], match["b"]):
            label = say.between(*bounds)
            found.append(_Clock(part=bounds, label=label, plural=label))
    for match in words.take(_AFTER):
        if (moment := _clock_time(match["t"])) is not None:
            label = say.after(moment)
            found.append(_Clock(part=(moment, END_OF_DAY), label=label, plural=label))
    for match in words.take(_BEFORE):
        if (moment := _clock_time(match["t"])) is not None:
            label = say.before(moment)
            found.append(_Clock(part=(time.min, moment), label=label, plural=label))
    for match in words.take(_AT) + words.take(_BARE):
        if (moment := _clock_time(match["t"])) is not None:
            found.append(_Clock(exact=moment, label=say.at(moment)))
    for match in words.take(_PART_WORD):
        name = match[1] or "evening"
        label, plural = say.part(name)
        found.append(
            _Clock(
                part=_PARTS_OF_DAY[name],
                label=label,
                plural=plural,
                named_part=True,
                part_name=name,
                tonight=bool(match[2]),
            )
        )
    return _combine_clocks(found) if found else None


def _combine_clocks(found: list[_Clock]) -> _Clock:
    """An exact time wins; several bounds ("morning", "after 10") are intersected."""
    tonight = any(c.tonight for c in found)
    if exact := next((c for c in found if c.exact is not None), None):
        return _Clock(exact=exact.exact, label=exact.label, plural=exact.label, tonight=tonight)
    combined = found[0]
    for other in found[1:]:
        start = max(_span(combined)[0], _span(other)[0])
        end = min(_span(combined)[1], _span(other)[1])
        if start < end:
            combined = _Clock(
                part=(start, end),
                label=f"{combined.label} {other.label}",
                plural=f"{combined.plural} {other.plural}",
            )
    return _Clock(
        part=combined.part,
        label=combined.label,
        plural=combined.plural,
        named_part=combined.named_part,
        part_name=combined.part_name,
        tonight=tonight,
    )


def _span(clock: _Clock) -> tuple[time, time]:
    """The stretch of the day a clock without an exact time stands for (all of it if it names none)."""
    return clock.part or (time.min, END_OF_DAY)


def _clock_time(fragment: str, meridiem: str | None = None) -> time | None:
    match = _CLOCK.fullmatch(fragment.strip())
    if match is None:
        return None
    if match["noon"]:
        return time(12, 0)
    hour, minute = int(match["h"]), int(match["m"] or 0)
    meridiem = match["ap"] or meridiem
    if minute > 59:
        return None
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        return time(hour % 12 + (12 if meridiem == "pm" else 0), minute)
    if hour > 23:
        return None
    return time(_guess_hour(hour), minute)


def _guess_hour(hour: int) -> int:
    """Nobody books a clinic visit at 3 in the night: 1-6 without am/pm are afternoon."""
    return hour + 12 if 1 <= hour <= 6 else hour


def _clock_range(first: str, second: str) -> tuple[time, time] | None:
    end = _clock_time(second)
    if end is None:
        return None
    # "2-4pm": the meridiem written once applies to both, unless that runs backwards ("11-1pm").
    second_match = _CLOCK.fullmatch(second.strip())
    shared = second_match["ap"] if second_match else None
    start = _clock_time(first, shared)
    if start is not None and start >= end:
        start = _clock_time(first)
    if start is None or start >= end:
        return None
    return (start, end)


# --- the days ----------------------------------------------------------------

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_ORD = r"(?:st|nd|rd|th)?"
_MONTH_DATE = re.compile(
    rf"\b{_MONTH}\s+\d{{1,2}}{_ORD}\b(?:\s+\d{{4}}\b)?"
    rf"|\b\d{{1,2}}{_ORD}\s+(?:of\s+)?{_MONTH}\b(?:\s+\d{{4}}\b)?"
    r"|(?<![\d:])\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b"
)
_EXPLICIT_YEAR = re.compile(r"\b\d{4}\b|/\d{2,4}$")
_ORDINAL_DAY = re.compile(r"\b(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)\b")
_DAY_AFTER_TOMORROW = re.compile(r"\bday after tomorrow\b")
_TODAY = re.compile(r"\btoday\b|\bthis\s+(?:morning|afternoon|evening)\b")
_TOMORROW = re.compile(r"\btomorrow\b")
_WEEK = re.compile(r"\b(?:(?P<which>next|this|coming)\s+week(?P<end>end)?|(?:the\s+)?(?P<bare_end>weekend))\b")
_WEEKDAY_NAMES = "|".join(sorted(_WEEKDAY_WORDS, key=len, reverse=True))  # longest first: "thurs" before "thu"
_WEEKDAY = re.compile(rf"\b(?:(?P<which>next|this|coming|on)\s+)?(?P<day>{_WEEKDAY_NAMES})s?\b")
_RELATIVE_UNIT = re.compile(r"\d.*\b(?:day|week|month)s?\b")


@dataclass(frozen=True)
class _Days:
    dates: tuple[date, ...]  # sorted, at least one
    label: str
    is_range: bool = False  # "next week": say "mornings", not "morning"
    soon: bool = False  # no day was named


def _read_days(words: _Words, local_now: datetime, clock: _Clock | None, say: _SayEnglish) -> _Days | None:
    today = local_now.date()
    counts_today = _today_counts(local_now, clock)
    named: list[date] = []
    for _ in words.take(_DAY_AFTER_TOMORROW):
        named.append(today + timedelta(days=2))
    # Read from the original: the clock has already taken "morning" out of "this morning".
    if _TODAY.search(words.original) or (clock is not None and clock.tonight):
        named.append(today)
    for _ in words.take(_TOMORROW):
        named.append(today + timedelta(days=1))
    calendar: list[date] = []
    for match in words.take(_MONTH_DATE):
        if (day := _calendar_date(match[0], local_now, counts_today)) is not None:
            calendar.append(day)
    for match in words.take(_ORDINAL_DAY):
        if (day := _next_day_of_month(int(match[1]), today, counts_today)) is not None:
            calendar.append(day)
    named += calendar
    ranges = [_week_range(m, today, say) for m in words.take(_WEEK)]
    weekdays = [(m["which"], _WEEKDAY_WORDS[m["day"]]) for m in words.take(_WEEKDAY)]
    if calendar and {weekday for _, weekday in weekdays} <= {d.weekday() for d in calendar}:
        # "monday the 14th", "el lunes 14": the weekday describes the date. One that does
        # not match it is kept as a second day, and the label reads both back.
        weekdays = []
    named += _relative_dates(words.rest, local_now)

    if ranges and weekdays:
        # "friday next week": the named weekdays inside the named week.
        wanted = {weekday for _, weekday in weekdays}
        inside = [d for _, dates in ranges for d in dates if d.weekday() in wanted]
        named += inside or [_resolve_weekday(w, d, today, counts_today) for w, d in weekdays]
        ranges = []
    else:
        named += [_resolve_weekday(which, weekday, today, counts_today) for which, weekday in _inherit_next(weekdays)]
    if ranges and not named:
        label, dates = ranges[0]
        return _Days(dates=dates, label=label, is_range=True)
    dates = tuple(sorted(set(named) | {d for _, r in ranges for d in r}))
    if not dates:
        return None
    return _Days(dates=dates, label=say.days(dates))


def _today_counts(local_now: datetime, clock: _Clock | None) -> bool:
    """Whether "friday" said on a Friday still means today (see the module docstring)."""
    if clock is not None and clock.exact is not None:
        return local_now.time() < clock.exact
    if clock is not None and clock.part is not None:
        start, end = clock.part
        return local_now.time() < (max(start, CLINIC_CLOSES) if end == END_OF_DAY else end)
    return local_now.time() < CLINIC_CLOSES


def _inherit_next(weekdays: list[tuple[str | None, int]]) -> list[tuple[str | None, int]]:
    """In "next monday or tuesday" the "next" belongs to both days."""
    if weekdays and weekdays[0][0] == "next":
        return [(which or "next", weekday) for which, weekday in weekdays]
    return weekdays


def _resolve_weekday(which: str | None, weekday: int, today: date, counts_today: bool) -> date:
    ahead = (weekday - today.weekday()) % 7
    if which == "next":
        return today + timedelta(days=ahead or 7)
    if ahead == 0 and not counts_today:
        ahead = 7
    return today + timedelta(days=ahead)


def _week_range(match: re.Match[str], today: date, say: _SayEnglish) -> tuple[str, tuple[date, ...]]:
    monday = today - timedelta(days=today.weekday())
    which = match["which"] or "this"
    if which == "next":
        monday += timedelta(days=7)
    if match["end"] or match["bare_end"]:
        saturday = monday + timedelta(days=5)
        label = say.week(which, weekend=True)
        return label, tuple(d for d in (saturday, saturday + timedelta(days=1)) if d >= today)
    label = say.week(which, weekend=False)
    return label, tuple(d for d in (monday + timedelta(days=n) for n in range(7)) if d >= today)


def _dateparser_settings(local_now: datetime) -> dict:
    return {
        "RELATIVE_BASE": local_now.replace(tzinfo=None),
        "PREFER_DATES_FROM": "future",
        "RETURN_AS_TIMEZONE_AWARE": False,
        "DATE_ORDER": "MDY",
    }


def _calendar_date(fragment: str, local_now: datetime, counts_today: bool) -> date | None:
    parsed = dateparser.parse(fragment, languages=["en"], settings=_dateparser_settings(local_now))
    if parsed is None:
        return None
    if _EXPLICIT_YEAR.search(fragment):
        return parsed.date()
    # The year is ours to choose: the next time this month and day comes round.
    today = local_now.date()
    for year in range(today.year, today.year + 9):
        try:
            candidate = parsed.date().replace(year=year)
        except ValueError:  # Feb 29 outside a leap year
            continue
        if candidate > today or (candidate == today and counts_today):
            return candidate
    return None


def _next_day_of_month(day: int, today: date, counts_today: bool) -> date | None:
    if not 1 <= day <= 31:
        return None
    year, month = today.year, today.month
    for _ in range(13):
        try:
            candidate = date(year, month, day)
        except ValueError:  # no 31st this month
            candidate = None
        if candidate is not None and (candidate > today or (candidate == today and counts_today)):
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _relative_dates(rest: str, local_now: datetime) -> list[date]:
    """ "in 2 weeks", "in 3 days": dateparser's search, kept to phrases with a number and a unit."""
    if not _RELATIVE_UNIT.search(rest):
        return []
    found = search_dates(rest, languages=["en"], settings=_dateparser_settings(local_now)) or []
    today = local_now.date()
    return [moment.date() for fragment, moment in found if _RELATIVE_UNIT.search(fragment) and moment.date() >= today]


def _soon(local_now: datetime, clock: _Clock, say: _SayEnglish) -> _Days:
    """No day named: the next time an exact time comes round, else the next two weeks."""
    today = local_now.date()
    first = today if _today_counts(local_now, clock) else today + timedelta(days=1)
    if clock.exact is not None:
        return _Days(dates=(first,), label=say.days((first,)), soon=True)
    dates = tuple(first + timedelta(days=n) for n in range((today + timedelta(days=SOON_DAYS) - first).days))
    return _Days(dates=dates, label="", is_range=True, soon=True)


# --- the window --------------------------------------------------------------


def _at(day: date, moment: time, zone: ZoneInfo) -> datetime:
    """A wall-clock time on a day, in the zone: never hours added across a DST change."""
    if moment == END_OF_DAY:
        return datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return datetime.combine(day, moment, tzinfo=zone)


def _build_window(
    days: _Days, clock: _Clock | None, local_now: datetime, zone: ZoneInfo, say: _SayEnglish
) -> TimeWindow:
    first, last = days.dates[0], days.dates[-1]
    part = clock.part if clock is not None else None
    preferred = None
    if clock is not None and clock.exact is not None:
        preferred = _at(first, clock.exact, zone)
        start, end = _at(first, time.min, zone), _at(last, END_OF_DAY, zone)
    elif part is not None:
        start, end = _at(first, part[0], zone), _at(last, part[1], zone)
    else:
        start, end = _at(first, time.min, zone), _at(last, END_OF_DAY, zone)
    start = max(start, local_now)
    end = max(end, start)
    stretch = (last - first).days + 1 == len(days.dates)
    return TimeWindow(
        start=start,
        end=end,
        preferred=preferred,
        label=_window_label(days, clock, preferred, zone, say),
        part_of_day=part,
        days=None if stretch else days.dates,
    )


def _window_label(
    days: _Days, clock: _Clock | None, preferred: datetime | None, zone: ZoneInfo, say: _SayEnglish
) -> str:
    if clock is None:
        return days.label
    if preferred is not None and len(days.dates) == 1:
        return say.when(preferred, zone.key)
    if days.soon:
        return say.any_part(clock.part_name) if clock.named_part else say.any_day(clock.label)
    return f"{days.label} {clock.plural if days.is_range else clock.label}"


def _asap_window(local_now: datetime, say: _SayEnglish) -> TimeWindow:
    end = datetime.combine(local_now.date() + timedelta(days=ASAP_DAYS), local_now.timetz())
    return TimeWindow(start=local_now, end=end, preferred=None, label=say.asap, asap=True)
