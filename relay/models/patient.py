"""Patients and the ledger of their SMS consent."""

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from relay.models.base import Base, Timestamps, utcnow

if TYPE_CHECKING:  # for the relationships' annotations only: the models import each other
    from relay.models.referral import Referral


class Patient(Timestamps, Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    mrn: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # E.164; None when the record has no usable mobile: such a patient is kept but never texted,
    # and `mobile_problem` says why in plain words for staff.
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    mobile_problem: Mapped[str | None] = mapped_column(String(200))
    dob: Mapped[date]
    language: Mapped[str] = mapped_column(String(8), default="en")
    timezone: Mapped[str | None] = mapped_column(String(64))  # None: the clinic's
    insurance_payer: Mapped[str | None] = mapped_column(String(200))
    insurance_member_id: Mapped[str | None] = mapped_column(String(64))
    sms_consent: Mapped[bool] = mapped_column(default=False)
    sms_consent_changed_at: Mapped[datetime | None]
    fhir_id: Mapped[str | None] = mapped_column(String(64), unique=True)  # the EHR's Patient resource id

    referrals: Mapped[list["Referral"]] = relationship(back_populates="patient", order_by="Referral.id")


class ConsentEvent(Base):
    """Every change of SMS consent, with when and where it came from."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id", ondelete="SET NULL"))
    phone: Mapped[str] = mapped_column(String(20), index=True)
    consented: Mapped[bool]
    source: Mapped[str] = mapped_column(String(64))  # e.g. "seed", "sms:STOP", "staff"
    at: Mapped[datetime] = mapped_column(default=utcnow)
