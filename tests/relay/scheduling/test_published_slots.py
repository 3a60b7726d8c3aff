"""Slots the EHR publishes: the grid for a specialist who has any, weekly hours for everyone else.

Every date here is fixed, far from the demo clinic's own (which are relative
to today), so no test depends on the wall clock or on the hour it runs at.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from relay.models import Appointment, BookedSlot, PublishedSlot, Referral, Specialist
from relay.scheduling.booking import NotBookable, book_slot
from relay.scheduling.slots import (
    ALTERNATIVES_HORIZON,
    Block,
    nearest_open_slots,
    offer_slots,
    open_slots,
    slot_minutes,
)
from relay.scheduling.time_windows import TimeWindow
from tests.relay.scheduling.test_slots import PROPERTY_SETTINGS, scenarios, whole_day
from tests.support import DEMO_TZ

ZONE = ZoneInfo(DEMO_TZ)
MONDAY = date(2035, 6, 4)
TUESDAY = MONDAY + timedelta(days=1)
WEDNESDAY = MONDAY + timedelta(days=2)
NOW = datetime.combine(MONDAY, time(6), tzinfo=ZONE).astimezone(UTC)


def at(day: date, hh_mm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hh_mm), tzinfo=ZONE).astimezone(UTC)


def local_hhmm(slots: list[datetime]) -> list[str]:
    return [slot.astimezone(ZONE).strftime("%a %H:%M") for slot in slots]


def specialist(session, key: str) -> Specialist:
    return session.scalars(select(Specialist).filter_by(key=key)).one()


def referral(session, external_id: str) -> Referral:
    return session.scalars(select(Referral).filter_by(external_id=external_id)).one()


def publish(session, who: Specialist, start: datetime, minutes: int, *, free: bool = True) -> None:
    key = f"test-{who.key}-{start:%Y%m%dT%H%M}"
    end = start + timedelta(minutes=minutes)
    session.add(PublishedSlot(key=key, specialist_id=who.id, start_at=start, end_at=end, free=free))
    session.flush()


def hold_outside_relay(session, who: Specialist, start: datetime) -> None:
    session.add(BookedSlot(specialist_id=who.id, start_at=start, appointment_id=None))
    session.flush()


@pytest.fixture
def raman(db_session) -> Specialist:
    """Dr. Raman (weekly hours weekdays 09:00-13:00, 30-minute slots), whose EHR publishes Tuesday's slots."""
    raman = specialist(db_session, "raman")
    publish(db_session, raman, at(TUESDAY, "09:00"), 45)  # on the weekly grid, but longer
    publish(db_session, raman, at(TUESDAY, "10:00"), 30, free=False)  # busy in the EHR
    publish(db_session, raman, at(TUESDAY, "11:15"), 20)  # off the weekly grid
    publish(db_session, raman, at(TUESDAY, "12:00"), 30)  # taken below
    publish(db_session, raman, at(TUESDAY, "14:00"), 30)  # outside weekly hours
    hold_outside_relay(db_session, raman, at(TUESDAY, "12:00"))
    return raman


# --- offers ------------------------------------------------------------------


def test_only_free_untaken_published_slots_are_offered(db_session, raman):
    offer = offer_slots(
        db_session, specialist_id=raman.id, window=whole_day(TUESDAY, DEMO_TZ), now=NOW, tz=DEMO_TZ, limit=10
    )

    # Not 10:00 (busy), 12:00 (taken), nor 09:30, 10:30, ... that weekly hours would lay out.
    assert offer.in_window is True
    assert local_hhmm(offer.slots) == ["Tue 09:00", "Tue 11:15", "Tue 14:00"]


def test_weekly_hours_are_not_offered_on_a_day_the_ehr_publishes_nothing(db_session, raman):
    wednesday = whole_day(WEDNESDAY, DEMO_TZ)

    offer = offer_slots(db_session, specialist_id=raman.id, window=wednesday, now=NOW, tz=DEMO_TZ)

    # Raman works Wednesdays by her weekly hours; the nearest published slots are offered instead.
    assert offer.in_window is False
    assert local_hhmm(offer.slots) == ["Tue 09:00", "Tue 11:15", "Tue 14:00"]


def test_published_slots_keep_the_lead_time(db_session, raman):
    now = at(TUESDAY, "09:30")  # 11:15 is less than MIN_LEAD away
    offer = offer_slots(db_session, specialist_id=raman.id, window=whole_day(TUESDAY, DEMO_TZ), now=now, tz=DEMO_TZ)
    assert local_hhmm(offer.slots) == ["Tue 14:00"]


def test_a_preferred_time_picks_the_nearest_published_slots(db_session, raman):
    window = whole_day(TUESDAY, DEMO_TZ, preferred=at(TUESDAY, "13:00"))
    offer = offer_slots(db_session, specialist_id=raman.id, window=window, now=NOW, tz=DEMO_TZ, limit=2)
    assert local_hhmm(offer.slots) == ["Tue 14:00", "Tue 11:15"]  # 1 h, then 1 h 45 min away


def test_a_specialist_whose_published_slots_are_all_busy_is_offered_nothing(db_session):
    raman = specialist(db_session, "raman")
    publish(db_session, raman, at(TUESDAY, "09:00"), 30, free=False)

    offer = offer_slots(db_session, specialist_id=raman.id, window=whole_day(TUESDAY, DEMO_TZ), now=NOW, tz=DEMO_TZ)

    assert offer.slots == []


def test_a_specialist_without_published_slots_keeps_the_weekly_hours(db_session, raman):
    silva = specialist(db_session, "silva")  # Mon, Wed, Fri 08:00-17:00, 30-minute slots
    window = whole_day(WEDNESDAY, DEMO_TZ)

    offer = offer_slots(db_session, specialist_id=silva.id, window=window, now=NOW, tz=DEMO_TZ, limit=100)

    assert offer.in_window is True
    assert local_hhmm(offer.slots[:3]) == ["Wed 08:00", "Wed 08:30", "Wed 09:00"]
    assert len(offer.slots) == 18


# --- booking -----------------------------------------------------------------


def test_booking_a_free_published_slot_takes_its_length(db_session, raman):
    tom = referral(db_session, "RF-2007")  # ready to schedule with Dr. Raman
    assert tom.specialist_id == raman.id
    start = at(TUESDAY, "09:00")

    appointment = book_slot(db_session, referral=tom, start_at=start, now=NOW, actor="bot")

    assert (appointment.start_at, appointment.duration_minutes, appointment.status) == (start, 45, "scheduled")
    held = db_session.scalars(select(BookedSlot).filter_by(specialist_id=raman.id, start_at=start)).one()
    assert held.appointment_id == appointment.id
    offer = offer_slots(db_session, specialist_id=raman.id, window=whole_day(TUESDAY, DEMO_TZ), now=NOW, tz=DEMO_TZ)
    assert local_hhmm(offer.slots) == ["Tue 11:15", "Tue 14:00"]


def test_moving_to_a_published_slot_of_another_length_takes_that_length(db_session, raman):
    tom = referral(db_session, "RF-2007")
    book_slot(db_session, referral=tom, start_at=at(TUESDAY, "09:00"), now=NOW, actor="bot")

    moved = book_slot(db_session, referral=tom, start_at=at(TUESDAY, "11:15"), now=NOW, actor="bot")

    assert (moved.start_at, moved.duration_minutes) == (at(TUESDAY, "11:15"), 20)  # not the 45 minutes it had


def test_a_published_slot_written_in_another_zone_is_the_same_slot(db_session, raman):
    tom = referral(db_session, "RF-2007")
    start = at(TUESDAY, "11:15").astimezone(ZoneInfo("Asia/Kolkata"))
    appointment = book_slot(db_session, referral=tom, start_at=start, now=NOW, actor="bot")
    assert appointment.duration_minutes == 20


@pytest.mark.parametrize(
    ("hh_mm", "why"),
    [
        ("09:30", "on the weekly grid but not published"),
        ("10:00", "published busy"),
        ("09:05", "inside a published slot, not at its start"),
    ],
)
def test_times_that_are_not_free_published_slots_are_not_bookable(db_session, raman, hh_mm, why):
    tom = referral(db_session, "RF-2007")
    start = at(TUESDAY, hh_mm)

    with pytest.raises(NotBookable, match="no slot at that time"):
        book_slot(db_session, referral=tom, start_at=start, now=NOW, actor="bot")

    assert db_session.scalars(select(Appointment).filter_by(referral_id=tom.id)).all() == []
    assert tom.status == "ready_to_schedule"


def test_a_published_slot_too_soon_is_not_bookable(db_session, raman):
    tom = referral(db_session, "RF-2007")
    start = at(TUESDAY, "11:15")
    with pytest.raises(NotBookable, match="too soon"):
        book_slot(db_session, referral=tom, start_at=start, now=start - timedelta(minutes=10), actor="bot")


def test_booking_without_published_slots_keeps_the_weekly_grid(db_session):
    tom = referral(db_session, "RF-2007")  # Dr. Raman, who publishes nothing here
    with pytest.raises(NotBookable, match="no slot at that time"):
        book_slot(db_session, referral=tom, start_at=at(TUESDAY, "11:15"), now=NOW, actor="bot")

    appointment = book_slot(db_session, referral=tom, start_at=at(TUESDAY, "09:30"), now=NOW, actor="bot")

    assert appointment.duration_minutes == 30


# --- the pure core -----------------------------------------------------------


def test_published_slots_across_the_fall_back_night():
    # 01:30 happens twice in Chicago on 2034-11-05; both published instants are distinct slots.
    tz = "America/Chicago"
    first, second = datetime(2034, 11, 5, 6, 30, tzinfo=UTC), datetime(2034, 11, 5, 7, 30, tzinfo=UTC)
    published = {first: 30, second: 30}
    day = date(2034, 11, 5)
    offered = open_slots(
        blocks=[], published=published, taken=set(), window=whole_day(day, tz), now=NOW - timedelta(days=365 * 2), tz=tz
    )
    assert offered == [first, second]
    assert [s.astimezone(ZoneInfo(tz)).strftime("%H:%M") for s in offered] == ["01:30", "01:30"]


def test_slot_minutes_reads_the_published_length_and_ignores_weekly_hours():
    blocks = [Block(1, time(9), time(13), 30)]
    published = {at(TUESDAY, "11:15"): 20}
    assert slot_minutes(blocks=blocks, published=published, start_at=at(TUESDAY, "11:15"), tz=DEMO_TZ) == 20
    assert slot_minutes(blocks=blocks, published=published, start_at=at(TUESDAY, "09:00"), tz=DEMO_TZ) is None
    assert slot_minutes(blocks=blocks, start_at=at(TUESDAY, "09:00"), tz=DEMO_TZ) == 30
    assert slot_minutes(blocks=blocks, published={}, start_at=at(TUESDAY, "09:00"), tz=DEMO_TZ) is None


def _published_from(data, window: TimeWindow, now: datetime) -> dict[datetime, int]:
    """Free published starts on 5-minute marks around the window and now, in assorted zones."""
    anchor = min(window.start, now).astimezone(UTC).replace(second=0, microsecond=0)
    anchor -= timedelta(minutes=anchor.minute % 5)
    offsets = data.draw(st.sets(st.integers(-24 * 12, 8 * 24 * 12), max_size=25))
    zones = [UTC, ZONE, ZoneInfo("Australia/Lord_Howe")]
    return {
        (anchor + timedelta(minutes=5 * k)).astimezone(data.draw(st.sampled_from(zones))): data.draw(st.integers(5, 90))
        for k in offsets
    }


def _fits(window: TimeWindow, slot: datetime, tz: str) -> bool:
    wall = slot.astimezone(ZoneInfo(tz))
    if window.days is not None and wall.date() not in window.days:
        return False
    return window.part_of_day is None or window.part_of_day[0] <= wall.time() < window.part_of_day[1]


@PROPERTY_SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_open_slots_from_published_are_exactly_the_free_ones_in_the_window(scenario, data):
    tz, now, window = scenario["tz"], scenario["now"], scenario["window"]
    limit, min_lead = scenario["limit"], scenario["min_lead"]
    published = _published_from(data, window, now)
    taken = set(data.draw(st.sets(st.sampled_from(sorted(published)), max_size=5))) if published else set()

    offered = open_slots(
        blocks=scenario["blocks"],
        published=published,
        taken=taken,
        window=window,
        now=now,
        tz=tz,
        limit=limit,
        min_lead=min_lead,
    )

    # The oracle filters the published instants directly, never walking local days.
    earliest = max(window.start, now + min_lead)
    taken_utc = {t.astimezone(UTC) for t in taken}
    valid = sorted(
        s.astimezone(UTC)
        for s in published
        if earliest <= s < window.end and s.astimezone(UTC) not in taken_utc and _fits(window, s, tz)
    )
    if window.preferred is not None and not window.asap:
        valid.sort(key=lambda s: (abs(s - window.preferred), s))
    assert offered == valid[:limit]
    assert all(slot.tzinfo == UTC for slot in offered)


@PROPERTY_SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_nearest_alternatives_from_published_are_free_published_slots(scenario, data):
    tz, now, window = scenario["tz"], scenario["now"], scenario["window"]
    limit, min_lead = scenario["limit"], scenario["min_lead"]
    published = _published_from(data, window, now)
    taken = set(data.draw(st.sets(st.sampled_from(sorted(published)), max_size=5))) if published else set()

    found = nearest_open_slots(
        blocks=scenario["blocks"],
        published=published,
        taken=taken,
        window=window,
        now=now,
        tz=tz,
        limit=limit,
        min_lead=min_lead,
    )

    earliest = now + min_lead
    latest = max(window.end, earliest) + ALTERNATIVES_HORIZON
    taken_utc = {t.astimezone(UTC) for t in taken}
    free = {s.astimezone(UTC) for s in published if earliest <= s < latest} - taken_utc
    assert found == sorted(set(found))
    assert set(found) <= free
    assert len(found) == min(limit, len(free))
    if window.preferred is not None and found:
        worst = max(abs(s - window.preferred) for s in found)
        assert all(abs(s - window.preferred) >= worst for s in free - set(found))
