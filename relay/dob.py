"""Read a date of birth the way patients write it.

US order (month first) for numeric dates, as the clinic's patients write them:
9/3/1957, 09-03-57, 09.03.1957, 1957-09-03, 09031957 (keypad), Sept 3 1957,
3 September 1957, "born march 9 72". Two-digit years take the latest century
that does not put the birth in the future.
"""

import re
from datetime import date

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


def parse_dob(text: str, today: date) -> date | None:
    """The date of birth in `text`, or None when there is no plausible one."""
    lowered = text.lower()
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
