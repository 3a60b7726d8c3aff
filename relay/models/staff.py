"""Clinic staff who work the handoff queue and edit content."""

from enum import StrEnum

from sqlalchemy import String
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
