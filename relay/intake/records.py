"""The clinic records an import carries, whatever door they came in by (FHIR, CSV, the JSON API, the demo).

Each reader (relay.intake.fhir, relay.intake.csv_files, the API) turns its
input into these plain records; relay.intake.core upserts them. A record
names the rows it depends on with a `Ref`: by our external key (an MRN, a
specialist key, a referral id) or by the EHR's resource id, and the core
resolves both the same way, against the batch and then the database.

A field left at UNSET is not carried by the source and keeps its stored
value (a FHIR Patient says nothing of insurance: the Coverage does); None
is a value and clears the field.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import Enum
from typing import Final, Literal, TypeAlias, TypeGuard, TypeVar


class _Unset(Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = _Unset.UNSET
T = TypeVar("T")
Maybe: TypeAlias = T | Literal[_Unset.UNSET]  # a value, or not carried by this source


def is_set(value: Maybe[T]) -> TypeGuard[T]:
    return value is not UNSET


@dataclass(frozen=True)
class Ref:
    """A reference to another record: by our key, by the EHR's resource id, or both."""

    key: str | None = None
    fhir_id: str | None = None
    fhir_type: str | None = None  # the resource type the EHR's id belongs to, for messages
    fhir_role_id: str | None = None  # a specialist named by their PractitionerRole

    def __str__(self) -> str:
        if self.key is not None:
            return repr(self.key)
        if self.fhir_role_id is not None:
            return f"PractitionerRole/{self.fhir_role_id}"
        return f"{self.fhir_type or 'resource'}/{self.fhir_id}"


@dataclass(frozen=True)
class LocationRecord:
    key: str
    name: str
    address: str
    phone: str | None = None  # as the source writes it; normalised by the core
    fhir_id: str | None = None


@dataclass(frozen=True)
class ProviderRecord:
    """A referring provider (FHIR: the ServiceRequest's requester)."""

    key: str
    name: str
    role: str = "Referring provider"
    fhir_id: str | None = None


@dataclass(frozen=True)
class WeeklyHours:
    weekday: int  # 0 = Monday
    start: time
    end: time
    slot_minutes: int = 30


@dataclass(frozen=True)
class SpecialistRecord:
    key: str | None  # None: a PractitionerRole whose Practitioner came earlier (found by `fhir_id`)
    name: Maybe[str] = UNSET
    specialty: Maybe[str] = UNSET
    # Where they see patients: a Location (its name, address and phone are copied) ...
    location: Maybe[Ref | None] = UNSET
    # ... or written out (CSV, API, demo).
    facility: Maybe[str] = UNSET
    address: Maybe[str] = UNSET
    phone: Maybe[str] = UNSET
    insurance_accepted: Maybe[list[str]] = UNSET
    prep: Maybe[str | None] = UNSET
    prep_es: Maybe[str | None] = UNSET  # the same in Spanish
    # Replaces the weekly hours when given (an empty list: no weekly hours).
    availability: Maybe[list[WeeklyHours]] = UNSET
    fhir_id: str | None = None  # Practitioner
    fhir_role_id: str | None = None  # PractitionerRole


@dataclass(frozen=True)
class SlotRecord:
    """A published slot (FHIR Slot, its Schedule naming the specialist), or a busy slot of the demo."""

    key: str
    specialist: Ref
    start: datetime
    end: datetime
    free: bool


@dataclass(frozen=True)
class PatientRecord:
    mrn: str
    name: Maybe[str] = UNSET
    dob: Maybe[date] = UNSET
    phone: Maybe[str | None] = UNSET  # any format; None or unusable: imported, flagged, never texted
    language: Maybe[str] = UNSET  # "en", "es", "es-MX" ...: normalised to a language Relay speaks
    timezone: Maybe[str | None] = UNSET
    insurance_payer: Maybe[str | None] = UNSET
    insurance_member_id: Maybe[str | None] = UNSET
    # Consent to texts when the patient is created (or their number changes); the ledger rules after that.
    sms_consent: bool = True
    fhir_id: str | None = None


@dataclass(frozen=True)
class CoverageRecord:
    """The patient's insurer (FHIR Coverage); an inactive coverage clears it."""

    key: str
    patient: Ref
    payer: str | None
    member_id: str | None
    active: bool = True


@dataclass(frozen=True)
class AuthorizationRecord:
    """Prior authorization of a referral (FHIR: a Task with code `approve` whose focus is the ServiceRequest)."""

    key: str
    referral: Ref
    status: str  # approved | pending | denied
    reference: str | None = None
    submitted_on: date | None = None


@dataclass(frozen=True)
class ReferralRecord:
    external_id: str
    patient: Maybe[Ref] = UNSET
    specialist: Maybe[Ref] = UNSET
    referred_by: Maybe[Ref | None] = UNSET
    type: Maybe[str] = UNSET
    # Relay's own status (CSV, API, demo) ...
    status: Maybe[str] = UNSET
    # ... or the EHR's ServiceRequest status, from which the core derives it with the appointments.
    ehr_status: Maybe[str] = UNSET
    priority: Maybe[str] = UNSET
    reason: Maybe[str] = UNSET  # clinical: stored for staff, never sent to a patient
    received_on: Maybe[date] = UNSET
    authorization_required: Maybe[bool] = UNSET
    authorization_status: Maybe[str | None] = UNSET
    authorization_submitted_on: Maybe[date | None] = UNSET
    authorization_reference: Maybe[str | None] = UNSET
    fhir_id: str | None = None


@dataclass(frozen=True)
class AppointmentRecord:
    external_id: str
    referral: Maybe[Ref] = UNSET
    specialist: Maybe[Ref | None] = UNSET  # None or UNSET on a new one: the referral's specialist
    start: Maybe[datetime] = UNSET  # aware
    duration_minutes: Maybe[int] = UNSET
    status: Maybe[str] = UNSET  # Relay's vocabulary: scheduled, confirmed, cancelled, completed, no_show
    fhir_id: str | None = None


Record = (
    LocationRecord
    | ProviderRecord
    | SpecialistRecord
    | SlotRecord
    | PatientRecord
    | CoverageRecord
    | AuthorizationRecord
    | ReferralRecord
    | AppointmentRecord
)

# The kinds as a report names them, in the order the core writes them (a record's references come first).
KINDS: tuple[str, ...] = (
    "locations",
    "providers",
    "specialists",
    "slots",
    "patients",
    "coverages",
    "referrals",
    "authorizations",
    "appointments",
)
KIND_OF: dict[type, str] = {
    LocationRecord: "locations",
    ProviderRecord: "providers",
    SpecialistRecord: "specialists",
    SlotRecord: "slots",
    PatientRecord: "patients",
    CoverageRecord: "coverages",
    AuthorizationRecord: "authorizations",
    ReferralRecord: "referrals",
    AppointmentRecord: "appointments",
}


def record_key(record: Record) -> str:
    """The identifier a report names the record by."""
    if isinstance(record, PatientRecord):
        return record.mrn
    if isinstance(record, ReferralRecord | AppointmentRecord):
        return record.external_id
    if isinstance(record, SpecialistRecord):
        return record.key or f"Practitioner/{record.fhir_id}"
    return record.key


@dataclass(frozen=True)
class Rejection:
    kind: str  # one of KINDS, or "records" when a reader could not tell what it was
    record: str  # its identifier, or where it was ("entry 4", "row 12")
    reason: str  # plain words


@dataclass
class Batch:
    """What one import brings: records, and what the reader already rejected."""

    records: list[Record] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    # Where a record came from ("row 12"), for readers whose users think in rows rather than identifiers.
    origins: dict[int, str] = field(default_factory=dict)

    def add(self, record: Record, *, origin: str | None = None) -> None:
        self.records.append(record)
        if origin is not None:
            self.origins[id(record)] = origin

    def name_of(self, record: Record) -> str:
        """How a report names the record: its identifier, after its row where the reader gave one."""
        origin = self.origins.get(id(record))
        return f"{origin} ({record_key(record)})" if origin else record_key(record)

    def reject(self, kind: str, record: str, reason: str) -> None:
        self.rejected.append(Rejection(kind, record, reason))
