"""Words for the ear: dates, times, numbers and phone numbers as a phone call says them.

A text reads "Thu, Dec 3 at 10:00 AM" and "(312) 555-0100" well; a
text-to-speech voice reads them badly ("Thu", "ten colon zero zero", "three
hundred twelve"). The voice channel says "Thursday, December third at ten A M"
and "3 1 2, 5 5 5, 0 1 0 0" (one digit at a time, the way people read a number
to someone who writes it down).

`speakable` is the last step before a `<Say>`: a safety net for text that did
not come from a voice variation of the domain (FAQ answers and prep notes from
the database, addresses).
"""

import re
from datetime import date, datetime, time

from relay.language.timefmt import local

_UNITS = "zero one two three four five six seven eight nine".split()
_TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty", 6: "sixty", 7: "seventy", 8: "eighty", 9: "ninety"}
_ORDINAL_UNITS = "zeroth first second third fourth fifth sixth seventh eighth ninth".split()
_ORDINAL_TEENS = (
    "tenth eleventh twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth".split()
)
_ORDINAL_TENS = {2: "twentieth", 3: "thirtieth"}

DAY_NAMES = {"Mon": "Monday", "Tue": "Tuesday", "Wed": "Wednesday", "Thu": "Thursday", "Fri": "Friday",
             "Sat": "Saturday", "Sun": "Sunday"}  # fmt: skip
MONTH_NAMES = {"Jan": "January", "Feb": "February", "Mar": "March", "Apr": "April", "May": "May", "Jun": "June",
               "Jul": "July", "Aug": "August", "Sep": "September", "Oct": "October", "Nov": "November",
               "Dec": "December"}  # fmt: skip


def number_words(n: int) -> str:
    """0-99 in words: 7 -> 'seven', 45 -> 'forty-five'."""
    if not 0 <= n <= 99:
        raise ValueError(f"{n} is out of range")
    if n < 10:
        return _UNITS[n]
    if n < 20:
        return _TEENS[n - 10]
    tens, unit = divmod(n, 10)
    return _TENS[tens] + (f"-{_UNITS[unit]}" if unit else "")


def ordinal_words(n: int) -> str:
    """1-31 as an ordinal: 3 -> 'third', 23 -> 'twenty-third'."""
    if not 1 <= n <= 39:
        raise ValueError(f"{n} is out of range")
    if n < 10:
        return _ORDINAL_UNITS[n]
    if n < 20:
        return _ORDINAL_TEENS[n - 10]
    tens, unit = divmod(n, 10)
    return _TENS[tens] + f"-{_ORDINAL_UNITS[unit]}" if unit else _ORDINAL_TENS[tens]


def format_clock_spoken(moment: time) -> str:
    """'ten A M', 'one thirty P M', 'nine oh five A M'."""
    hour = number_words(moment.hour % 12 or 12)
    if moment.minute == 0:
        minutes = ""
    elif moment.minute < 10:
        minutes = f" oh {number_words(moment.minute)}"
    else:
        minutes = f" {number_words(moment.minute)}"
    return f"{hour}{minutes} {'A M' if moment.hour < 12 else 'P M'}"


def format_day_spoken(day: date) -> str:
    """'Monday, November twenty-third'."""
    return f"{day:%A}, {day:%B} {ordinal_words(day.day)}"


def format_when_spoken(dt: datetime, tz: str) -> str:
    """'Thursday, December third at ten A M' in the given zone: format_when for the ear."""
    moment = local(dt, tz)
    return f"{format_day_spoken(moment.date())} at {format_clock_spoken(moment.time())}"


def spoken_phone(number: str) -> str:
    """A phone number one digit at a time, grouped as it is written: '3 1 2, 5 5 5, 0 1 0 0'."""
    digits = re.sub(r"\D", "", number)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]  # the US country code is not part of how people say a local number
    groups = [digits[:3], digits[3:6], digits[6:]] if len(digits) == 10 else [digits]
    return ", ".join(" ".join(group) for group in groups if group)


def spoken_options(labels: list[str]) -> str:
    """Numbered choices for the keypad or the voice: 'press or say 1 for A, 2 for B, or 3 for C'."""
    choices = [f"{n} for {label}" for n, label in enumerate(labels, start=1)]
    return "press or say " + ", ".join(choices[:-1]) + (", or " if len(choices) > 1 else "") + choices[-1]


# --- the safety net ----------------------------------------------------------

_DAY = "|".join(DAY_NAMES)
_MONTH = "|".join(MONTH_NAMES)
_CLOCK = r"(?P<hour>\d{1,2}):(?P<minute>\d{2}) ?(?P<ampm>AM|PM)"
# What relay.language.timefmt writes: "Thu, Dec 3 at 10:00 AM", "Mon, Nov 23", "3:00 PM".
_WRITTEN_DAY = re.compile(rf"\b(?P<dow>{_DAY}), (?P<month>{_MONTH}) (?P<day>\d{{1,2}})\b")
_WRITTEN_CLOCK = re.compile(rf"\b{_CLOCK}")
# US numbers as staff and timefmt write them; not already-spoken digits.
_PHONE = re.compile(r"(?<![\d-])(?:\+?1[ .-]?)?\(?\b\d{3}\)?[ .-]?\d{3}[ .-]\d{4}\b|\+1\d{10}\b")
_SHORT_NUMBERS = re.compile(r"\b(911|988)\b")
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
# "Reply VIDEO and we will check", "; reply to ask for a video visit": instructions for a text.
_REPLY_CLAUSE = re.compile(
    r"(?:^|(?<=[.;!?]))\s*[^.;!?]*\b(?:reply|text us|texting us)\b[^.;!?]*[.;!?]?", re.IGNORECASE
)


def respell_times(text: str) -> str:
    """Rewrite written dates and clock times ('Fri, Dec 4', '3:00 PM') into spoken ones."""

    def day(match: re.Match) -> str:
        return f"{DAY_NAMES[match['dow']]}, {MONTH_NAMES[match['month']]} {ordinal_words(int(match['day']))}"

    def clock(match: re.Match) -> str:
        hour, minute = int(match["hour"]), int(match["minute"])
        if not 1 <= hour <= 12 or minute > 59:
            return match[0]
        return format_clock_spoken(time(hour % 12 + (12 if match["ampm"] == "PM" else 0), minute))

    return _WRITTEN_CLOCK.sub(clock, _WRITTEN_DAY.sub(day, text))


def speakable(text: str) -> str:
    """Text for a `<Say>`: phone numbers digit by digit, no URLs, no 'reply ...' instructions."""
    spoken = _REPLY_CLAUSE.sub("", text).strip() or text
    spoken = re.sub(r";(\s+[A-Z])|;\s*$", lambda m: "." + (m[1] or ""), spoken)  # a clause went missing after it
    spoken = _URL.sub("our website", spoken)
    spoken = _PHONE.sub(lambda m: spoken_phone(m[0]), spoken)
    spoken = _SHORT_NUMBERS.sub(lambda m: " ".join(m[1]), spoken)
    return re.sub(r"\s{2,}", " ", respell_times(spoken)).strip()


# --- what callers say --------------------------------------------------------

_CHOICE_WORDS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5",
    "1st": "1", "2nd": "2", "3rd": "3", "4th": "4", "5th": "5",
    "to": "2", "too": "2", "for": "4", "won": "1",  # how recognisers hear a lone number
}  # fmt: skip
_CHOICE_FILLERS = {"number", "option", "choice", "the", "please", "i", "want", "ill", "take", "id", "like", "one"}


def spoken_choice(transcript: str) -> str | None:
    """'Two.', 'number two', 'the second one', 'option 3' -> '2'; None when it is not just a choice."""
    words = re.sub(r"[^a-z0-9 ]", " ", transcript.lower().replace("'", "")).split()
    if words in (["one"], ["number", "one"], ["option", "one"]):
        return "1"
    # "one" is filler in "the second one"; a lone number word is the choice.
    picks = [_CHOICE_WORDS.get(word, word) for word in words if word not in _CHOICE_FILLERS]
    if len(picks) == 1 and picks[0].isdigit() and len(picks[0]) == 1:
        return picks[0]
    return None


def keypad_text(digits: str) -> str:
    """What keypad digits mean to the bot: 8 digits are a date of birth (MMDDYYYY)."""
    if len(digits) == 8 and digits.isdigit():
        month, day, year = digits[:2], digits[2:4], digits[4:]
        if 1 <= int(month) <= 12 and 1 <= int(day) <= 31:
            # The written form the model knows best as a date of birth.
            return f"{month}/{day}/{year}"
    return digits
