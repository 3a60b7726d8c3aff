"""The clinic running Relay and the providers who refer patients to it."""

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from relay.models.base import Base, Timestamps


class Clinic(Timestamps, Base):
    """Clinic-wide settings; one row per deployment."""

    __tablename__ = "clinics"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64))
    sms_number: Mapped[str] = mapped_column(String(20))
    voice_number: Mapped[str] = mapped_column(String(20))
    front_desk_number: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(300))
    hours: Mapped[str] = mapped_column(String(200))
    quiet_hours_start: Mapped[str] = mapped_column(String(5), default="20:00")
    quiet_hours_end: Mapped[str] = mapped_column(String(5), default="08:00")
    review_url: Mapped[str | None] = mapped_column(String(500))


class ReferringProvider(Timestamps, Base):
    __tablename__ = "referring_providers"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(100))
    fhir_id: Mapped[str | None] = mapped_column(String(64), unique=True)
