"""Referrals and their appointments."""

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from relay.models.base import Base, Timestamps

REFERRAL_TYPES = ("self", "provider", "emergency", "second_opinion", "follow_up")
REFERRAL_STATUSES = (
    "received",
    "authorization_pending",
    "ready_to_schedule",
    "scheduled",
    "completed",
    "cancelled",
    "no_show",
    "declined",
)
# Statuses in which the patient still has something to do or to wait for.
OPEN_REFERRAL_STATUSES = ("received", "authorization_pending", "ready_to_schedule", "scheduled")
PRIORITIES = ("routine", "urgent", "emergency")
APPOINTMENT_STATUSES = ("scheduled", "confirmed", "cancelled", "completed", "no_show")


class Referral(Timestamps, Base):
    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    specialist_id: Mapped[int] = mapped_column(ForeignKey("specialists.id"))
    referring_provider_id: Mapped[int | None] = mapped_column(ForeignKey("referring_providers.id"))
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(16), default="routine")
    # Clinical detail: never sent by SMS or said on a call (minimum necessary).
    reason: Mapped[str] = mapped_column(String(2000))
    received_on: Mapped[date]
    authorization_required: Mapped[bool] = mapped_column(default=False)
    authorization_status: Mapped[str | None] = mapped_column(String(32))
    authorization_submitted_on: Mapped[date | None]
    authorization_reference: Mapped[str | None] = mapped_column(String(64))

    patient: Mapped["Patient"] = relationship(back_populates="referrals")  # noqa: F821
    specialist: Mapped["Specialist"] = relationship()  # noqa: F821
    referring_provider: Mapped["ReferringProvider | None"] = relationship()  # noqa: F821
    appointments: Mapped[list["Appointment"]] = relationship(back_populates="referral", order_by="Appointment.start_at")

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
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    # Bumped on every change so concurrent edits fail loudly instead of overwriting.
    version: Mapped[int] = mapped_column(default=1)

    referral: Mapped[Referral] = relationship(back_populates="appointments")
    specialist: Mapped["Specialist"] = relationship()  # noqa: F821

    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": version}
