"""Phone calls to the clinic number, and each turn of what was said in them.

No recording and no audio is ever kept: a call is its timing, its outcome and
the turns (the caller's words are Messages in the conversation, shared with
SMS, so staff read one timeline).
"""

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from relay.models.base import Base, StrEnumColumn, Timestamps, utcnow

if TYPE_CHECKING:  # for the relationships' annotations only: the models import each other
    from relay.models.conversation import Conversation


class CallOutcome(StrEnum):
    """How a call went, for reports; set as the call goes, final once it has ended."""

    TRANSFERRED = "transferred"  # put through to the front desk, who answered
    TRANSFER_UNANSWERED = "transfer_unanswered"  # put through, nobody answered: staff call back (handoff)
    EMERGENCY = "emergency"  # told to hang up and dial 911 / 988; urgent handoff
    CALLBACK = "callback"  # the bot was too slow; told a team member will call back (handoff)
    COMPLETED_BY_BOT = "completed_by_bot"  # the bot said goodbye and hung up
    CALLER_HUNG_UP = "caller_hung_up"  # the caller ended the call with the bot
    NOT_CONNECTED = "not_connected"  # busy, failed or cancelled before the call was up


class Call(Timestamps, Base):
    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    # None for a caller whose number is withheld: no conversation to share.
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    duration_seconds: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), default="in-progress")  # Twilio's CallStatus
    outcome: Mapped[CallOutcome | None] = mapped_column(StrEnumColumn(CallOutcome, 32))

    conversation: Mapped["Conversation | None"] = relationship()
    turns: Mapped[list["CallTurn"]] = relationship(back_populates="call", order_by="CallTurn.turn")


class CallTurn(Base):
    """One request from Twilio in a call (turn 0 is the call arriving) and what we answered.

    The unique (call, turn) makes a retried webhook a replay: `reply` holds the
    step that was answered (what was said, then gather / dial / hangup).
    """

    __tablename__ = "call_turns"
    __table_args__ = (UniqueConstraint("call_id", "turn"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), index=True)
    turn: Mapped[int]
    # call | speech | dtmf | silence | unclear (speech below the confidence threshold)
    input: Mapped[str] = mapped_column(String(8))
    confidence: Mapped[float | None]
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    reply: Mapped[dict | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]

    call: Mapped[Call] = relationship(back_populates="turns")
