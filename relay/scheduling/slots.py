"""Real open slots: a specialist's grid, minus what is taken, inside what was asked.

A specialist's grid is their weekly hours, unless the clinic's EHR publishes
their slots (FHIR Schedule/Slot): then it is exactly their free published
slots, each as long as the EHR says. Busy published slots are never offered,
and a specialist with any published slot at all gets no slots from weekly
hours: mixing the two would offer times the EHR never opened.

The core (`open_slots`, `nearest_open_slots`, `first_open_slots`, `slot_block`,
`slot_minutes`) is pure so property tests can hammer it; `offer_slots` and
`soonest_slots` load the specialist's hours, published slots and taken slots
and call it.

Slots are laid out per day in local wall-clock time (start, start + slot, ...
while the slot still ends inside the block) and only then turned into
instants, so a DST change moves no slot off its grid. A wall-clock time that
does not exist that day (spring forward) is no slot; one that happens twice
(fall back) is one slot, at its first occurrence. Results are aware UTC
datetimes, compared as instants: aware datetimes in different zones are not
reliably equal across a fold (PEP 495), so everything is turned to UTC first.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay.core.clock import require_aware
from relay.models import BookedSlot, PublishedSlot, WeeklyAvailability
from relay.scheduling.time_windows import TimeWindow

# Nobody can get to a visit that starts in ten minutes; offers leave time to travel.
MIN_LEAD = timedelta(hours=2)
# How far past the window to look for alternatives when nothing fits it.
ALTERNATIVES_HORIZON = timedelta(days=60)

# The free slots an EHR publishes for a specialist: start instant -> length in minutes.
# None (not an empty mapping) means the specialist publishes nothing and weekly hours apply.
Published = Mapping[datetime, int]
# A local day -> the grid's slot starts on it (UTC instants).
GridStarts = Callable[[date], set[datetime]]


@dataclass(frozen=True)
class Block:
    """One weekly working block in local clinic time (weekday 0 = Monday)."""

    weekday: int
    start: time
    end: time
    slot_minutes: int

    def __post_init__(self) -> None:
        if self.slot_minutes <= 0:
            raise ValueError("slot_minutes must be positive")
        if not 0 <= self.weekday <= 6:
            raise ValueError("weekday must be 0 (Monday) to 6 (Sunday)")


@dataclass(frozen=True)
class SlotOffer:
    slots: list[datetime]
    in_window: bool  # False: nothing fitted the window, these are the nearest alternatives


def open_slots(
    *,
    blocks: list[Block],
    taken: set[datetime],
    window: TimeWindow,
    now: datetime,
    tz: str,
    limit: int = 3,
    min_lead: timedelta = MIN_LEAD,
    published: Published | None = None,
) -> list[datetime]:
    """Up to `limit` free slots inside the window, best first.

    Best is nearest to `window.preferred` (ties: earlier first); without a
    preferred time (and for asap) simply earliest first. `published`, when
    given, is the grid instead of `blocks`.
    """
    _check_window(window, now)
    zone = ZoneInfo(tz)
    earliest = max(window.start.astimezone(UTC), (now + min_lead).astimezone(UTC))
    grid = _grid_starts(blocks, published, zone)
    fitting = [
        slot
        for slot in _free_slots(grid, _as_instants(taken), earliest, window.end.astimezone(UTC), zone)
        if _fits(window, slot.astimezone(zone))
    ]
    return sorted(fitting, key=_closeness(window))[: max(limit, 0)]


def nearest_open_slots(
    *,
    blocks: list[Block],
    taken: set[datetime],
    window: TimeWindow,
    now: datetime,
    tz: str,
    limit: int = 3,
    min_lead: timedelta = MIN_LEAD,
    horizon: timedelta = ALTERNATIVES_HORIZON,
    published: Published | None = None,
) -> list[datetime]:
    """The `limit` free slots nearest to what was asked, in time order.

    For when nothing fits the window: distance is to the preferred time if one
    was named, else to the nearest requested stretch (the window, or each day's
    part of it, e.g. Friday 08:00-12:00 for "friday morning"). `published`,
    when given, is the grid instead of `blocks`.
    """
    _check_window(window, now)
    zone = ZoneInfo(tz)
    earliest = (now + min_lead).astimezone(UTC)
    latest = max(window.end.astimezone(UTC), earliest) + horizon
    grid = _grid_starts(blocks, published, zone)
    free = list(_free_slots(grid, _as_instants(taken), earliest, latest, zone))
    if window.preferred is not None:
        target = window.preferred.astimezone(UTC)
        distance = lambda slot: abs(slot - target)  # noqa: E731
    else:
        stretches = requested_stretches(window, tz)
        distance = lambda slot: _distance_to(stretches, slot)  # noqa: E731
    return sorted(sorted(free, key=lambda slot: (distance(slot), slot))[: max(limit, 0)])


def first_open_slots(
    *,
    blocks: list[Block],
    taken: set[datetime],
    now: datetime,
    tz: str,
    limit: int = 3,
    min_lead: timedelta = MIN_LEAD,
    horizon: timedelta = ALTERNATIVES_HORIZON,
    published: Published | None = None,
) -> list[datetime]:
    """The `limit` earliest free slots from now + `min_lead` on, up to `horizon` ahead, in time order.

    The same grid, lead time and taken slots as every offer: only the window is
    "from now on". `published`, when given, is the grid instead of `blocks`.
    """
    require_aware(now, "now")
    soonest = TimeWindow(start=now, end=now + horizon, preferred=None, label="", asap=True)
    return open_slots(
        blocks=blocks, taken=taken, window=soonest, now=now, tz=tz, limit=limit, min_lead=min_lead, published=published
    )


def slot_block(*, blocks: list[Block], start_at: datetime, tz: str) -> Block | None:
    """The block whose grid has a slot starting at `start_at`, if any.

    Booking re-checks a time with this, through the same generator that made
    the offer, so a stale or forged offer cannot book an off-grid time.
    """
    require_aware(start_at, "start_at")
    zone = ZoneInfo(tz)
    instant = start_at.astimezone(UTC)
    day = instant.astimezone(zone).date()
    for slot, block in _day_slots(blocks, day, zone):
        if slot == instant:
            return block
    return None


def slot_minutes(*, blocks: list[Block], start_at: datetime, tz: str, published: Published | None = None) -> int | None:
    """How long the slot starting at `start_at` is, or None when the grid has no slot then.

    With `published`, only a free published slot counts, however the weekly
    hours fall; without, the weekly grid decides, as `slot_block` does.
    """
    require_aware(start_at, "start_at")
    if published is not None:
        return _published_instants(published).get(start_at.astimezone(UTC))
    block = slot_block(blocks=blocks, start_at=start_at, tz=tz)
    return block.slot_minutes if block is not None else None


def requested_stretches(window: TimeWindow, tz: str) -> list[tuple[datetime, datetime]]:
    """The window as UTC intervals: one per day when a part of day or a set of days applies."""
    start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
    if window.part_of_day is None and window.days is None:
        return [(start, end)]
    zone = ZoneInfo(tz)
    part_start, part_end = window.part_of_day or (time.min, time.max)
    stretches = []
    for day in _local_days(start, end, zone):
        if window.days is not None and day not in window.days:
            continue
        lo = max(_wall(day, part_start, zone), start)
        hi = min(_wall(day, part_end, zone), end)
        if lo < hi:
            stretches.append((lo, hi))
    return stretches


# --- the database edge -------------------------------------------------------


def load_blocks(session: Session, *, specialist_id: int) -> list[Block]:
    rows = session.scalars(select(WeeklyAvailability).filter_by(specialist_id=specialist_id))
    return [Block(weekday=r.weekday, start=r.start_time, end=r.end_time, slot_minutes=r.slot_minutes) for r in rows]


def load_published(session: Session, *, specialist_id: int, since: datetime) -> dict[datetime, int] | None:
    """The specialist's free published slots from `since` on, or None when the EHR publishes none for them.

    Any published row, even a busy or past one, means the EHR owns this
    specialist's calendar, so an empty result stays empty rather than falling
    back to weekly hours.
    """
    publishes = session.scalar(select(select(PublishedSlot.id).filter_by(specialist_id=specialist_id).exists()))
    if not publishes:
        return None
    rows = session.execute(
        select(PublishedSlot.start_at, PublishedSlot.end_at).where(
            PublishedSlot.specialist_id == specialist_id, PublishedSlot.free.is_(True), PublishedSlot.start_at >= since
        )
    )
    lengths = {start: _whole_minutes(end - start) for start, end in rows}
    # A slot under a minute long (or ending before it starts) is bad data from the EHR: no visit fits in it.
    return {start: minutes for start, minutes in lengths.items() if minutes > 0}


def load_taken(session: Session, *, specialist_id: int, since: datetime) -> set[datetime]:
    rows = session.scalars(
        select(BookedSlot.start_at).where(BookedSlot.specialist_id == specialist_id, BookedSlot.start_at >= since)
    )
    return set(rows)


@dataclass(frozen=True)
class _Calendar:
    """One specialist's grid and what is taken in it, as the pure core takes them."""

    blocks: list[Block]
    published: Published | None
    taken: set[datetime]


def _load_calendar(session: Session, *, specialist_id: int, now: datetime) -> _Calendar:
    # A day back covers any slot still ahead of now + lead, whatever the zone.
    since = now - timedelta(days=1)
    return _Calendar(
        blocks=load_blocks(session, specialist_id=specialist_id),
        published=load_published(session, specialist_id=specialist_id, since=since),
        taken=load_taken(session, specialist_id=specialist_id, since=since),
    )


def offer_slots(
    session: Session, *, specialist_id: int, window: TimeWindow, now: datetime, tz: str, limit: int = 3
) -> SlotOffer:
    """Slots to offer for the window; failing that, the nearest ones (in_window=False)."""
    calendar = _load_calendar(session, specialist_id=specialist_id, now=now)
    blocks, published, taken = calendar.blocks, calendar.published, calendar.taken
    found = open_slots(blocks=blocks, published=published, taken=taken, window=window, now=now, tz=tz, limit=limit)
    if found:
        return SlotOffer(slots=found, in_window=True)
    nearest = nearest_open_slots(
        blocks=blocks, published=published, taken=taken, window=window, now=now, tz=tz, limit=limit
    )
    return SlotOffer(slots=nearest, in_window=False)


def soonest_slots(session: Session, *, specialist_id: int, now: datetime, tz: str, limit: int = 3) -> list[datetime]:
    """The specialist's `limit` earliest open slots: for a patient who named no time, or asked for the soonest."""
    calendar = _load_calendar(session, specialist_id=specialist_id, now=now)
    return first_open_slots(
        blocks=calendar.blocks, published=calendar.published, taken=calendar.taken, now=now, tz=tz, limit=limit
    )


# --- the grid ----------------------------------------------------------------


def _check_window(window: TimeWindow, now: datetime) -> None:
    require_aware(now, "now")
    require_aware(window.start, "window.start")
    require_aware(window.end, "window.end")
    if window.preferred is not None:
        require_aware(window.preferred, "window.preferred")


def _as_instants(moments: Iterable[datetime]) -> set[datetime]:
    return {require_aware(m, "taken slot").astimezone(UTC) for m in moments}


def _published_instants(published: Published) -> dict[datetime, int]:
    return {require_aware(start, "published slot").astimezone(UTC): minutes for start, minutes in published.items()}


def _whole_minutes(length: timedelta) -> int:
    return length // timedelta(minutes=1)


def _wall(day: date, moment: time, zone: ZoneInfo) -> datetime:
    """A wall-clock time on a local day as a UTC instant; time.max means the day's end."""
    if moment == time.max:
        return datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    return datetime.combine(day, moment, tzinfo=zone).astimezone(UTC)


def _local_days(start: datetime, end: datetime, zone: ZoneInfo) -> Iterator[date]:
    if end <= start:
        return
    day = start.astimezone(zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    while day <= last:
        yield day
        day += timedelta(days=1)


def _day_slots(blocks: list[Block], day: date, zone: ZoneInfo) -> Iterator[tuple[datetime, Block]]:
    """Every slot of the day's blocks as (UTC instant, block); wall-clock times that don't exist are skipped."""
    for block in blocks:
        if block.weekday != day.weekday():
            continue
        minute = block.start.hour * 60 + block.start.minute
        end = block.end.hour * 60 + block.end.minute
        while minute + block.slot_minutes <= end:
            wall = datetime.combine(day, time(minute // 60, minute % 60))
            instant = wall.replace(tzinfo=zone).astimezone(UTC)
            # In a spring-forward gap the wall time maps to another wall time: not a real slot.
            if instant.astimezone(zone).replace(tzinfo=None) == wall:
                yield instant, block
            minute += block.slot_minutes


def _grid_starts(blocks: list[Block], published: Published | None, zone: ZoneInfo) -> GridStarts:
    """The slot starts of one day, for whichever grid the specialist has."""
    if published is None:
        return lambda day: {slot for slot, _ in _day_slots(blocks, day, zone)}
    by_day: dict[date, set[datetime]] = {}
    for start in _published_instants(published):
        by_day.setdefault(start.astimezone(zone).date(), set()).add(start)
    return lambda day: by_day.get(day, set())


def _free_slots(
    grid: GridStarts, taken: set[datetime], start: datetime, end: datetime, zone: ZoneInfo
) -> Iterator[datetime]:
    """Distinct free slot instants in [start, end), in time order."""
    for day in _local_days(start, end, zone):
        yield from sorted(s for s in grid(day) if start <= s < end and s not in taken)


def _fits(window: TimeWindow, local: datetime) -> bool:
    if window.days is not None and local.date() not in window.days:
        return False
    if window.part_of_day is not None:
        part_start, part_end = window.part_of_day
        return part_start <= local.time() < part_end
    return True


def _closeness(window: TimeWindow):
    if window.preferred is None or window.asap:
        return lambda slot: slot
    target = window.preferred.astimezone(UTC)
    return lambda slot: (abs(slot - target), slot)


def _distance_to(stretches: list[tuple[datetime, datetime]], slot: datetime) -> timedelta:
    if not stretches:
        return timedelta.max
    return min(
        timedelta(0) if lo <= slot < hi else (lo - slot if slot < lo else slot - hi + timedelta(microseconds=1))
        for lo, hi in stretches
    )
