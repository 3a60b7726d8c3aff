"""FAQ entries that admins edit and the bot answers from."""

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from relay.models.base import Base, Timestamps


class Faq(Timestamps, Base):
    __tablename__ = "faqs"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    question: Mapped[str] = mapped_column(String(500))
    examples: Mapped[list] = mapped_column(default=list)
    answer: Mapped[str] = mapped_column(Text)  # English
    # Spanish; empty until an admin writes it (the English answer is used meanwhile).
    answer_es: Mapped[str | None] = mapped_column(Text)
    # A retired entry is kept (the audit log names it) but the bot no longer answers from it.
    retired_at: Mapped[datetime | None]
