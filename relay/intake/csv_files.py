"""Clinic data from spreadsheet exports: one CSV file per kind, read into the import core's records.

A problem with the whole file (unknown kind, missing or unknown columns, an
empty file) raises CsvHeaderError and nothing is imported. A problem with one
row rejects that row, named by its spreadsheet row number (the header is row
1), and the other rows go on. An empty cell in an optional column means "not
in this export" (UNSET), so a partial export never wipes what Relay has.

Phones, names, languages and reasons are passed through as written (only
stripped): the core normalises and checks them. The columns of each kind are
in COLUMNS and documented in docs/csv.md.
"""

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import TextIO, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from relay.intake.records import (
    UNSET,
    AppointmentRecord,
    Batch,
    Maybe,
    PatientRecord,
    ProviderRecord,
    Record,
    Ref,
    ReferralRecord,
    SpecialistRecord,
    WeeklyHours,
)
from relay.models.referral import (
    AppointmentStatus,
    AuthorizationStatus,
    ReferralPriority,
    ReferralStatus,
    ReferralType,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Columns:
    """A kind's columns: required ones must be in the header and filled on every row."""

    required: tuple[str, ...]
    optional: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return self.required + self.optional


COLUMNS: dict[str, Columns] = {
    "patients": Columns(
        required=("mrn", "name", "dob"),
        optional=("phone", "language", "insurance_payer", "insurance_member_id", "timezone"),
    ),
    "specialists": Columns(
        required=("key", "name", "specialty", "facility", "address", "phone"),
        optional=("insurance_accepted", "days", "start", "end", "slot_minutes", "prep", "prep_es"),
    ),
    "referrals": Columns(
        required=("id", "patient_mrn", "specialist_key", "type", "status", "reason", "received_on"),
        optional=(
            "priority",
            "authorization_required",
            "authorization_status",
            "authorization_reference",
            "authorization_submitted_on",
            "referred_by",
        ),
    ),
    "appointments": Columns(
        required=("id", "referral_id", "start"),
        optional=("duration_minutes", "status", "specialist_key"),
    ),
}
CSV_KINDS: tuple[str, ...] = tuple(COLUMNS)

# The column that identifies a row's record, to catch the same record twice in one file.
_ID_COLUMN = {"patients": "mrn", "specialists": "key", "referrals": "id", "appointments": "id"}

WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class CsvHeaderError(ValueError):
    """The file as a whole cannot be read (its header, its kind, its encoding); nothing is imported."""


class RowProblem(ValueError):
    """One row cannot be read; the message is the plain reason given back to whoever sent the file."""


# --- reading the file -------------------------------------------------------------------------------


def read_csv(
    source: TextIO | str,
    *,
    kind: str,
    tz: str,
    progress: Callable[[int], object] | None = None,
) -> Batch:
    """Read one export of `kind` into a Batch; `tz` is the clinic's zone, for appointment wall-clock times.

    `source` is an open text file (opened with newline="") or the CSV text itself.
    `progress`, when given, is called with each row's number as it is read.
    """
    columns = _columns_of(kind)
    zone = _zone(tz)
    lines = io.StringIO(source) if isinstance(source, str) else source
    rows = _rows(lines)
    header = _header(next(rows, None), kind, columns)
    reader = _READERS[kind]
    batch = Batch()
    providers: set[str] = set()  # referring providers' keys: each provider goes into the batch once
    seen: dict[str, int] = {}  # a record's id -> the row it was read from
    for number, cells in rows:
        if progress is not None:
            progress(number)
        if not any(cell.strip() for cell in cells):
            continue  # spreadsheets leave blank rows at the end; they are no record
        try:
            row = _Row(_cells(header, cells), zone)
            records = reader(row)
            _check_once(row, kind, number, seen)
        except RowProblem as problem:
            batch.reject(kind, f"row {number}", str(problem))
            continue
        for record in records:
            if isinstance(record, ProviderRecord):
                if record.key in providers:
                    continue
                providers.add(record.key)
            batch.add(record, origin=f"row {number}")
    return batch


def _columns_of(kind: str) -> Columns:
    if kind not in COLUMNS:
        raise CsvHeaderError(f"unknown kind {kind!r}: use one of {', '.join(CSV_KINDS)}")
    return COLUMNS[kind]


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        # The clinic's own setting, not the file's: a caller's mistake, but still no import.
        raise CsvHeaderError(f"unknown time zone {tz!r}") from exc


def _rows(lines: TextIO) -> Iterator[tuple[int, list[str]]]:
    """Each record with its spreadsheet row number.

    csv.reader rather than DictReader: DictReader silently skips blank lines,
    which would shift every later row number away from what the spreadsheet shows.
    """
    reader = csv.reader(lines)
    number = 0
    try:
        for cells in reader:
            number += 1
            yield number, cells
    except csv.Error as exc:
        raise CsvHeaderError(f"not readable as CSV near line {reader.line_num}: {exc}") from exc


def column_name(text: str) -> str:
    """A header cell as a column name: case, spaces, hyphens and a UTF-8 BOM do not matter."""
    return re.sub(r"[\s_\-]+", "_", text.replace("\ufeff", "").strip().lower()).strip("_")


def _header(first: tuple[int, list[str]] | None, kind: str, columns: Columns) -> list[str | None]:
    """The column of each position (None for a nameless one), or CsvHeaderError naming what is wrong."""
    if first is None or not any(cell.strip() for cell in first[1]):
        raise CsvHeaderError("the file is empty: the first row must name the columns")
    names = [column_name(cell) or None for cell in first[1]]
    known = set(columns.all)
    unknown = [cell.strip() for cell, name in zip(first[1], names, strict=True) if name and name not in known]
    if unknown:
        raise CsvHeaderError(
            f"unknown columns for {kind}: {', '.join(unknown)} (the columns are: {', '.join(columns.all)})"
        )
    doubled = sorted({name for name in names if name and names.count(name) > 1})
    if doubled:
        raise CsvHeaderError(f"columns given twice: {', '.join(doubled)}")
    missing = [name for name in columns.required if name not in names]
    if missing:
        raise CsvHeaderError(f"missing columns for {kind}: {', '.join(missing)}")
    return names


def _cells(header: list[str | None], cells: list[str]) -> dict[str, str]:
    if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header) :]):
        raise RowProblem(f"{len(cells)} cells but the header has {len(header)} columns")
    values: dict[str, str] = {}
    for name, cell in zip(header, cells, strict=False):  # a short row: the missing cells are empty
        if name is not None:
            values[name] = cell.strip()
        elif cell.strip():
            raise RowProblem("a value under a column with no name")
    return values


def _check_once(row: "_Row", kind: str, number: int, seen: dict[str, int]) -> None:
    """The same record twice in one file is a mistake in the export: which row would be right?"""
    column = _ID_COLUMN[kind]
    identifier = row.text(column)
    if identifier in seen:
        raise RowProblem(f"{column} {identifier} is also on row {seen[identifier]}")
    seen[identifier] = number


# --- one row ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    cells: dict[str, str]
    zone: ZoneInfo

    def text(self, column: str) -> str:
        """A required value."""
        value = self.cells.get(column, "")
        if not value:
            raise RowProblem(f"{column} is empty")
        return value

    def maybe(self, column: str) -> Maybe[str]:
        """An optional value: an empty cell or an absent column is not carried."""
        return self.cells.get(column) or UNSET

    def parsed(self, column: str, parse: Callable[[str, str], T]) -> T:
        return parse(self.text(column), column)

    def maybe_parsed(self, column: str, parse: Callable[[str, str], T]) -> Maybe[T]:
        value = self.maybe(column)
        return UNSET if value is UNSET else parse(value, column)


def _patient(row: _Row) -> list[Record]:
    return [
        PatientRecord(
            mrn=row.text("mrn"),
            name=row.text("name"),
            dob=row.parsed("dob", parse_date),
            phone=row.maybe("phone"),
            language=row.maybe("language"),
            timezone=row.maybe_parsed("timezone", _time_zone_name),
            insurance_payer=row.maybe("insurance_payer"),
            insurance_member_id=row.maybe("insurance_member_id"),
        )
    ]


def _specialist(row: _Row) -> list[Record]:
    return [
        SpecialistRecord(
            key=row.text("key"),
            name=row.text("name"),
            specialty=row.text("specialty"),
            facility=row.text("facility"),
            address=row.text("address"),
            phone=row.text("phone"),
            insurance_accepted=row.maybe_parsed("insurance_accepted", _list),
            prep=row.maybe("prep"),
            prep_es=row.maybe("prep_es"),
            availability=_weekly_hours(row),
        )
    ]


def _weekly_hours(row: _Row) -> Maybe[list[WeeklyHours]]:
    """One block of hours on the listed days; "none" clears them; no days at all keeps what is stored."""
    days = row.maybe("days")
    if days is UNSET:
        if any(row.maybe(column) is not UNSET for column in ("start", "end", "slot_minutes")):
            raise RowProblem("days is empty but start, end or slot_minutes is given")
        return UNSET
    if days.lower() == "none":
        return []
    weekdays = parse_days(days, "days")
    start, end = row.parsed("start", parse_clock), row.parsed("end", parse_clock)
    if end <= start:
        raise RowProblem("end must be later than start")
    slot = row.maybe_parsed("slot_minutes", parse_minutes)
    slot_minutes = 30 if slot is UNSET else slot
    return [WeeklyHours(weekday=day, start=start, end=end, slot_minutes=slot_minutes) for day in weekdays]


def _referral(row: _Row) -> list[Record]:
    records: list[Record] = []
    referred_by = row.maybe("referred_by")
    provider = UNSET if referred_by is UNSET else _provider(referred_by)
    if provider is not UNSET:
        records.append(provider)
    records.append(
        ReferralRecord(
            external_id=row.text("id"),
            patient=Ref(key=row.text("patient_mrn")),
            specialist=Ref(key=row.text("specialist_key")),
            referred_by=UNSET if provider is UNSET else Ref(key=provider.key),
            type=row.parsed("type", _word_parser(ReferralType)),
            status=row.parsed("status", _word_parser(ReferralStatus)),
            priority=row.maybe_parsed("priority", _word_parser(ReferralPriority)),
            reason=row.text("reason"),
            received_on=row.parsed("received_on", parse_date),
            authorization_required=row.maybe_parsed("authorization_required", parse_yes_no),
            authorization_status=row.maybe_parsed("authorization_status", _word_parser(AuthorizationStatus)),
            authorization_reference=row.maybe("authorization_reference"),
            authorization_submitted_on=row.maybe_parsed("authorization_submitted_on", parse_date),
        )
    )
    return records


def _provider(name: str) -> ProviderRecord:
    """The referring provider, by name: an export names them; its key is made from the name."""
    key = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64]
    if not key:
        raise RowProblem("referred_by has no letters or digits")
    return ProviderRecord(key=key, name=name)


def _appointment(row: _Row) -> list[Record]:
    specialist_key = row.maybe("specialist_key")
    return [
        AppointmentRecord(
            external_id=row.text("id"),
            referral=Ref(key=row.text("referral_id")),
            specialist=UNSET if specialist_key is UNSET else Ref(key=specialist_key),
            start=parse_wall_clock(row.text("start"), "start", row.zone),
            duration_minutes=row.maybe_parsed("duration_minutes", parse_minutes),
            status=row.maybe_parsed("status", _word_parser(AppointmentStatus)),
        )
    ]


_READERS: dict[str, Callable[[_Row], list[Record]]] = {
    "patients": _patient,
    "specialists": _specialist,
    "referrals": _referral,
    "appointments": _appointment,
}


# --- values -----------------------------------------------------------------------------------------
# Each parser takes the cell and its column name and raises RowProblem with a plain reason. A date of
# birth is never echoed back in a reason: reports are printed and may end up in someone's logs.

_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_CLOCK = re.compile(r"(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*(?:([ap])\.?\s*m\.?)?", re.IGNORECASE)
_DATE_AND_CLOCK = re.compile(r"(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{4})(?:T|\s+)(.+)")
_NOT_ECHOED = frozenset({"dob"})


def _shown(value: str, column: str) -> str:
    return column if column in _NOT_ECHOED else f"{column} {value!r}"


def parse_date(value: str, column: str) -> date:
    """2027-01-31 (ISO) or 1/31/2027, 01/31/2027 (US: month first); two-digit years are refused."""
    iso, us = _ISO_DATE.fullmatch(value), _US_DATE.fullmatch(value)
    try:
        if iso:
            return date(int(iso[1]), int(iso[2]), int(iso[3]))
        if us:
            return date(int(us[3]), int(us[1]), int(us[2]))
    except ValueError:
        pass  # a day that does not exist, such as 2/30/2027: the same reason as a malformed one
    raise RowProblem(f"{_shown(value, column)} is not a date: write 2027-01-31 or 1/31/2027")


def parse_clock(value: str, column: str) -> time:
    """A time of day: 14:15, 2:15 PM, 2:15pm, 2pm."""
    match = _CLOCK.fullmatch(value)
    problem = RowProblem(f"{_shown(value, column)} is not a time of day: write 14:15 or 2:15 PM")
    if not match or (match[2] is None and match[4] is None):  # a bare "14" could be anything
        raise problem
    hour, minute, second = int(match[1]), int(match[2] or 0), int(match[3] or 0)
    if match[4]:
        if not 1 <= hour <= 12:
            raise problem
        hour = hour % 12 + (12 if match[4].lower() == "p" else 0)
    try:
        return time(hour, minute, second)
    except ValueError:
        raise problem from None


def parse_wall_clock(value: str, column: str, zone: ZoneInfo) -> datetime:
    """A date and time as the clinic's clocks show it ("2027-02-11 14:20", "2/11/2027 2:20 PM"), made aware.

    A time written with its own offset ("2027-02-11T14:20-06:00") keeps it.
    """
    naive = _date_time(value, column)
    if naive.tzinfo is not None:
        return naive.astimezone(zone)
    aware = naive.replace(tzinfo=zone)  # fold 0: in the repeated hour of autumn, the first one
    # On the spring-forward day the skipped hour has no instant; zoneinfo would quietly shift it.
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise RowProblem(f"{column} {value!r} does not exist in {zone.key}: the clocks skip that hour that day")
    return aware


def _date_time(value: str, column: str) -> datetime:
    if _ISO_DATE.fullmatch(value) or _US_DATE.fullmatch(value):
        raise RowProblem(f"{column} {value!r} has no time of day")
    try:
        return datetime.fromisoformat(value)  # ISO 8601, with or without an offset
    except ValueError:
        pass
    # A date in either format, then a clock time as people write it ("9:00", "2:15pm").
    parts = _DATE_AND_CLOCK.fullmatch(value)
    if parts:
        return datetime.combine(parse_date(parts[1], column), parse_clock(parts[2], column))
    raise RowProblem(f"{column} {value!r} is not a date and time: write 2027-01-31 14:15 or 1/31/2027 2:15 PM")


def parse_minutes(value: str, column: str) -> int:
    try:
        minutes = int(value)
    except ValueError:
        raise RowProblem(f"{column} {value!r} is not a whole number of minutes") from None
    if not 0 < minutes <= 24 * 60:
        raise RowProblem(f"{column} {value!r} is not a number of minutes between 1 and 1440")
    return minutes


_YES = frozenset({"yes", "y", "true", "t", "1"})
_NO = frozenset({"no", "n", "false", "f", "0"})


def parse_yes_no(value: str, column: str) -> bool:
    word = value.lower()
    if word in _YES or word in _NO:
        return word in _YES
    raise RowProblem(f"{column} {value!r} is not yes or no")


def parse_days(value: str, column: str) -> list[int]:
    """Weekdays (0 = Monday) from "Mon;Wed;Fri", "Mon, Tue", "Monday" or a range "Mon-Fri"."""
    days: set[int] = set()
    for part in re.split(r"[;,/]", value):
        part = part.strip()
        if not part:
            continue
        ends = [_weekday(end.strip(), value, column) for end in part.split("-")]
        if len(ends) > 2 or (len(ends) == 2 and ends[1] < ends[0]):
            raise RowProblem(f"{column} {value!r}: write a range from the earlier day, such as Mon-Fri")
        days.update(range(ends[0], ends[-1] + 1))
    if not days:
        raise RowProblem(f"{column} {value!r} names no weekday")
    return sorted(days)


def _weekday(word: str, value: str, column: str) -> int:
    word = word.lower().rstrip(".")
    for number, name in enumerate(WEEKDAY_NAMES):
        if len(word) >= 3 and name.startswith(word):
            return number
    raise RowProblem(f"{column} {value!r}: {word!r} is not a weekday (Mon, Tue, Wed, Thu, Fri, Sat, Sun)")


def _list(value: str, _column: str) -> list[str]:
    return [item.strip() for item in value.split(";") if item.strip()]


def _time_zone_name(value: str, column: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise RowProblem(f"{column} {value!r} is not a time zone such as America/Chicago") from None
    return value


def vocabulary_word(value: str, vocabulary: type[StrEnum], column: str) -> str:
    """One of Relay's words however it is written: "Ready to schedule", "ready-to-schedule", "READY_TO_SCHEDULE"."""
    word = re.sub(r"[\s_\-]+", "_", value.strip().lower())
    if word in {member.value for member in vocabulary}:
        return word
    raise RowProblem(f"{column} {value!r} is not one of: {', '.join(member.value for member in vocabulary)}")


def _word_parser(vocabulary: type[StrEnum]) -> Callable[[str, str], str]:
    return lambda value, column: vocabulary_word(value, vocabulary, column)
