"""What one import knows while it writes: the rows it found or made, by key and by EHR id, and what it touched.

Rows are read in bulk before a kind is written (`preload`), so that a batch
of 10,000 records costs a few queries, not 10,000; records then find each
other, and the rows stored by earlier imports, through the same index.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import String, insert, select
from sqlalchemy.orm import Session

from relay.intake.records import Ref
from relay.models import (
    Appointment,
    BookedSlot,
    ConsentEvent,
    Location,
    Patient,
    PublishedSlot,
    Referral,
    ReferringProvider,
    Specialist,
)
from relay.models.base import Base

# Bound parameters per IN list: well under SQLite's and PostgreSQL's limits.
CHUNK = 900

M = TypeVar("M", bound=Base)


class Rejected(Exception):
    """The record cannot be imported; the message says why in plain words (no PHI beyond identifiers)."""


def chunks(values: list[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class RowIndex(Generic[M]):
    """One kind's rows by our key and by the EHR's resource id (and, for specialists, the role's id)."""

    def __init__(self, model: type[M], key: str, *, extra_ids: tuple[str, ...] = ()) -> None:
        self.model = model
        self.key = key
        self.id_columns = ("fhir_id", *extra_ids)
        self.by_key: dict[str, M] = {}
        self.by_id: dict[tuple[str, str], M] = {}
        self._asked: set[tuple[str, str]] = set()

    def preload(self, session: Session, refs: Iterable[Ref], *, extra: Iterable[tuple[str, str]] = ()) -> None:
        """Read, in a few queries, the stored rows that these references may name."""
        wanted: dict[str, set[str]] = {column: set() for column in (self.key, *self.id_columns)}
        for ref in refs:
            if ref.key is not None:
                wanted[self.key].add(ref.key)
            if ref.fhir_id is not None:
                wanted["fhir_id"].add(ref.fhir_id)
            if ref.fhir_role_id is not None and "fhir_role_id" in wanted:
                wanted["fhir_role_id"].add(ref.fhir_role_id)
        for column, value in extra:
            wanted[column].add(value)
        for column, values in wanted.items():
            fresh = sorted(value for value in values if (column, value) not in self._asked)
            self._asked.update((column, value) for value in fresh)
            attribute = getattr(self.model, column)
            for part in chunks(fresh):
                for row in session.scalars(select(self.model).where(attribute.in_(part))):
                    self.remember(row)

    def remember(self, row: M) -> None:
        key = getattr(row, self.key)
        if key is not None:  # appointments booked in Relay have no external id
            self.by_key[key] = row
        for column in self.id_columns:
            value = getattr(row, column)
            if value is not None:
                self.by_id[(column, value)] = row

    def rows(self) -> list[M]:
        return [*self.by_key.values(), *self.by_id.values()]

    def forget(self, row: M) -> None:
        self.by_key = {key: found for key, found in self.by_key.items() if found is not row}
        self.by_id = {key: found for key, found in self.by_id.items() if found is not row}

    def find(self, ref: Ref) -> M | None:
        if ref.key is not None and ref.key in self.by_key:
            return self.by_key[ref.key]
        if ref.fhir_id is not None and ("fhir_id", ref.fhir_id) in self.by_id:
            return self.by_id[("fhir_id", ref.fhir_id)]
        if ref.fhir_role_id is not None:
            return self.by_id.get(("fhir_role_id", ref.fhir_role_id))
        return None

    def resolve(self, ref: Ref, what: str) -> M:
        """The row a reference names; a rejection naming the reference when there is none."""
        found = self.find(ref)
        if found is None:
            raise Rejected(f"unknown {what} {ref}")
        return found

    def find_by(self, column: str, value: str) -> M | None:
        return self.by_id.get((column, value))


class PatientPhones:
    """Who holds which number, and the ledger's last word on each, read once for the batch."""

    def __init__(self) -> None:
        self.holder: dict[str, str] = {}  # E.164 -> MRN
        self.consent: dict[str, bool] = {}  # E.164 -> latest consent event

    def preload(self, session: Session, phones: set[str]) -> None:
        numbers = sorted(phones - self.holder.keys())
        for part in chunks(numbers):
            holders = select(Patient.phone, Patient.mrn).where(Patient.phone.in_(part))
            for phone, mrn in session.execute(holders).all():
                if phone is not None:
                    self.holder[phone] = mrn
            events = (
                select(ConsentEvent.phone, ConsentEvent.consented)
                .where(ConsentEvent.phone.in_(part))
                .order_by(ConsentEvent.phone, ConsentEvent.at, ConsentEvent.id)
            )
            for phone, consented in session.execute(events).all():  # in time order: the last one stays
                self.consent[phone] = consented


@dataclass
class ImportContext:
    session: Session
    now: datetime
    actor: str  # "import:fhir", "import:csv", ...
    region: str  # the clinic's, for phone numbers written without a country code
    tz: str  # the clinic's, for dates without a time
    replan: bool = True
    locations: RowIndex[Location] = field(default_factory=lambda: RowIndex(Location, "key"))
    providers: RowIndex[ReferringProvider] = field(default_factory=lambda: RowIndex(ReferringProvider, "key"))
    specialists: RowIndex[Specialist] = field(
        default_factory=lambda: RowIndex(Specialist, "key", extra_ids=("fhir_role_id",))
    )
    patients: RowIndex[Patient] = field(default_factory=lambda: RowIndex(Patient, "mrn"))
    referrals: RowIndex[Referral] = field(default_factory=lambda: RowIndex(Referral, "external_id"))
    appointments: RowIndex[Appointment] = field(default_factory=lambda: RowIndex(Appointment, "external_id"))
    slots: dict[str, PublishedSlot] = field(default_factory=dict)
    # What the import changed, for the status derivation, the write-back marker and the re-planning.
    changed_referrals: set[Referral] = field(default_factory=set)
    status_before: dict[Referral, str | None] = field(default_factory=dict)  # None: created by this import
    explicit_status: set[Referral] = field(default_factory=set)
    derive_status: set[Referral] = field(default_factory=set)
    changed_appointments: set[Appointment] = field(default_factory=set)
    changed_patients: set[Patient] = field(default_factory=set)
    phones: PatientPhones = field(default_factory=PatientPhones)
    consent_events: list[tuple[Patient, str, bool]] = field(default_factory=list)
    held_slots: dict[int, BookedSlot] = field(default_factory=dict)  # appointment id -> the slot it holds
    slot_minutes: dict[int, int] = field(default_factory=dict)  # specialist id -> one slot of their hours
    published_minutes: dict[int, dict[datetime, int]] = field(default_factory=dict)  # their published slots
    # New rows of the big kinds, inserted together once their kind is done (`insert_staged`).
    staged: dict[type[Base], list["StagedRow"]] = field(default_factory=dict)
    staged_keys: set[tuple[type[Base], str]] = field(default_factory=set)

    def stage(self, model: type[Base], key: str, values: dict[str, Any], on_created: Callable[[Any], None]) -> None:
        """A new row to insert with the others of its kind; `on_created` gets it once it exists."""
        if (model, key) in self.staged_keys:
            raise Rejected(f"{key!r} comes twice in this import")
        self.staged_keys.add((model, key))
        self.staged.setdefault(model, []).append(StagedRow(values, on_created))

    def insert_staged(self) -> None:
        """One multi-row INSERT ... RETURNING per kind, instead of the unit of work's row by row.

        The rows come back as ORM objects in the session, in the order staged,
        so the rest of the import reads and changes them like any other row.
        An ORM flush of 10,000 patients took twice as long (`make bench`).
        """
        for model, rows in self.staged.items():
            # Rows that set the same columns go together: interleaved, they would split the INSERT
            # into runs of a few rows (one record in ten naming a language made it three times slower).
            by_columns: dict[frozenset[str], list[StagedRow]] = {}
            for row in rows:
                by_columns.setdefault(frozenset(row.values), []).append(row)
            statement = insert(model).returning(model, sort_by_parameter_order=True)
            for group in by_columns.values():
                created = self.session.scalars(statement, [row.values for row in group]).all()
                for row, made in zip(group, created, strict=True):
                    row.on_created(made)
        self.staged.clear()


@dataclass
class StagedRow:
    values: dict[str, Any]
    on_created: Callable[[Any], None]


# Column lengths, read once per model: a value too long is a rejection here, not a database error there.
_LENGTHS: dict[type, dict[str, int]] = {}


def column_lengths(model: type[Base]) -> dict[str, int]:
    if model not in _LENGTHS:
        _LENGTHS[model] = {
            column.key: column.type.length
            for column in model.__table__.columns
            if isinstance(column.type, String) and column.type.length
        }
    return _LENGTHS[model]


def check_lengths(model: type[Base], values: dict[str, Any]) -> None:
    limits = column_lengths(model)
    for name, value in values.items():
        if isinstance(value, str) and name in limits and len(value) > limits[name]:
            raise Rejected(f"{name.replace('_', ' ')} is longer than {limits[name]} characters")


def assign(row: Base, values: dict[str, Any]) -> bool:
    """Set the values that differ; True when something changed (an unchanged row is not written)."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed
