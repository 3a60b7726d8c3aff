"""Quiet hours: when nothing automated may reach a patient, in the patient's own zone.

The window may run over midnight (20:00-08:00) or not (01:00-06:00); equal
start and end mean no quiet hours. The end is a wall-clock time on the local
calendar, so a DST change never shifts it by an hour. The window is the
cadence file's, else the clinic's own (`Cadence.quiet_window`); the planner
moves due times out of it, and the sender checks it again at send time.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from relay.core.clock import require_aware
from relay.models import Clinic
from relay.outreach.cadence import load_cadence


def next_allowed_time(
    moment: datetime, *, quiet_start: time | str, quiet_end: time | str, tz: str | ZoneInfo
) -> datetime:
    """`moment` if it is outside the quiet hours in `tz`, else the end of those quiet hours (UTC)."""
    require_aware(moment, "moment")
    return next_allowed_in(moment, clock(quiet_start), clock(quiet_end), ZoneInfo(tz) if isinstance(tz, str) else tz)


def next_allowed(moment: datetime, *, clinic: Clinic, zone: ZoneInfo) -> datetime:
    """`moment`, or the end of the quiet hours it falls in, in the patient's zone (the cadence's or the clinic's)."""
    quiet_start, quiet_end = load_cadence().quiet_window(clinic)
    return next_allowed_time(moment, quiet_start=quiet_start, quiet_end=quiet_end, tz=zone)


def next_allowed_in(moment: datetime, start: time, end: time, zone: ZoneInfo) -> datetime:
    """`next_allowed_time` with the window already parsed (the planner asks it for every row)."""
    if start == end:
        return moment.astimezone(UTC)
    local = moment.astimezone(zone)
    clock_now = local.time().replace(tzinfo=None)
    if start > end:  # over midnight
        if clock_now >= start:
            day = local.date() + timedelta(days=1)
        elif clock_now < end:
            day = local.date()
        else:
            return moment.astimezone(UTC)
    elif start <= clock_now < end:
        day = local.date()
    else:
        return moment.astimezone(UTC)
    return wall_clock(day, end, zone)


def wall_clock(day: date, moment: time, zone: ZoneInfo) -> datetime:
    """A local wall-clock time on a day, as UTC (a time skipped by DST reads as after the gap)."""
    return datetime.combine(day, moment, tzinfo=zone).astimezone(UTC)


def clock(value: time | str) -> time:
    """A time of day from a `time` or its "8:00" / "08:00" spelling."""
    return value if isinstance(value, time) else time.fromisoformat(value.zfill(5))
