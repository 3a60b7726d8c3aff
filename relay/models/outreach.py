"""Outreach the clinic plans to send; the database row is the truth, RQ only executes."""

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from relay.models.base import Base, StrEnumColumn, Timestamps, utcnow

if TYPE_CHECKING:  # for the relationships' annotations only: the models import each other
    from relay.models.conversation import Message


class OutreachKind(StrEnum):
    # Texts (channel sms)
    STATUS_UPDATE = "status_update"
    CONFIRMATION = "confirmation"
    REMINDER = "reminder"
    SCHEDULING_INVITE = "scheduling_invite"
    SCHEDULING_NUDGE = "scheduling_nudge"
    NO_SHOW_FOLLOWUP = "no_show_followup"
    REBOOK_OFFER = "rebook_offer"
    REVIEW_REQUEST = "review_request"
    # Staff work (channel staff): a referral left unbooked becomes a handoff, not a text.
    LEAKAGE_HANDOFF = "leakage_handoff"


class OutreachChannel(StrEnum):
    SMS = "sms"
    STAFF = "staff"


class OutreachState(StrEnum):
    PLANNED = "planned"  # waiting for its due time (or its next attempt)
    QUEUED = "queued"  # handed to RQ by a sweep
    SENDING = "sending"  # claimed by a send job
    SENT = "sent"  # Twilio has it
    DELIVERED = "delivered"  # Twilio's callback says the phone has it
    FAILED = "failed"
    SKIPPED = "skipped"  # never went, and never will (error_code says why)
    CANCELLED = "cancelled"  # the plan no longer wants it


# Why a row was skipped, cancelled or failed: the planner's and the sender's codes, Twilio's error codes.
ERROR_CODE_LENGTH = 32

# Rows planned from an appointment's state; every other kind follows the referral.
APPOINTMENT_KINDS = frozenset({OutreachKind.CONFIRMATION, OutreachKind.REMINDER})
REFERRAL_KINDS = frozenset(OutreachKind) - APPOINTMENT_KINDS
# States the planner may still change (cancel); the rest is settled.
PENDING_STATES = frozenset({OutreachState.PLANNED, OutreachState.QUEUED})
# Texts that reached Twilio: they count toward the patient's daily cap.
SENT_STATES = frozenset({OutreachState.SENT, OutreachState.DELIVERED})


class PlannedOutreach(Timestamps, Base):
    __tablename__ = "planned_outreach"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[OutreachKind] = mapped_column(StrEnumColumn(OutreachKind, 32))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id"), index=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"), index=True)
    channel: Mapped[OutreachChannel] = mapped_column(StrEnumColumn(OutreachChannel, 8), default=OutreachChannel.SMS)
    template: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8), default="en")
    due_at: Mapped[datetime] = mapped_column(index=True)
    valid_until: Mapped[datetime | None]
    state: Mapped[OutreachState] = mapped_column(
        StrEnumColumn(OutreachState, 16), default=OutreachState.PLANNED, index=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    error_code: Mapped[str | None] = mapped_column(String(ERROR_CODE_LENGTH))
    # Execution bookkeeping (scheduler/): tries so far, when the next retry may
    # go, when it was handed to Twilio, and the stored outbound message.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))

    # Set together with a new message, so that a batch can store both in one flush.
    message: Mapped["Message | None"] = relationship()


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
