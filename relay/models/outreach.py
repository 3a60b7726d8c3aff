"""Outreach the clinic plans to send; the database row is the truth, RQ only executes."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from relay.models.base import Base, Timestamps, utcnow

OUTREACH_STATES = (
    "planned",
    "queued",
    "sending",
    "sent",
    "delivered",
    "failed",
    "skipped",
    "cancelled",
)


class PlannedOutreach(Timestamps, Base):
    __tablename__ = "planned_outreach"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id"), index=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8), default="sms")
    template: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8), default="en")
    due_at: Mapped[datetime] = mapped_column(index=True)
    valid_until: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(16), default="planned", index=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    error_code: Mapped[str | None] = mapped_column(String(32))
    # Execution bookkeeping (scheduler/): tries so far, when the next retry may
    # go, when it was handed to Twilio, and the stored outbound message.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))

    # Set together with a new message, so that a batch can store both in one flush.
    message: Mapped["Message | None"] = relationship()  # noqa: F821


class ReviewRating(Base):
    """A patient's 1-5 answer to a review request, kept per specialist."""

    __tablename__ = "review_ratings"
    __table_args__ = (UniqueConstraint("outreach_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    specialist_id: Mapped[int] = mapped_column(ForeignKey("specialists.id"), index=True)
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id"))
    outreach_id: Mapped[int | None] = mapped_column(ForeignKey("planned_outreach.id"))
    rating: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
