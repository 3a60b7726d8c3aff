"""Referrals and their appointments, and the words for their types and states."""

from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from relay.models.base import Base, StrEnumColumn, Timestamps

if TYPE_CHECKING:  # for the relationships' annotations only: the models import each other
    from relay.models.clinic import ReferringProvider
    from relay.models.patient import Patient
    from relay.models.specialist import Specialist


class ReferralType(StrEnum):
    SELF = "self"
    PROVIDER = "provider"
    EMERGENCY = "emergency"
    SECOND_OPINION = "second_opinion"
    FOLLOW_UP = "follow_up"


class ReferralStatus(StrEnum):
    RECEIVED = "received"
    AUTHORIZATION_PENDING = "authorization_pending"
    READY_TO_SCHEDULE = "ready_to_schedule"
    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    DECLINED = "declined"


class ReferralPriority(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class AuthorizationStatus(StrEnum):
    APPROVED = "approved"
    PENDING = "pending"
    DENIED = "denied"


class AppointmentStatus(StrEnum):
    SCHEDULED = "scheduled"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    NO_SHOW = "no_show"


# Statuses in which the patient still has something to do or to wait for.
OPEN_REFERRAL_STATUSES = frozenset(
    {
        ReferralStatus.RECEIVED,
        ReferralStatus.AUTHORIZATION_PENDING,
        ReferralStatus.READY_TO_SCHEDULE,
        ReferralStatus.SCHEDULED,
    }
)
# Appointments that hold their slot and that the patient is expected at.
LIVE_APPOINTMENT_STATUSES = frozenset({AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED})


def is_emergency(referral_type: str, priority: str) -> bool:
    """An emergency referral, by its type or its priority: never self-scheduled, staff call the patient."""
    return referral_type == ReferralType.EMERGENCY or priority == ReferralPriority.EMERGENCY


class Referral(Timestamps, Base):
    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    specialist_id: Mapped[int] = mapped_column(ForeignKey("specialists.id"))
    referring_provider_id: Mapped[int | None] = mapped_column(ForeignKey("referring_providers.id"))
    type: Mapped[ReferralType] = mapped_column(StrEnumColumn(ReferralType, 32))
    status: Mapped[ReferralStatus] = mapped_column(StrEnumColumn(ReferralStatus, 32))
    priority: Mapped[ReferralPriority] = mapped_column(
        StrEnumColumn(ReferralPriority, 16), default=ReferralPriority.ROUTINE
    )
    # Clinical detail: never sent by SMS or said on a call (minimum necessary).
    reason: Mapped[str] = mapped_column(String(2000))
    received_on: Mapped[date]
    authorization_required: Mapped[bool] = mapped_column(default=False)
    authorization_status: Mapped[AuthorizationStatus | None] = mapped_column(StrEnumColumn(AuthorizationStatus, 32))
    authorization_submitted_on: Mapped[date | None]
    authorization_reference: Mapped[str | None] = mapped_column(String(64))
    # The EHR's ServiceRequest id and status (active, on-hold, ...), from which the status is derived.
    fhir_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    ehr_status: Mapped[str | None] = mapped_column(String(32))

    patient: Mapped["Patient"] = relationship(back_populates="referrals")
    specialist: Mapped["Specialist"] = relationship()
    referring_provider: Mapped["ReferringProvider | None"] = relationship()
    appointments: Mapped[list["Appointment"]] = relationship(back_populates="referral", order_by="Appointment.start_at")

    @property
    def is_emergency(self) -> bool:
        return is_emergency(self.type, self.priority)

    @property
    def current_appointment(self) -> "Appointment | None":
        """The most recent appointment, which is the one the status talks about."""
        return self.appointments[-1] if self.appointments else None


class Appointment(Timestamps, Base):
    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id"), index=True)
    specialist_id: Mapped[int] = mapped_column(ForeignKey("specialists.id"))
    start_at: Mapped[datetime]
    duration_minutes: Mapped[int] = mapped_column(default=30)
    status: Mapped[AppointmentStatus] = mapped_column(
        StrEnumColumn(AppointmentStatus, 16), default=AppointmentStatus.SCHEDULED
    )
    # Bumped on every change so concurrent edits fail loudly instead of overwriting.
    version: Mapped[int] = mapped_column(default=1)
    fhir_id: Mapped[str | None] = mapped_column(String(64), unique=True)  # the EHR's Appointment id
    # The version the EHR has: equal to `version` when the EHR knows this state (it sent it, or we
    # wrote it back); otherwise a change made in Relay is waiting to be written back.
    ehr_synced_version: Mapped[int | None]

    referral: Mapped[Referral] = relationship(back_populates="appointments")
    specialist: Mapped["Specialist"] = relationship()

    # Read-only (SQLAlchemy copies it): a class attribute shared by every instance must not be mutable.
    __mapper_args__ = MappingProxyType({"version_id_col": version})
