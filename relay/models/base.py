"""Declarative base and the column types every model shares."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, MetaData, String, Table, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware timestamps on every backend.

    PostgreSQL keeps the offset; SQLite keeps none, so values are stored as UTC
    and given back as aware UTC datetimes. Naive datetimes are refused: a naive
    time in this domain is a bug (whose "10:00" is it?).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class StrEnumColumn(TypeDecorator):
    """A StrEnum kept as its value in a VARCHAR.

    The schema stays plain text (no database ENUM type to migrate when a value
    is added), rows read back as the enum's members, and a value outside the
    enum is refused before it reaches the database.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int) -> None:
        super().__init__(length)
        self.enum = enum
        # Plain dictionaries: the bulk planner reads and writes these columns for every row of an import.
        self._members: dict[str, StrEnum] = {member.value: member for member in enum}
        self._texts: dict[str, str] = {member.value: member.value for member in enum}

    def process_bind_param(self, value: str | None, dialect) -> str | None:
        if value is None:
            return None
        try:
            return self._texts[value]
        except KeyError:
            raise ValueError(f"{value!r} is not a {self.enum.__name__}") from None

    def process_result_value(self, value: str | None, dialect) -> StrEnum | None:
        return None if value is None else self._members[value]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[type, type[TypeEngine[Any]]]] = {datetime: UTCDateTime, dict: JSON, list: JSON}


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=func.now())


def table_of(model: type[Base]) -> Table:
    """A model's table as the Table it is, for Core statements (the ORM types `__table__` as any FROM clause)."""
    return Base.metadata.tables[model.__tablename__]
