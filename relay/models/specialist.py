"""The in-network directory: specialists, their weekly hours and taken slots."""

from datetime import datetime, time

from sqlalchemy import ForeignKey, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from relay.models.base import Base, Timestamps


class Specialist(Timestamps, Base):
    __tablename__ = "specialists"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    specialty: Mapped[str] = mapped_column(String(100))
    facility: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300))
    phone: Mapped[str] = mapped_column(String(20))
    insurance_accepted: Mapped[list] = mapped_column(default=list)
    prep: Mapped[str | None] = mapped_column(String(1000))
    # The same in Spanish, for patients who speak it; without it they get `prep`, marked as English.
    prep_es: Mapped[str | None] = mapped_column(String(1000))
    # The EHR's Practitioner and PractitionerRole ids, and where they see patients (facility, address
    # and phone above are copied from it, so everything that reads a specialist reads one row).
    fhir_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    fhir_role_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))

    availability: Mapped[list["WeeklyAvailability"]] = relationship(
        back_populates="specialist", cascade="all, delete-orphan", order_by="WeeklyAvailability.weekday"
    )


class Location(Timestamps, Base):
    """Where specialists see patients, as the EHR publishes it (FHIR Location)."""

    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    fhir_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(20))


class PublishedSlot(Base):
    """A slot the EHR publishes for a specialist (FHIR Schedule/Slot).

    A specialist with published slots is booked only into their free ones,
    instead of slots laid out from weekly hours; a slot taken in Relay is still
    a BookedSlot, so booking stays the same atomic insert.
    """

    __tablename__ = "published_slots"
    __table_args__ = (UniqueConstraint("specialist_id", "start_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # the Slot's identifier or resource id
    specialist_id: Mapped[int] = mapped_column(ForeignKey("specialists.id", ondelete="CASCADE"), index=True)
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    free: Mapped[bool]


class WeeklyAvailability(Base):
    """One working block on one weekday (0 = Monday), in the clinic's time zone."""

    __tablename__ = "weekly_availability"
    __table_args__ = (UniqueConstraint("specialist_id", "weekday", "start_time"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    specialist_id: Mapped[int] = mapped_column(ForeignKey("specialists.id", ondelete="CASCADE"))
    weekday: Mapped[int]
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    slot_minutes: Mapped[int]

    specialist: Mapped[Specialist] = relationship(back_populates="availability")


class BookedSlot(Base):
    """A specialist's slot that is taken, by one of our appointments or by someone else.

    The unique constraint is what makes booking atomic: two patients racing for
    the same slot both try to insert, and the database lets exactly one win.
    """

    __tablename__ = "booked_slots"
    __table_args__ = (UniqueConstraint("specialist_id", "start_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    specialist_id: Mapped[int] = mapped_column(ForeignKey("specialists.id", ondelete="CASCADE"))
    start_at: Mapped[datetime]
    # Null for slots held by patients outside Relay (the directory's busy slots).
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"), unique=True)
