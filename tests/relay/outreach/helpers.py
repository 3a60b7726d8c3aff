"""Helpers the outreach tests share: a fixed clock on the demo clinic, the plan as rows, free slots."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from relay.models import PlannedOutreach, Referral
from relay.scheduling.slots import offer_slots
from relay.scheduling.time_windows import TimeWindow
from tests.support import DEMO_TZ, demo_moment, demo_today

NOW = demo_moment(0, "11:00")  # inside allowed hours


def referral(session, external_id: str) -> Referral:
    return session.scalars(select(Referral).filter_by(external_id=external_id)).one()


def rows(session, ref: Referral) -> list[PlannedOutreach]:
    return list(
        session.scalars(
            select(PlannedOutreach).filter_by(referral_id=ref.id).order_by(PlannedOutreach.due_at, PlannedOutreach.id)
        )
    )


def plan(session, ref: Referral) -> list[tuple[str, str, str | None]]:
    return [(r.idempotency_key.split(":ref")[0].split(":appt")[0], r.state, r.error_code) for r in rows(session, ref)]


def snapshot(session) -> list[tuple]:
    return [
        (r.idempotency_key, r.state, r.error_code, r.due_at, r.valid_until)
        for r in session.scalars(select(PlannedOutreach).order_by(PlannedOutreach.id))
    ]


def free_slots(session, specialist_id: int, count: int, *, from_day: int = 4) -> list[datetime]:
    zone = ZoneInfo(DEMO_TZ)
    first = demo_today() + timedelta(days=from_day)
    window = TimeWindow(
        start=datetime.combine(first, time(11, 0), tzinfo=zone),
        end=datetime.combine(first + timedelta(days=14), time.min, tzinfo=zone),
        preferred=None,
        label="test",
    )
    offer = offer_slots(session, specialist_id=specialist_id, window=window, now=NOW, tz=DEMO_TZ, limit=count)
    assert len(offer.slots) == count
    return offer.slots
