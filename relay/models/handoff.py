"""Conversations handed from the bot to a person on the staff."""

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from relay.models.base import Base, StrEnumColumn, Timestamps, utcnow

if TYPE_CHECKING:  # for the relationships' annotations only: the models import each other
    from relay.models.conversation import Conversation


class HandoffStatus(StrEnum):
    OPEN = "open"  # staff have the conversation; the bot stays silent
    RESOLVED = "resolved"  # handed back to the bot


class HandoffPriority(StrEnum):
    """Most urgent first: the queue is worked in this order."""

    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"

    @property
    def rank(self) -> int:
        return list(HandoffPriority).index(self)


class Handoff(Timestamps, Base):
    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"))
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id"))
    status: Mapped[HandoffStatus] = mapped_column(
        StrEnumColumn(HandoffStatus, 16), default=HandoffStatus.OPEN, index=True
    )
    priority: Mapped[HandoffPriority] = mapped_column(
        StrEnumColumn(HandoffPriority, 16), default=HandoffPriority.NORMAL
    )
    reason: Mapped[str] = mapped_column(String(64))  # a code such as "rasa_unavailable"
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    # When the patient was told a person will answer; while a handoff is open the
    # bot stays silent, and this makes the "we'll reply soon" go out only once.
    acknowledged_at: Mapped[datetime | None]
    # The staff member who claimed the conversation; a second claim is refused while it is open.
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    claimed_at: Mapped[datetime | None]
    # How staff left it when handing the conversation back to the bot.
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    resolution_note: Mapped[str | None] = mapped_column(String(500))

    conversation: Mapped["Conversation"] = relationship()
