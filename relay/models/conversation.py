"""Conversations with one phone number, and every message in them."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from relay.models.base import Base, Timestamps, utcnow

if TYPE_CHECKING:  # for the relationships' annotations only: the models import each other
    from relay.models.patient import Patient


class DeliveryStatus(StrEnum):
    """Where an outbound message is: our own steps before Twilio has it, then Twilio's MessageStatus.

    The column keeps Twilio's word as it comes (Twilio may add statuses);
    these are the ones Relay knows and acts on.
    """

    PENDING = "pending"  # stored, being handed to Twilio
    NOT_SENT = "not_sent"  # that attempt did not reach Twilio; the row will try again
    UNCONFIRMED = "unconfirmed"  # a send interrupted halfway that Twilio could not confirm: staff check
    DEV_OUTBOX = "dev_outbox"  # written to the dev outbox instead (no Twilio credentials)
    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELED = "canceled"


def new_public_id() -> str:
    return uuid.uuid4().hex


class Conversation(Timestamps, Base):
    """The thread between the clinic and one phone number.

    `public_id` is the only identifier Rasa ever sees (as the sender id): no
    phone number or name goes into the Rasa tracker store.
    """

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    phone: Mapped[str] = mapped_column(String(20), unique=True)  # E.164
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    verified_at: Mapped[datetime | None]
    failed_verifications: Mapped[int] = mapped_column(default=0)
    locked_at: Mapped[datetime | None]
    needs_staff: Mapped[bool] = mapped_column(default=False)
    last_message_at: Mapped[datetime | None]

    patient: Mapped["Patient | None"] = relationship()
    messages: Mapped[list["Message"]] = relationship(back_populates="conversation", order_by="Message.id")


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    direction: Mapped[str] = mapped_column(String(8))  # inbound | outbound
    channel: Mapped[str] = mapped_column(String(8))  # sms | voice
    author: Mapped[str] = mapped_column(String(16))  # patient | bot | staff | system
    body: Mapped[str] = mapped_column(Text)
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    # Bot replies point at the inbound message they answer, so a retried
    # webhook can be given exactly the same reply again.
    in_reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    # Set on an inbound message once its replies are stored.
    processed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")
