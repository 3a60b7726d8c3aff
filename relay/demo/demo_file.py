"""The demo clinic file (clinic.yaml): its shape, read and checked whole before anything is written.

Relative dates ("D+3 10:00") resolve against today in the clinic's time zone
(`DemoClock`). A malformed file raises SeedError naming the entry it is
about, so it changes nothing.
"""

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from relay.core.phones import InvalidPhoneNumber, to_e164
from relay.models.referral import AppointmentStatus, AuthorizationStatus, ReferralPriority, ReferralStatus, ReferralType

# The contract lives in the shared folder beside the repository; a copy ships in
# the package so a fresh clone without that folder still seeds the same clinic.
SHARED_DEMO_FILE = Path(__file__).resolve().parents[3] / "shared" / "demo" / "clinic.yaml"
BUNDLED_DEMO_FILE = Path(__file__).resolve().parent / "clinic.yaml"


def default_demo_file() -> Path:
    return SHARED_DEMO_FILE if SHARED_DEMO_FILE.exists() else BUNDLED_DEMO_FILE


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_RELATIVE = re.compile(r"^D(?P<offset>[+-]\d+)(?:\s+(?P<time>\d{1,2}:\d{2}))?$")
_CLOCK = re.compile(r"^\d{1,2}:\d{2}$")


class SeedError(ValueError):
    """The demo file cannot be loaded; the message names the offending entry."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_clock(value: str) -> str:
    if not _CLOCK.match(value):
        raise ValueError(f"{value!r} is not a time like 09:00")
    hours, minutes = map(int, value.split(":"))
    if hours > 23 or minutes > 59:
        raise ValueError(f"{value!r} is not a time of day")
    return value


def _check_relative(value: str) -> str:
    match = _RELATIVE.match(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a relative date like 'D+3 10:00' or 'D-6'")
    if match.group("time"):
        _check_clock(match.group("time"))
    return value.strip()


# "10:00": a time of day; "D+3 10:00", "D-6": a date (and time) relative to the day the file is loaded.
Clock = Annotated[str, AfterValidator(_check_clock)]
Relative = Annotated[str, AfterValidator(_check_relative)]


class ClinicEntry(_Strict):
    name: str
    region: str = Field(min_length=2, max_length=2)
    timezone: str
    sms_number: str
    voice_number: str
    front_desk_number: str
    address: str
    hours: str
    quiet_hours: dict[Literal["start", "end"], Clock]
    review_url: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class ProviderEntry(_Strict):
    key: str
    name: str
    role: str


class AvailabilityEntry(_Strict):
    days: list[Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]]
    start: Clock
    end: Clock
    slot_minutes: int = Field(gt=0, le=480)


class SpecialistEntry(_Strict):
    key: str
    name: str
    specialty: str
    facility: str
    address: str
    phone: str
    insurance_accepted: list[str]
    availability: AvailabilityEntry
    prep: str | None = None
    prep_es: str | None = None


class InsuranceEntry(_Strict):
    payer: str
    member_id: str


class AuthorizationEntry(_Strict):
    required: bool
    status: AuthorizationStatus | None = None
    submitted: Relative | None = None
    payer_reference: str | None = None


class AppointmentEntry(_Strict):
    id: str
    at: Relative
    status: AppointmentStatus


class ReferralEntry(_Strict):
    id: str
    type: ReferralType
    specialist: str
    referred_by: str | None = None
    reason: str
    priority: ReferralPriority
    status: ReferralStatus
    created: Relative
    authorization: AuthorizationEntry
    appointment: AppointmentEntry | None = None


class PatientEntry(_Strict):
    mrn: str
    name: str
    phone: str
    dob: date
    language: str = "en"
    insurance: InsuranceEntry | None = None
    sms_consent: bool
    referrals: list[ReferralEntry] = []


class BusySlotEntry(_Strict):
    specialist: str
    at: Relative


class FaqEntry(_Strict):
    key: str
    question: str
    examples: list[str]
    answer: str


class DemoFile(_Strict):
    clinic: ClinicEntry
    # Empty in a real clinic's file: its records come in through `relay import` or the EHR sync.
    referring_providers: list[ProviderEntry] = []
    specialists: list[SpecialistEntry] = []
    patients: list[PatientEntry] = []
    busy_slots: list[BusySlotEntry] = []
    faqs: list[FaqEntry] = []


def _label(node: Any) -> str | None:
    if isinstance(node, dict):
        return next((f"{k} {node[k]}" for k in ("mrn", "id", "key") if k in node), None)
    return None


def _describe_location(raw: dict[str, Any], loc: tuple[Any, ...]) -> str:
    """Turn ('patients', 2, 'phone') into "patients[2] (mrn RFH-100047) phone"."""
    parts: list[str] = []
    node: Any = raw
    for step in loc:
        if isinstance(step, int) and isinstance(node, list) and step < len(node):
            node = node[step]
            parts[-1] += f"[{step}]"
        else:
            node = node.get(step) if isinstance(node, dict) else None
            parts.append(str(step))
        if label := _label(node):
            parts[-1] += f" ({label})"
    return " ".join(parts)


def read_demo_file(path: Path) -> DemoFile:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SeedError(f"{path}: no such file") from None
    except yaml.YAMLError as exc:
        raise SeedError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SeedError(f"{path}: expected a mapping at the top level")
    try:
        demo = DemoFile.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{_describe_location(raw, e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise SeedError(f"{path}: " + "; ".join(problems)) from None
    _check_references(demo)
    return demo


def _check_references(demo: DemoFile) -> None:
    specialists = {s.key for s in demo.specialists}
    providers = {p.key for p in demo.referring_providers}
    region = demo.clinic.region
    for field in ("sms_number", "voice_number", "front_desk_number"):
        _phone(getattr(demo.clinic, field), region, f"clinic {field}")
    for spec in demo.specialists:
        _phone(spec.phone, region, f"specialists (key {spec.key}) phone")
    seen_phones: dict[str, str] = {}
    for patient in demo.patients:
        phone = _phone(patient.phone, region, f"patients (mrn {patient.mrn}) phone")
        if phone in seen_phones:
            raise SeedError(f"patients (mrn {patient.mrn}): phone is also used by mrn {seen_phones[phone]}")
        seen_phones[phone] = patient.mrn
        for referral in patient.referrals:
            where = f"patients (mrn {patient.mrn}) referral {referral.id}"
            if referral.specialist not in specialists:
                raise SeedError(f"{where}: unknown specialist {referral.specialist!r}")
            if referral.referred_by and referral.referred_by not in providers:
                raise SeedError(f"{where}: unknown referring provider {referral.referred_by!r}")
    for index, slot in enumerate(demo.busy_slots):
        if slot.specialist not in specialists:
            raise SeedError(f"busy_slots[{index}]: unknown specialist {slot.specialist!r}")
    for unique_field, entries in (
        ("mrn", demo.patients),
        ("key", demo.specialists),
        ("key", demo.faqs),
        ("key", demo.referring_providers),
    ):
        values = [getattr(e, unique_field) for e in entries]
        duplicates = {v for v in values if values.count(v) > 1}
        if duplicates:
            raise SeedError(f"duplicate {unique_field}: {', '.join(sorted(duplicates))}")
    ids = [r.id for p in demo.patients for r in p.referrals]
    ids += [r.appointment.id for p in demo.patients for r in p.referrals if r.appointment]
    if duplicates := {v for v in ids if ids.count(v) > 1}:
        raise SeedError(f"duplicate referral or appointment id: {', '.join(sorted(duplicates))}")


def _phone(raw: str, region: str, where: str) -> str:
    try:
        return to_e164(raw, region)
    except InvalidPhoneNumber as exc:
        raise SeedError(f"{where}: {raw!r} is {exc}") from None


class DemoClock:
    """Resolves the file's relative dates against one 'today' in the clinic's zone."""

    def __init__(self, today: date, tz: str) -> None:
        self.today, self.zone = today, ZoneInfo(tz)

    def day(self, relative: str) -> date:
        match = _RELATIVE.match(relative)
        assert match  # validated on read
        return self.today + timedelta(days=int(match.group("offset")))

    def moment(self, relative: str) -> datetime:
        match = _RELATIVE.match(relative)
        assert match
        clock = time.fromisoformat(match.group("time").zfill(5)) if match.group("time") else time(0, 0)
        return datetime.combine(self.day(relative), clock, tzinfo=self.zone).astimezone(UTC)
