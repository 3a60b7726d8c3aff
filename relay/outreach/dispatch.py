"""What the sweep asks of the plan: due rows handed over, rows whose job may be lost, the next due time.

The rows are the truth; RQ (scheduler/) only executes them. Each question is
one or two statements, safe with several sweeps at once: a due row moves to
`queued` in one conditional UPDATE ... RETURNING, so exactly one sweep gets it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update

from relay.core.db import session_scope
from relay.models import PlannedOutreach
from relay.models.outreach import OutreachState


@dataclass(frozen=True)
class DueRows:
    rows: list[tuple[int, int]]  # (id, attempts) of the rows now `queued`, longest due first
    left_due: bool  # due rows stayed planned because `batch_size` rows were queued already


def take_due_rows(now: datetime, *, batch_size: int) -> DueRows:
    """Move due rows (planned, due, retry time reached) to `queued`, topping the queued ones up to `batch_size`.

    Back-pressure: the rest stays `planned` in the database, where the planner
    can still cancel it with one UPDATE and where a lost Redis loses nothing.
    """
    row = PlannedOutreach
    due = (
        row.state == OutreachState.PLANNED,
        row.due_at <= now,
        or_(row.next_attempt_at.is_(None), row.next_attempt_at <= now),
    )
    with session_scope() as session:
        room = batch_size - session.execute(select(func.count()).where(row.state == OutreachState.QUEUED)).scalar_one()
        ids = session.scalars(select(row.id).where(*due).order_by(row.due_at, row.id).limit(max(room, 0) + 1)).all()
        left_due = len(ids) > room
        ids = ids[: max(room, 0)]
        if not ids:
            return DueRows([], left_due)
        claimed = session.execute(
            update(row)
            .where(row.id.in_(ids), *due)
            .values(state=OutreachState.QUEUED, updated_at=now)
            .returning(row.id, row.attempts)
            .execution_options(synchronize_session=False)
        ).all()
    # RETURNING comes back in no particular order (PostgreSQL); the longest-due first.
    position = {outreach_id: n for n, outreach_id in enumerate(ids)}
    return DueRows(sorted(((i, a) for i, a in claimed), key=lambda pair: position[pair[0]]), left_due)


def queued_since(cutoff: datetime) -> list[tuple[int, int, datetime]]:
    """(id, attempts, queued at) of rows `queued` at or before `cutoff`: their job may have been lost."""
    row = PlannedOutreach
    with session_scope() as session:
        return [
            (outreach_id, attempts, queued_at)
            for outreach_id, attempts, queued_at in session.execute(
                select(row.id, row.attempts, row.updated_at).where(
                    row.state == OutreachState.QUEUED, row.updated_at <= cutoff
                )
            ).all()
        ]


def next_due_time(now: datetime, *, within: timedelta) -> datetime | None:
    """The earliest moment after `now`, and within `within`, when a planned row comes due (or may be retried)."""
    row = PlannedOutreach
    horizon = now + within
    with session_scope() as session:
        # Two indexed MINs rather than one over greatest(due_at, next_attempt_at), which SQLite
        # spells differently; taking the earlier only risks a sweep that finds nothing yet.
        candidates = [
            session.scalar(
                select(func.min(column)).where(row.state == OutreachState.PLANNED, column > now, column <= horizon)
            )
            for column in (row.due_at, row.next_attempt_at)
        ]
    upcoming = [moment for moment in candidates if moment is not None]
    return min(upcoming) if upcoming else None
