"""Read a date of birth the way patients write it.

US order (month first) for numeric dates, as the clinic's patients write them:
9/3/1957, 09-03-57, 09.03.1957, 1957-09-03, 09031957 (keypad), Sept 3 1957,
3 September 1957, "born march 9 72". Two-digit years take the latest century
that does not put the birth in the future.

On a call the date arrives as the speech recogniser wrote it down, sometimes
in words: "March ninth nineteen seventy two", "the ninth of march two thousand
one", "zero three zero nine nineteen seventy two". Those are rewritten into
digits first ("March 9 1972") and read like a text.

Spanish (`language="es"`): "4 de diciembre de 1968", "4 dic 68", "nací el 1ro de
mayo del 70", "cuatro de diciembre de mil novecientos sesenta y ocho", and
numeric dates day first, as Spanish is written. A Spanish speaker at a US
clinic may still write month first, so a numeric date whose first two numbers
could each be the month ("04/12/1968") has two readings, day first first:
`dob_candidates` returns both, and verification accepts either (see
docs/spanish.md for the decision and what it costs in guessing odds).
"""

import re
from datetime import date

from relay.language import spanish
from relay.language.languages import Language, language_of

MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
    # Spanish, for patients who write the month in their language.
    "ene": 1, "abr": 4, "ago": 8, "dic": 12,
}  # fmt: skip

_MONTH_WORD = r"(?P<month>[a-z]{3,10})\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{4}|\d{2})"

_PATTERNS = [
    re.compile(r"\b(?P<year>\d{4})[-/.](?P<month>\d{1,2})[-/.](?P<day>\d{1,2})\b"),
    re.compile(r"\b(?P<month>\d{1,2})[-/.](?P<day>\d{1,2})[-/.]" + _YEAR + r"\b"),
    re.compile(r"\b(?P<month>\d{2})(?P<day>\d{2})(?P<year>\d{4})\b"),
    re.compile(r"\b" + _MONTH_WORD + r"\s+" + _DAY + r",?\s+(?:of\s+)?" + _YEAR + r"\b"),
    re.compile(r"\b" + _DAY + r"\s+(?:of\s+|de\s+)?" + _MONTH_WORD + r",?\s+(?:de\s+)?" + _YEAR + r"\b"),
    # Said one number at a time: "3 9 1972", "0309 1972". Only with a four-digit year.
    re.compile(r"\b(?P<month>\d{1,2})\s+(?P<day>\d{1,2})\s+(?P<year>\d{4})\b"),
    re.compile(r"\b(?P<month>\d{2})(?P<day>\d{2})\s+(?P<year>\d{4})\b"),
]


def _month_number(token: str) -> int | None:
    if token.isdigit():
        return int(token)
    return MONTHS.get(token[:3])


def _full_year(token: str, today: date) -> int:
    year = int(token)
    if len(token) == 4:
        return year
    century = today.year // 100 * 100
    return century + year if century + year <= today.year else century - 100 + year


def parse_dob(text: str, today: date, language: str = Language.EN) -> date | None:
    """The date of birth in `text`, or None when there is no plausible one.

    In Spanish, the first of `dob_candidates`: "04/12/1968" is 4 December.
    """
    found = dob_candidates(text, today, language)
    return found[0] if found else None


def dob_candidates(text: str, today: date, language: str = Language.EN) -> tuple[date, ...]:
    """Every date of birth `text` can mean, most likely first; () when there is none.

    English: one at most (month first, as parse_dob always read it). Spanish: a
    numeric date is read day first and, when the other order is also a date,
    month first too: "04/12/1968" -> (4 Dec 1968, 12 Apr 1968); "25/12/1968" and
    "12/25/1968" -> (25 Dec 1968,). Never more than two, both from one written date.
    """
    if language_of(language) != Language.ES:
        lowered = text.lower()
        born = _parse(lowered, today) or _parse(spoken_numbers_to_digits(lowered), today)
        return (born,) if born else ()
    folded = spanish.fold(text)
    for attempt in (folded, spanish.spoken_numbers_to_digits(folded), spoken_numbers_to_digits(folded)):
        if found := _parse_es(attempt, today):
            return found
    return ()


def _parse(lowered: str, today: date) -> date | None:
    for pattern in _PATTERNS:
        for match in pattern.finditer(lowered):
            month = _month_number(match.group("month"))
            if month is None:
                continue
            try:
                born = date(_full_year(match.group("year"), today), month, int(match.group("day")))
            except ValueError:
                continue
            if date(1880, 1, 1) <= born <= today:
                return born
    return None


def dob_as_text(candidates: tuple[date, ...]) -> str:
    """The candidates written so that reading them again in Spanish gives the same candidates.

    For a turn that hands the bot a date it heard (relay.inbound.voice_turns): one
    reading is written with the month in words ('4 de diciembre de 1968', which
    English reads the same), two as the ambiguous 'DD/MM/YYYY' they came from, day first.
    """
    first = candidates[0]
    if len(candidates) == 1:
        return f"{first.day} de {spanish.MONTHS[first.month - 1]} de {first.year}"
    return f"{first.day:02d}/{first.month:02d}/{first.year}"


# --- Spanish order -------------------------------------------------------------

_MONTHS_ES = MONTHS | {"set": 9}  # "setiembre", as some countries spell it
_DAY_ES = r"(?P<day>\d{1,2})(?:o|ro|ero|st|nd|rd|th)?"  # "1ro", "1º" (folded to "1o")
_YEAR_ES = r"(?:del?\s+)?" + _YEAR  # "de 1968", "del 68"
# Named groups a/b: two numbers that may be day/month or month/day.
_PATTERNS_ES = [
    re.compile(r"\b(?P<year>\d{4})[-/.](?P<month>\d{1,2})[-/.](?P<day>\d{1,2})\b"),
    re.compile(r"\b(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})[-/.]" + _YEAR + r"\b"),
    re.compile(r"\b(?P<a>\d{2})(?P<b>\d{2})(?P<year>\d{4})\b"),
    re.compile(r"\b" + _DAY_ES + r"\s+(?:de\s+)?" + _MONTH_WORD + r",?\s+" + _YEAR_ES + r"\b"),
    re.compile(r"\b" + _MONTH_WORD + r"\s+" + _DAY_ES + r",?\s+" + _YEAR_ES + r"\b"),
    # Said one number at a time: "4 12 1968", "4 de 12 de 1968", "0412 1968". Only with a four-digit year.
    re.compile(r"\b(?P<a>\d{1,2})\s+(?:de\s+)?(?P<b>\d{1,2})\s+(?:del?\s+)?(?P<year>\d{4})\b"),
    re.compile(r"\b(?P<a>\d{2})(?P<b>\d{2})\s+(?P<year>\d{4})\b"),
]


def _parse_es(folded: str, today: date) -> tuple[date, ...]:
    for pattern in _PATTERNS_ES:
        for match in pattern.finditer(folded):
            year = _full_year(match["year"], today)
            groups = match.groupdict()
            if groups.get("a") is not None:
                a, b = int(match["a"]), int(match["b"])
                readings = [(b, a), (a, b)]  # (month, day): day first, then month first
            else:
                month = _MONTHS_ES.get(match["month"][:3]) if not match["month"].isdigit() else int(match["month"])
                if month is None:
                    continue
                readings = [(month, int(match["day"]))]
            found = tuple(dict.fromkeys(born for m, d in readings if (born := _plausible(year, m, d, today))))
            if found:
                return found
    return ()


def _plausible(year: int, month: int, day: int, today: date) -> date | None:
    try:
        born = date(year, month, day)
    except ValueError:
        return None
    return born if date(1880, 1, 1) <= born <= today else None


# --- numbers said in words ------------------------------------------------------

_UNIT_WORDS = {w: n for n, w in enumerate("zero one two three four five six seven eight nine".split())}
_TEEN_WORDS = {
    w: n + 10
    for n, w in enumerate("ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split())
}
_TENS_WORDS = {w: (n + 2) * 10 for n, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
_ORDINAL_WORDS = {
    w: n + 1
    for n, w in enumerate(
        "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
        "fifteenth sixteenth seventeenth eighteenth nineteenth".split()
    )
}
_ORDINAL_TENS = {"twentieth": 20, "thirtieth": 30}
_ZERO_WORDS = {"zero", "oh", "o"}


def _two_digit(words: list[str], i: int) -> tuple[int, int] | None:
    """A number below 100 said in words at words[i]: (value, words used)."""
    word = words[i] if i < len(words) else ""
    if word in _TEEN_WORDS:
        return _TEEN_WORDS[word], 1
    if word in _TENS_WORDS:
        following = words[i + 1] if i + 1 < len(words) else ""
        if following in _UNIT_WORDS and following != "zero":
            return _TENS_WORDS[word] + _UNIT_WORDS[following], 2
        return _TENS_WORDS[word], 1
    if word in _UNIT_WORDS:
        return _UNIT_WORDS[word], 1
    return None


def _year(words: list[str], i: int) -> tuple[int, int] | None:
    """'nineteen seventy two', 'nineteen oh five', 'two thousand (and) one', 'twenty twenty'."""
    word = words[i]
    if word in _UNIT_WORDS and i + 1 < len(words) and words[i + 1] == "thousand":
        j = i + 2 + (i + 2 < len(words) and words[i + 2] == "and")
        rest = _two_digit(words, j) if j < len(words) else None
        return (_UNIT_WORDS[word] * 1000 + (rest[0] if rest else 0), j - i + (rest[1] if rest else 0))
    century = _two_digit(words, i)
    if century is None or not 10 <= century[0] <= 20:
        return None
    j = i + century[1]
    following = words[j] if j < len(words) else ""
    if following == "hundred":
        return century[0] * 100, century[1] + 1
    if following in _ZERO_WORDS and j + 1 < len(words) and words[j + 1] in _UNIT_WORDS:
        return century[0] * 100 + _UNIT_WORDS[words[j + 1]], century[1] + 2
    rest = _two_digit(words, j)
    if rest is None or rest[0] < 10:
        return None
    return century[0] * 100 + rest[0], century[1] + rest[1]


def _ordinal(words: list[str], i: int) -> tuple[int, int] | None:
    """'third', 'twenty first', 'thirtieth'."""
    word = words[i]
    if word in _ORDINAL_WORDS:
        return _ORDINAL_WORDS[word], 1
    if word in _ORDINAL_TENS:
        return _ORDINAL_TENS[word], 1
    if word in ("twenty", "thirty") and i + 1 < len(words) and words[i + 1] in _ORDINAL_WORDS:
        value = _TENS_WORDS[word] + _ORDINAL_WORDS[words[i + 1]]
        return (value, 2) if value <= 31 else None
    return None


def spoken_numbers_to_digits(text: str) -> str:
    """'march ninth nineteen seventy-two' -> 'march 9 1972'; words that are not numbers stay.

    Runs of single digits said one at a time are joined when they make a
    whole MMDD or MMDDYYYY ('zero three zero nine' -> '0309'); shorter runs
    stay apart ('three nine nineteen seventy two' -> '3 9 1972').
    """
    words = re.sub(r"[^a-z0-9/ ]", " ", text.replace("-", " ")).split()
    out: list[str] = []
    singles: list[str] = []  # the current run of digits said one at a time

    def flush() -> None:
        out.extend(["".join(singles)] if len(singles) in (4, 8) else singles)
        singles.clear()

    i = 0
    while i < len(words):
        word = words[i]
        single = word in _UNIT_WORDS or (word in _ZERO_WORDS and i + 1 < len(words) and words[i + 1] in _UNIT_WORDS)
        # A year wins over single digits ("nineteen" is never a single digit, "two thousand" is a year).
        found = _ordinal(words, i) or _year(words, i)
        if found is None and single:
            singles.append("0" if word in _ZERO_WORDS else str(_UNIT_WORDS[word]))
            i += 1
            continue
        flush()
        found = found or _two_digit(words, i)
        if found is None:
            out.append(word)
            i += 1
        else:
            out.append(str(found[0]))
            i += found[1]
    flush()
    return " ".join(out)
