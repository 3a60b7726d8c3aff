"""The soonest open slots, offered when a patient asks to book without naming a day or time."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from relay.models import Specialist
from relay.scheduling.slots import MIN_LEAD, Block, first_open_slots, soonest_slots
from relay.scheduling.time_windows import TimeWindow
from tests.relay.scheduling.test_slots import _ensure_works_on, _local_hhmm, _specialist, blocks_strategy, oracle_open
from tests.support import DEMO_TZ, demo_moment

TZ = "America/Chicago"
ZONE = ZoneInfo(TZ)
MONDAY = date(2026, 11, 30)
MON_WED_MORNINGS = [Block(0, time(9), time(12), 30), Block(2, time(9), time(12), 30)]


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=ZONE)


def shown(slots: list[datetime]) -> list[str]:
    return [s.astimezone(ZONE).strftime("%a %H:%M") for s in slots]


def test_the_three_earliest_free_slots_after_the_lead_time():
    taken = {local(MONDAY, 10, 30)}
    now = local(MONDAY, 8)  # the lead time makes 10:00 the earliest
    found = first_open_slots(blocks=MON_WED_MORNINGS, taken=taken, now=now, tz=TZ)
    assert shown(found) == ["Mon 10:00", "Mon 11:00", "Mon 11:30"]
    assert all(slot >= now + MIN_LEAD for slot in found)
    assert all(slot.tzinfo is not None and slot.utcoffset() == timedelta(0) for slot in found)


def test_past_the_days_last_slot_the_next_working_day():
    found = first_open_slots(blocks=MON_WED_MORNINGS, taken=set(), now=local(MONDAY, 10, 1), tz=TZ)
    assert shown(found) == ["Wed 09:00", "Wed 09:30", "Wed 10:00"]


def test_across_days_when_a_day_has_fewer_than_three():
    found = first_open_slots(blocks=MON_WED_MORNINGS, taken=set(), now=local(MONDAY, 9, 15), tz=TZ)
    assert shown(found) == ["Mon 11:30", "Wed 09:00", "Wed 09:30"]


def test_limit_and_horizon():
    now = local(MONDAY, 10, 1)  # nothing left on Monday
    assert first_open_slots(blocks=MON_WED_MORNINGS, taken=set(), now=now, tz=TZ, horizon=timedelta(days=1)) == []
    assert shown(first_open_slots(blocks=MON_WED_MORNINGS, taken=set(), now=now, tz=TZ, limit=1)) == ["Wed 09:00"]
    assert first_open_slots(blocks=[], taken=set(), now=now, tz=TZ) == []


def test_a_published_calendar_is_the_grid():
    published = {local(MONDAY + timedelta(days=1), 14): 30, local(MONDAY + timedelta(days=3), 8): 45}
    found = first_open_slots(blocks=MON_WED_MORNINGS, taken=set(), now=local(MONDAY, 8), tz=TZ, published=published)
    assert shown(found) == ["Tue 14:00", "Thu 08:00"]  # not Monday's weekly hours


def test_a_naive_now_is_refused():
    with pytest.raises(ValueError):
        first_open_slots(blocks=MON_WED_MORNINGS, taken=set(), now=datetime(2026, 11, 30, 8), tz=TZ)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    blocks=st.lists(blocks_strategy([0, 1, 2, 3, 4]), min_size=1, max_size=3),
    start_minutes=st.integers(0, 7 * 24 * 60 - 1),
    taken_offsets=st.lists(st.integers(0, 6 * 24 * 12), max_size=12),
    limit=st.integers(1, 4),
)
def test_the_same_as_an_asap_window_through_the_oracle(blocks, start_minutes, taken_offsets, limit):
    now = datetime(2026, 11, 30, tzinfo=UTC) + timedelta(minutes=start_minutes)
    taken = {now + timedelta(minutes=5 * k) for k in taken_offsets}
    horizon = timedelta(days=6)
    window = TimeWindow(start=now, end=now + horizon, preferred=None, label="", asap=True)
    expected = oracle_open(blocks, taken, window, now, TZ, limit, MIN_LEAD)
    assert first_open_slots(blocks=blocks, taken=taken, now=now, tz=TZ, limit=limit, horizon=horizon) == expected


# --- the demo clinic ---------------------------------------------------------


def test_okafor_soonest_skip_james_and_the_busy_slots(db_session):
    okafor = _specialist(db_session, "okafor")
    day = demo_moment(3, "00:00").astimezone(ZoneInfo(DEMO_TZ)).date()
    _ensure_works_on(db_session, okafor, day.weekday(), time(9), time(16), 30)
    now = demo_moment(3, "07:00")  # 09:00 is the first slot past the lead time

    found = soonest_slots(db_session, specialist_id=okafor.id, now=now, tz=DEMO_TZ)

    # 10:00 is James's visit, 10:30 and 11:00 are busy in the demo data.
    assert _local_hhmm(found) == ["09:00", "09:30", "11:30"]
    assert all(slot.astimezone(ZoneInfo(DEMO_TZ)).date() == day for slot in found)


def test_every_demo_specialist_has_three_soonest_slots_in_their_hours(db_session):
    now = datetime.now(UTC)
    for specialist in db_session.scalars(select(Specialist)):
        found = soonest_slots(db_session, specialist_id=specialist.id, now=now, tz=DEMO_TZ)
        assert len(found) == 3, specialist.key
        assert found == sorted(found) and all(slot >= now + MIN_LEAD for slot in found)
        weekdays = {block.weekday for block in specialist.availability}
        assert all(slot.astimezone(ZoneInfo(DEMO_TZ)).weekday() in weekdays for slot in found), specialist.key
