"""Open slots: property tests against an independent oracle, DST examples, and the demo clinic."""

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from relay.models import Specialist, WeeklyAvailability
from relay.scheduling.slots import Block, nearest_open_slots, offer_slots, open_slots, slot_block
from relay.scheduling.time_windows import AFTERNOON, EVENING, MORNING, TimeWindow, parse_time_request
from tests.support import DEMO_TZ, demo_moment, demo_today

TZS = ["America/Chicago", "America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe"]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)  # every zone here is a whole multiple of 5 minutes off UTC


def _transition_days(tz: str) -> list[date]:
    """Days in 2026-2027 on which the zone's UTC offset changes (none for Kolkata)."""
    zone = ZoneInfo(tz)
    day, found = date(2026, 1, 1), []
    while day < date(2028, 1, 1):
        before = datetime.combine(day, time(0), tzinfo=zone).utcoffset()
        after = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).utcoffset()
        if before != after:
            found.append(day)
        day += timedelta(days=1)
    return found or [date(2026, 3, 8), date(2026, 11, 1)]


ANCHOR_DAYS = {tz: _transition_days(tz) for tz in TZS}


def test_the_anchors_really_are_dst_changes():
    assert date(2026, 11, 1) in ANCHOR_DAYS["America/Chicago"]
    assert date(2027, 3, 14) in ANCHOR_DAYS["America/Chicago"]
    assert date(2026, 10, 4) in ANCHOR_DAYS["Australia/Lord_Howe"]  # the 30-minute change


# --- an independent oracle ---------------------------------------------------


def _ceil_to_step(moment: datetime) -> datetime:
    micros = (moment.astimezone(UTC) - EPOCH) // timedelta(microseconds=1)
    step = STEP // timedelta(microseconds=1)
    return EPOCH + timedelta(microseconds=-(-micros // step) * step)


def oracle_grid(blocks: list[Block], tz: str, lo: datetime, hi: datetime) -> list[datetime]:
    """Every grid slot in [lo, hi), found by walking UTC in 5-minute steps and reading the wall clock.

    Written differently from the code under test on purpose: it never builds a
    local time, it only looks at what the clock on the wall shows at each instant.
    """
    zone = ZoneInfo(tz)
    found, moment = [], _ceil_to_step(lo)
    while moment < hi:
        wall = moment.astimezone(zone)
        repeated = wall.fold == 1 and wall.replace(fold=0).astimezone(UTC) != moment
        minute = wall.hour * 60 + wall.minute
        if not repeated and any(_on_grid(block, wall.weekday(), minute) for block in blocks):
            found.append(moment)
        moment += STEP
    return found


def _on_grid(block: Block, weekday: int, minute: int) -> bool:
    start = block.start.hour * 60 + block.start.minute
    end = block.end.hour * 60 + block.end.minute
    offset = minute - start
    return (
        weekday == block.weekday
        and offset >= 0
        and offset % block.slot_minutes == 0
        and minute + block.slot_minutes <= end
    )


def oracle_open(blocks, taken, window, now, tz, limit, min_lead) -> list[datetime]:
    zone = ZoneInfo(tz)
    taken_utc = {t.astimezone(UTC) for t in taken}
    lo = max(window.start.astimezone(UTC), (now + min_lead).astimezone(UTC))
    valid = []
    for slot in oracle_grid(blocks, tz, lo, window.end.astimezone(UTC)):
        wall = slot.astimezone(zone)
        if slot in taken_utc:
            continue
        if window.days is not None and wall.date() not in window.days:
            continue
        if window.part_of_day is not None and not (window.part_of_day[0] <= wall.time() < window.part_of_day[1]):
            continue
        valid.append(slot)
    if window.preferred is not None and not window.asap:
        preferred = window.preferred.astimezone(UTC)
        valid.sort(key=lambda s: (abs(s - preferred), s))
    return valid[:limit]


# --- strategies --------------------------------------------------------------

five_minutes = lambda lo, hi: st.integers(lo // 5, hi // 5).map(lambda k: k * 5)  # noqa: E731


@st.composite
def blocks_strategy(draw, weekdays: list[int]) -> Block:
    slot_minutes = draw(st.sampled_from([5, 10, 15, 20, 25, 30, 45, 50, 60, 90]))
    # Half the blocks start in the small hours, where the DST changes happen.
    start = draw(st.one_of(five_minutes(0, 23 * 60 + 50), five_minutes(0, 4 * 60)))
    length = slot_minutes * draw(st.integers(1, 24)) + draw(st.sampled_from([0, 0, 5, 10]))
    end = min(start + length, 23 * 60 + 55)
    return Block(
        # Mostly the given weekdays, so that blocks meet the window.
        weekday=draw(st.one_of(st.sampled_from(weekdays), st.sampled_from(weekdays), st.integers(0, 6))),
        start=time(start // 60, start % 60),
        end=time(end // 60, end % 60),
        slot_minutes=slot_minutes,
    )


def _clock(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


parts_of_day = st.one_of(
    st.none(),
    st.none(),
    st.sampled_from([MORNING, AFTERNOON, EVENING, (time(15), time.max), (time.min, time(12)), (time(0, 30), time(3))]),
    st.tuples(five_minutes(0, 12 * 60), five_minutes(12 * 60 + 5, 23 * 60 + 55)).map(
        lambda p: (_clock(p[0]), _clock(p[1]))
    ),
)


@st.composite
def scenarios(draw):
    tz = draw(st.sampled_from(TZS))
    zone = ZoneInfo(tz)
    anchor_day = draw(st.sampled_from(ANCHOR_DAYS[tz]))
    anchor = datetime.combine(anchor_day, time(0), tzinfo=zone).astimezone(UTC)
    # now falls in the three days before the change or on its morning; windows usually span it.
    now = anchor + timedelta(
        minutes=draw(st.integers(-3 * 24 * 60, 12 * 60)),
        seconds=draw(st.integers(0, 59)),
        microseconds=draw(st.sampled_from([0, 1, 999_999])),
    )
    now = now.astimezone(draw(st.sampled_from([UTC, zone, timezone(timedelta(hours=-3))])))
    start = now + timedelta(minutes=draw(st.integers(-12 * 60, 24 * 60)))
    end = start + timedelta(minutes=draw(st.one_of(st.integers(0, 5 * 24 * 60), st.integers(24 * 60, 5 * 24 * 60))))
    preferred = draw(st.none() | st.integers(-24 * 60, 6 * 24 * 60).map(lambda m: start + timedelta(minutes=m)))
    local_days = sorted({(start + timedelta(days=n)).astimezone(zone).date() for n in range(6)})
    days = draw(
        st.none() | st.none() | st.sets(st.sampled_from(local_days), min_size=1).map(lambda s: tuple(sorted(s)))
    )
    window = TimeWindow(
        start=start.astimezone(zone),
        end=end.astimezone(draw(st.sampled_from([UTC, zone]))),
        preferred=preferred,
        label="test",
        asap=draw(st.booleans()),
        part_of_day=draw(parts_of_day),
        days=days,
    )
    # Blocks mostly on the window's own weekdays, and on the day of the change.
    hours = max(1, int((end - start).total_seconds() // 3600))
    in_window = {(start + timedelta(hours=h)).astimezone(zone).weekday() for h in range(0, hours, 6)}
    near_change = sorted(in_window | {anchor_day.weekday()})
    return {
        "tz": tz,
        "now": now,
        "window": window,
        "blocks": draw(st.lists(blocks_strategy(near_change), min_size=1, max_size=4)),
        "limit": draw(st.integers(0, 6)),
        "min_lead": timedelta(minutes=draw(st.integers(0, 180))),
    }


def _taken_from(data, candidates: list[datetime], tz: str) -> set[datetime]:
    """Some real grid slots (in assorted zones, so only the instant matches) and some noise."""
    zones = [UTC, ZoneInfo(tz), timezone(timedelta(hours=5, minutes=45))]
    chosen = data.draw(st.sets(st.sampled_from(candidates), max_size=8)) if candidates else set()
    near = st.integers(-(10**6), 10**6).map(lambda s: candidates[0] + timedelta(seconds=s))
    noise = data.draw(st.sets(near, max_size=3)) if candidates else set()
    return {moment.astimezone(data.draw(st.sampled_from(zones))) for moment in chosen | noise}


PROPERTY_SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_open_slots_are_exactly_the_best_free_slots_of_the_window(scenario, data):
    tz, now, window, blocks = scenario["tz"], scenario["now"], scenario["window"], scenario["blocks"]
    limit, min_lead = scenario["limit"], scenario["min_lead"]
    earliest = max(window.start.astimezone(UTC), (now + min_lead).astimezone(UTC))
    grid = oracle_grid(blocks, tz, earliest, window.end.astimezone(UTC))
    taken = _taken_from(data, grid, tz)
    zone = ZoneInfo(tz)

    offered = open_slots(blocks=blocks, taken=taken, window=window, now=now, tz=tz, limit=limit, min_lead=min_lead)

    taken_utc = {t.astimezone(UTC) for t in taken}
    grid_set = set(grid)
    assert len(offered) <= limit
    assert len(set(offered)) == len(offered), "duplicated slot"
    for slot in offered:
        assert slot.tzinfo == UTC
        assert slot >= now + min_lead, "in the past or too soon"
        assert slot in grid_set, "outside availability or off the slot grid"
        assert slot not in taken_utc, "taken"
        assert window.start <= slot < window.end, "outside the window"
        wall = slot.astimezone(zone)
        if window.part_of_day is not None:
            assert window.part_of_day[0] <= wall.time() < window.part_of_day[1], "outside the part of day"
        if window.days is not None:
            assert wall.date() in window.days, "on a day not asked for"
    if window.preferred is not None and not window.asap:
        keys = [(abs(s - window.preferred), s) for s in offered]
        assert keys == sorted(keys), "not nearest-first"
    else:
        assert offered == sorted(offered), "not earliest-first"
    # And nothing better was left out.
    assert offered == oracle_open(blocks, taken, window, now, tz, limit, min_lead)


@PROPERTY_SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_nearest_alternatives_are_real_free_slots_nearest_first(scenario, data):
    tz, now, window, blocks = scenario["tz"], scenario["now"], scenario["window"], scenario["blocks"]
    limit, min_lead = scenario["limit"], scenario["min_lead"]
    horizon = timedelta(days=3)
    earliest = (now + min_lead).astimezone(UTC)
    latest = max(window.end.astimezone(UTC), earliest) + horizon
    grid = oracle_grid(blocks, tz, earliest, latest)
    taken = _taken_from(data, grid, tz)
    taken_utc = {t.astimezone(UTC) for t in taken}

    found = nearest_open_slots(
        blocks=blocks, taken=taken, window=window, now=now, tz=tz, limit=limit, min_lead=min_lead, horizon=horizon
    )

    free = [s for s in grid if s not in taken_utc]
    assert found == sorted(set(found)), "alternatives are listed in time order, once"
    assert set(found) <= set(free)
    assert len(found) == min(limit, len(free))
    if window.preferred is not None:
        # Nothing skipped was nearer to the preferred time than what was offered.
        target = window.preferred.astimezone(UTC)
        if found:
            worst = max(abs(s - target) for s in found)
            assert all(abs(s - target) >= worst for s in free if s not in found)


@settings(max_examples=200, deadline=None)
@given(scenario=scenarios())
def test_slot_block_recognises_exactly_the_grid(scenario):
    tz, blocks, now = scenario["tz"], scenario["blocks"], scenario["now"]
    grid = oracle_grid(blocks, tz, now, now + timedelta(days=2))
    grid_set = set(grid)
    for slot in grid:
        assert slot_block(blocks=blocks, start_at=slot, tz=tz) is not None
        nudged = slot + timedelta(minutes=5)
        if nudged not in grid_set and nudged < now + timedelta(days=2):
            assert slot_block(blocks=blocks, start_at=nudged, tz=tz) is None


# --- worked examples ---------------------------------------------------------


def whole_day(day: date, tz: str, **extra) -> TimeWindow:
    zone = ZoneInfo(tz)
    return TimeWindow(
        start=datetime.combine(day, time.min, tzinfo=zone),
        end=datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone),
        preferred=extra.pop("preferred", None),
        label="test",
        **extra,
    )


LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tz", "day", "block", "expected_utc"),
    [
        # Fall back: 01:00 happens twice and is one slot, at its first occurrence.
        ("America/Chicago", date(2026, 11, 1), Block(6, time(0), time(4), 60), ["05:00", "06:00", "08:00", "09:00"]),
        # Spring forward: 02:00 and 02:30 don't exist that night.
        ("America/Chicago", date(2027, 3, 14), Block(6, time(1), time(4), 30), ["07:00", "07:30", "08:00", "08:30"]),
        # Lord Howe moves its clocks by 30 minutes.
        ("Australia/Lord_Howe", date(2026, 10, 4), Block(6, time(1), time(3), 30), ["14:30", "15:00", "15:30"]),
    ],
)
def test_slots_across_dst_changes(tz, day, block, expected_utc):
    offered = open_slots(blocks=[block], taken=set(), window=whole_day(day, tz), now=LONG_AGO, tz=tz, limit=10)
    assert [s.strftime("%H:%M") for s in offered] == expected_utc


def test_a_slot_is_taken_whatever_zone_it_is_written_in():
    tz = "America/Chicago"
    block = Block(0, time(9), time(11), 30)
    taken = {
        datetime(2026, 11, 30, 9, 30, tzinfo=ZoneInfo(tz)),
        datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
    }  # 09:30 and 10:00
    offered = open_slots(
        blocks=[block], taken=taken, window=whole_day(date(2026, 11, 30), tz), now=LONG_AGO, tz=tz, limit=10
    )
    assert [s.astimezone(ZoneInfo(tz)).strftime("%H:%M") for s in offered] == ["09:00", "10:30"]


def test_a_taken_slot_in_the_repeated_hour_is_taken_when_written_in_local_time():
    # Aware datetimes in different zones never compare equal inside a DST fold (PEP 495),
    # so a taken 01:30 CDT written in Chicago time must be compared as an instant.
    tz = "America/Chicago"
    taken = {datetime(2026, 11, 1, 1, 30, fold=0, tzinfo=ZoneInfo(tz))}
    window = whole_day(date(2026, 11, 1), tz)
    offered = open_slots(blocks=[Block(6, time(1), time(2), 30)], taken=taken, window=window, now=LONG_AGO, tz=tz)
    assert [s.strftime("%H:%M") for s in offered] == ["06:00"]  # 01:00 CDT only


def test_part_of_day_end_is_exclusive():
    tz = "America/Chicago"
    window = whole_day(date(2026, 11, 30), tz, part_of_day=MORNING)
    offered = open_slots(blocks=[Block(0, time(11), time(13), 60)], taken=set(), window=window, now=LONG_AGO, tz=tz)
    assert [s.astimezone(ZoneInfo(tz)).strftime("%H:%M") for s in offered] == ["11:00"]


def test_preferred_time_orders_by_closeness_then_earlier():
    tz = "America/Chicago"
    block = Block(0, time(9), time(16), 30)
    window = whole_day(date(2026, 11, 30), tz, preferred=datetime(2026, 11, 30, 10, 30, tzinfo=ZoneInfo(tz)))
    taken = {datetime(2026, 11, 30, 10, 30, tzinfo=ZoneInfo(tz))}
    offered = open_slots(blocks=[block], taken=taken, window=window, now=LONG_AGO, tz=tz, limit=4)
    assert [s.astimezone(ZoneInfo(tz)).strftime("%H:%M") for s in offered] == ["10:00", "11:00", "09:30", "11:30"]


def test_nothing_within_the_lead_time():
    tz = "America/Chicago"
    now = datetime(2026, 11, 30, 9, 1, tzinfo=ZoneInfo(tz))
    window = whole_day(date(2026, 11, 30), tz)
    offered = open_slots(blocks=[Block(0, time(9), time(13), 30)], taken=set(), window=window, now=now, tz=tz)
    assert [s.astimezone(ZoneInfo(tz)).strftime("%H:%M") for s in offered] == ["11:30", "12:00", "12:30"]


def test_nearest_alternatives_around_a_day_without_hours():
    tz = "America/Chicago"
    zone = ZoneInfo(tz)
    blocks = [Block(d, time(9), time(16), 30) for d in range(4)]  # Mon-Thu, like Dr. Okafor
    saturday = whole_day(date(2026, 12, 5), tz)
    now = datetime(2026, 11, 30, 9, 15, tzinfo=zone)
    assert open_slots(blocks=blocks, taken=set(), window=saturday, now=now, tz=tz) == []
    found = nearest_open_slots(blocks=blocks, taken=set(), window=saturday, now=now, tz=tz)
    # Thu 15:30 is 8.5 h before Saturday, Thu 15:00 and Mon 09:00 9 h either side; Thu 14:30 is further.
    assert [s.astimezone(zone).strftime("%a %H:%M") for s in found] == ["Thu 15:00", "Thu 15:30", "Mon 09:00"]


def test_nearest_alternatives_for_a_full_morning_stay_on_that_day():
    tz = "America/Chicago"
    zone = ZoneInfo(tz)
    friday = date(2026, 12, 4)
    window = TimeWindow(
        start=datetime.combine(friday, time(8), tzinfo=zone),
        end=datetime.combine(friday, time(12), tzinfo=zone),
        preferred=None,
        label="Fri, Dec 4 morning",
        part_of_day=MORNING,
    )
    blocks = [Block(4, time(8), time(16), 60)]
    taken = {datetime.combine(friday, time(h), tzinfo=zone) for h in (8, 9, 10, 11)}
    now = datetime(2026, 11, 30, 9, 0, tzinfo=zone)
    found = nearest_open_slots(blocks=blocks, taken=taken, window=window, now=now, tz=tz)
    assert [s.astimezone(zone).strftime("%a %H:%M") for s in found] == ["Fri 12:00", "Fri 13:00", "Fri 14:00"]


# --- the demo clinic ---------------------------------------------------------


def _specialist(session, key: str) -> Specialist:
    return session.scalars(select(Specialist).filter_by(key=key)).one()


def _ensure_works_on(session, specialist: Specialist, weekday: int, start: time, end: time, minutes: int) -> None:
    """The seed keeps D+N dates as written even on days off; give the specialist hours that day (rolled back)."""
    if not any(block.weekday == weekday for block in specialist.availability):
        session.add(
            WeeklyAvailability(
                specialist_id=specialist.id, weekday=weekday, start_time=start, end_time=end, slot_minutes=minutes
            )
        )
        session.flush()


def _local_hhmm(slots) -> list[str]:
    return [s.astimezone(ZoneInfo(DEMO_TZ)).strftime("%H:%M") for s in slots]


def test_okafor_busy_slots_and_james_appointment_are_never_offered(db_session):
    okafor = _specialist(db_session, "okafor")
    day = demo_today() + timedelta(days=3)
    _ensure_works_on(db_session, okafor, day.weekday(), time(9), time(16), 30)
    now = demo_moment(0, "06:00")
    window = whole_day(day, DEMO_TZ, preferred=demo_moment(3, "10:30"))

    offer = offer_slots(db_session, specialist_id=okafor.id, window=window, now=now, tz=DEMO_TZ, limit=4)

    # 10:00 (James), 10:30 and 11:00 (busy) are taken: the nearest free ones, ties earlier first.
    assert offer.in_window is True
    assert _local_hhmm(offer.slots) == ["09:30", "11:30", "09:00", "12:00"]
    whole = whole_day(day, DEMO_TZ)
    every_slot = offer_slots(db_session, specialist_id=okafor.id, window=whole, now=now, tz=DEMO_TZ, limit=100)
    assert {demo_moment(3, "10:00"), demo_moment(3, "10:30"), demo_moment(3, "11:00")}.isdisjoint(every_slot.slots)
    assert len(every_slot.slots) == 14 - 3


def test_park_friday_morning_starts_at_0830(db_session):
    park = _specialist(db_session, "park")
    now = demo_moment(0, "06:00")
    window = parse_time_request("friday morning", now=now, tz=DEMO_TZ)
    friday = window.start.astimezone(ZoneInfo(DEMO_TZ)).date()
    assert friday.weekday() == 4

    offer = offer_slots(db_session, specialist_id=park.id, window=window, now=now, tz=DEMO_TZ)

    expected = ["08:30", "08:50", "09:10", "09:30"]
    if friday == demo_today() + timedelta(days=2):
        expected.remove("08:30")  # the busy slot in the demo data
    assert offer.in_window is True
    assert _local_hhmm(offer.slots) == expected[:3]
    assert all(s.astimezone(ZoneInfo(DEMO_TZ)).date() == friday for s in offer.slots)


def test_park_busy_slot_is_not_offered_on_its_day(db_session):
    park = _specialist(db_session, "park")
    day = demo_today() + timedelta(days=2)
    _ensure_works_on(db_session, park, day.weekday(), time(8, 30), time(15, 30), 20)
    now = demo_moment(0, "06:00")
    offer = offer_slots(db_session, specialist_id=park.id, window=whole_day(day, DEMO_TZ), now=now, tz=DEMO_TZ)
    assert _local_hhmm(offer.slots) == ["08:50", "09:10", "09:30"]


def test_a_day_without_hours_offers_the_nearest_alternatives(db_session):
    okafor = _specialist(db_session, "okafor")
    now = demo_moment(0, "06:00")
    window = parse_time_request("saturday", now=now, tz=DEMO_TZ)
    offer = offer_slots(db_session, specialist_id=okafor.id, window=window, now=now, tz=DEMO_TZ)
    assert offer.in_window is False
    assert len(offer.slots) == 3
    assert offer.slots == sorted(offer.slots)
    for slot in offer.slots:
        assert slot.astimezone(ZoneInfo(DEMO_TZ)).weekday() in (0, 1, 2, 3)
        assert slot not in {demo_moment(3, "10:00"), demo_moment(3, "10:30"), demo_moment(3, "11:00")}
