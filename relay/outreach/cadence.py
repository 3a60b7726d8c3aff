"""The cadence settings: one YAML file (cadence.yaml next to this module, or
$RELAY_CADENCE_FILE), validated on load and cached per path.

`load_cadence()` is what planning and sending read; `load_cadence.cache_clear()`
forgets what was read (tests that point RELAY_CADENCE_FILE elsewhere).
`daily_cap()` and `rate_limit_per_second()` are the two values the sender
reads, where an `OUTREACH_` setting may override the file (tests, `make bench`).
"""

import os
from datetime import time, timedelta
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from relay.core.settings import get_settings
from relay.models import Clinic
from relay.models.outreach import OutreachKind

DEFAULT_CADENCE_FILE = Path(__file__).with_name("cadence.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuietHours(_Strict):
    start: time | None = None
    end: time | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> "QuietHours":
        if (self.start is None) != (self.end is None):
            raise ValueError("quiet_hours needs both start and end, or neither (the clinic's)")
        return self


class Reminder(_Strict):
    """One reminder before a visit: at a local time some days before, or some hours before."""

    name: str = Field(pattern=r"^[a-z0-9_]{1,8}$")
    days_before: int | None = Field(default=None, ge=1, le=30)
    at: time | None = None
    hours_before: float | None = Field(default=None, gt=0, le=72)
    when_confirmed: bool = True

    @model_validator(mode="after")
    def _one_rule(self) -> "Reminder":
        by_day = self.days_before is not None and self.at is not None
        by_hours = self.hours_before is not None and self.days_before is None and self.at is None
        if by_day == by_hours:
            raise ValueError(f"reminder {self.name!r}: give days_before and at, or hours_before alone")
        return self


class AppointmentCadence(_Strict):
    confirmation: bool = True
    reminders: tuple[Reminder, ...]
    min_lead_minutes: int = Field(default=30, ge=0)

    @field_validator("reminders")
    @classmethod
    def _distinct_names(cls, value: tuple[Reminder, ...]) -> tuple[Reminder, ...]:
        names = [r.name for r in value]
        if len(names) != len(set(names)):
            raise ValueError("reminder names must be distinct (they are part of the idempotency key)")
        return value


class ReferralCadence(_Strict):
    nudges_after_days: tuple[int, ...] = (2, 5)
    leakage_handoff_after_days: int = Field(default=7, ge=0)
    no_show_followup_after_hours: float = Field(default=0, ge=0)
    review_request_after_visit_hours: float = Field(default=2, ge=0)
    emergency_handoff_after_hours: float = Field(default=0, ge=0)


class Cadence(_Strict):
    quiet_hours: QuietHours = QuietHours()
    daily_cap: int = Field(default=3, ge=1)
    rate_limit_per_second: int = Field(default=1, ge=1)
    valid_hours: dict[OutreachKind, float | None]
    appointment: AppointmentCadence
    referral: ReferralCadence = ReferralCadence()

    @field_validator("valid_hours", mode="before")
    @classmethod
    def _known_kinds(cls, value: object) -> object:
        if isinstance(value, dict) and (unknown := set(value) - set(OutreachKind)):
            raise ValueError(f"valid_hours names unknown kinds: {', '.join(sorted(map(str, unknown)))}")
        return value

    def quiet_window(self, clinic: Clinic) -> tuple[time, time]:
        """(start, end) of the quiet hours: the file's, else the clinic's."""
        if self.quiet_hours.start is not None and self.quiet_hours.end is not None:
            return self.quiet_hours.start, self.quiet_hours.end
        return time.fromisoformat(clinic.quiet_hours_start.zfill(5)), time.fromisoformat(
            clinic.quiet_hours_end.zfill(5)
        )

    def validity(self, kind: OutreachKind) -> timedelta | None:
        """How long after its due time a message of this kind may still go (None: no limit)."""
        hours = self.valid_hours.get(kind)
        return None if hours is None else timedelta(hours=hours)

    @property
    def min_lead(self) -> timedelta:
        return timedelta(minutes=self.appointment.min_lead_minutes)


def load_cadence(path: str | Path | None = None) -> Cadence:
    """The cadence from `path`, else $RELAY_CADENCE_FILE, else the packaged cadence.yaml (cached)."""
    chosen = path or get_settings().relay_cadence_file or DEFAULT_CADENCE_FILE
    # abspath, not Path.resolve: this runs for every message sent, and resolve asks the filesystem each time.
    return _load(os.path.abspath(chosen))


@lru_cache(maxsize=8)
def _load(path: str) -> Cadence:
    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: the cadence file must be a mapping")
    return Cadence.model_validate(raw)


load_cadence.cache_clear = _load.cache_clear  # type: ignore[attr-defined]


def daily_cap() -> int:
    """Automated texts per patient per local day: OUTREACH_DAILY_CAP, else the cadence file's."""
    override = get_settings().outreach_daily_cap
    return override if override is not None else load_cadence().daily_cap


def rate_limit_per_second() -> int:
    """Messages per second from one sender: OUTREACH_RATE_LIMIT_PER_SECOND, else the cadence file's (0: off)."""
    override = get_settings().outreach_rate_limit_per_second
    return override if override is not None else load_cadence().rate_limit_per_second
