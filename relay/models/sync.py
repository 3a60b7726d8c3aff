"""Where a sync from the EHR's FHIR server has got to, so a crash resumes without gaps."""

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from relay.models.base import Base, Timestamps


class FhirSyncCursor(Timestamps, Base):
    """One row per FHIR server (its base URL) and resource type.

    `since` is the `_lastUpdated` lower bound the current round started from;
    `round_started_at` the server time (or ours) when it started, which becomes
    the next `since` once every page is in. `next_url` is the page to read next
    while a round is under way: a crash between pages resumes there.
    """

    __tablename__ = "fhir_sync_cursors"
    __table_args__ = (UniqueConstraint("base_url", "resource_type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    base_url: Mapped[str] = mapped_column(String(500))
    resource_type: Mapped[str] = mapped_column(String(64))
    since: Mapped[datetime | None]
    round_started_at: Mapped[datetime | None]
    next_url: Mapped[str | None] = mapped_column(Text)
    pages_read: Mapped[int] = mapped_column(default=0)
