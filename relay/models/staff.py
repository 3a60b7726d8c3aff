"""Clinic staff who work the handoff queue and edit content, and their console sessions."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from relay.models.base import Base, StrEnumColumn, Timestamps


class StaffRole(StrEnum):
    STAFF = "staff"  # works the handoff queue
    ADMIN = "admin"  # also edits content (FAQs)


class StaffUser(Timestamps, Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[StaffRole] = mapped_column(StrEnumColumn(StaffRole, 16), default=StaffRole.STAFF)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)
    # The TOTP time-step of the last accepted code: the same code cannot be used twice.
    totp_last_step: Mapped[int | None]
    # Failed passwords and codes since the last success; at the limit the account locks for a while.
    failed_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    # Enrolment: sha256 of the one-time link's token (never the token), spent when enrolment completes.
    enrolment_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    enrolment_expires_at: Mapped[datetime | None]

    @property
    def enrolled(self) -> bool:
        return self.password_hash is not None and self.totp_secret is not None and self.enrolment_token_hash is None


class StaffSession(Base):
    """A console session; the browser holds the raw token, the database only its sha256."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # False: the password was right but the TOTP code is still due; such a session can only post the code.
    second_factor_done: Mapped[bool] = mapped_column(default=False)
    ended_at: Mapped[datetime | None]
