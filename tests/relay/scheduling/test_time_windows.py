"""What patients ask for, as windows: fixed `now`s, concrete bounds in the clinic's zone."""

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from relay.scheduling.time_windows import AFTERNOON, END_OF_DAY, EVENING, MORNING, parse_time_request

TZ = "America/Chicago"
CHI = ZoneInfo(TZ)

MONDAY_MORNING = datetime(2026, 11, 30, 9, 15, tzinfo=CHI)
FRIDAY_MORNING = datetime(2026, 12, 4, 10, 0, tzinfo=CHI)
FRIDAY_EVENING = datetime(2026, 12, 4, 18, 30, tzinfo=CHI)
SUNDAY = datetime(2026, 12, 6, 11, 0, tzinfo=CHI)
BEFORE_FALL_BACK = datetime(2026, 10, 31, 10, 0, tzinfo=CHI)  # DST ends Sun Nov 1, 02:00 -> 01:00
BEFORE_SPRING_FORWARD = datetime(2027, 3, 13, 20, 0, tzinfo=CHI)  # DST starts Sun Mar 14, 02:00 -> 03:00


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    """A wall-clock time in Chicago, as the instant it is (fold 0 where a time happens twice)."""
    return datetime(y, m, d, hh, mm, tzinfo=CHI).astimezone(UTC)


def window(text: str, now: datetime):
    result = parse_time_request(text, now=now, tz=TZ)
    assert result is not None, f"{text!r} was not understood"
    return result


def bounds(text: str, now: datetime) -> tuple[datetime, datetime]:
    result = window(text, now)
    return result.start.astimezone(UTC), result.end.astimezone(UTC)


# (now, text, start, end) in local Chicago time; "now" means the window starts at now.
CASES = [
    # Monday 09:15
    (MONDAY_MORNING, "next Tuesday afternoon", local(2026, 12, 1, 12), local(2026, 12, 1, 17)),
    (MONDAY_MORNING, "tuesday after 3", local(2026, 12, 1, 15), local(2026, 12, 2)),
    (MONDAY_MORNING, "tomorrow after 3", local(2026, 12, 1, 15), local(2026, 12, 2)),
    (MONDAY_MORNING, "tmrw morning", local(2026, 12, 1, 8), local(2026, 12, 1, 12)),
    (MONDAY_MORNING, "the 14th at 9am", local(2026, 12, 14), local(2026, 12, 15)),
    (MONDAY_MORNING, "dec 14 at 9", local(2026, 12, 14), local(2026, 12, 15)),
    (MONDAY_MORNING, "any morning next week", local(2026, 12, 7, 8), local(2026, 12, 13, 12)),
    (MONDAY_MORNING, "next week", local(2026, 12, 7), local(2026, 12, 14)),
    (MONDAY_MORNING, "Friday", local(2026, 12, 4), local(2026, 12, 5)),
    (MONDAY_MORNING, "friday morning", local(2026, 12, 4, 8), local(2026, 12, 4, 12)),
    (MONDAY_MORNING, "this friday", local(2026, 12, 4), local(2026, 12, 5)),
    (MONDAY_MORNING, "next Thursday afternoon", local(2026, 12, 3, 12), local(2026, 12, 3, 17)),
    (MONDAY_MORNING, "monday", "now", local(2026, 12, 1)),  # today: most of it is still ahead
    (MONDAY_MORNING, "next monday", local(2026, 12, 7), local(2026, 12, 8)),
    (MONDAY_MORNING, "next tuesday", local(2026, 12, 1), local(2026, 12, 2)),  # the first Tuesday after today
    (MONDAY_MORNING, "monday or tuesday", "now", local(2026, 12, 2)),
    (MONDAY_MORNING, "in the afternoon", local(2026, 11, 30, 12), local(2026, 12, 13, 17)),
    (MONDAY_MORNING, "3pm", "now", local(2026, 12, 1)),
    (MONDAY_MORNING, "at 10:30", "now", local(2026, 12, 1)),
    (MONDAY_MORNING, "friday before noon", local(2026, 12, 4), local(2026, 12, 4, 12)),
    (MONDAY_MORNING, "wednesday 2-4pm", local(2026, 12, 2, 14), local(2026, 12, 2, 16)),
    (MONDAY_MORNING, "Can we do Tuesday after 3 instead?", local(2026, 12, 1, 15), local(2026, 12, 2)),
    (MONDAY_MORNING, "friday next week", local(2026, 12, 11), local(2026, 12, 12)),
    (MONDAY_MORNING, "in 2 weeks", local(2026, 12, 14), local(2026, 12, 15)),
    (MONDAY_MORNING, "12/14", local(2026, 12, 14), local(2026, 12, 15)),
    (MONDAY_MORNING, "this afternoon", local(2026, 11, 30, 12), local(2026, 11, 30, 17)),
    # Friday 10:00: "friday" is still today
    (FRIDAY_MORNING, "Friday", "now", local(2026, 12, 5)),
    (FRIDAY_MORNING, "friday afternoon", local(2026, 12, 4, 12), local(2026, 12, 4, 17)),
    # Friday 18:30: today is over, "friday" is next week's
    (FRIDAY_EVENING, "Friday", local(2026, 12, 11), local(2026, 12, 12)),
    (FRIDAY_EVENING, "friday morning", local(2026, 12, 11, 8), local(2026, 12, 11, 12)),
    (FRIDAY_EVENING, "this friday", local(2026, 12, 11), local(2026, 12, 12)),
    (FRIDAY_EVENING, "tomorrow after 3", local(2026, 12, 5, 15), local(2026, 12, 6)),
    (FRIDAY_EVENING, "next Tuesday afternoon", local(2026, 12, 8, 12), local(2026, 12, 8, 17)),
    (FRIDAY_EVENING, "the 14th at 9am", local(2026, 12, 14), local(2026, 12, 15)),
    (FRIDAY_EVENING, "3pm", local(2026, 12, 5), local(2026, 12, 6)),
    (FRIDAY_EVENING, "in the afternoon", local(2026, 12, 5, 12), local(2026, 12, 17, 17)),
    (FRIDAY_EVENING, "tonight", "now", local(2026, 12, 4, 20)),
    (FRIDAY_EVENING, "next week", local(2026, 12, 7), local(2026, 12, 14)),
    (FRIDAY_EVENING, "monday or tuesday", local(2026, 12, 7), local(2026, 12, 9)),
    # Sunday 11:00
    (SUNDAY, "next Tuesday", local(2026, 12, 8), local(2026, 12, 9)),  # the coming one, not the week after
    (SUNDAY, "next week", local(2026, 12, 7), local(2026, 12, 14)),
    (SUNDAY, "any morning next week", local(2026, 12, 7, 8), local(2026, 12, 13, 12)),
    (SUNDAY, "monday", local(2026, 12, 7), local(2026, 12, 8)),
    (SUNDAY, "the 5th", local(2027, 1, 5), local(2027, 1, 6)),
    (SUNDAY, "the 31st", local(2026, 12, 31), local(2027, 1, 1)),
    (SUNDAY, "dec 1", local(2027, 12, 1), local(2027, 12, 2)),  # the next Dec 1 is next year's
    # The day before DST ends (Sat Oct 31, 10:00 CDT)
    (BEFORE_FALL_BACK, "next week", local(2026, 11, 2), local(2026, 11, 9)),
    (BEFORE_FALL_BACK, "next Tuesday afternoon", local(2026, 11, 3, 12), local(2026, 11, 3, 17)),
    (BEFORE_FALL_BACK, "the 14th at 9am", local(2026, 11, 14), local(2026, 11, 15)),
]


@pytest.mark.parametrize(("now", "text", "start", "end"), CASES, ids=[f"{c[0]:%a-%H%M}-{c[1]}" for c in CASES])
def test_phrase_becomes_the_window_patients_mean(now, text, start, end):
    expected_start = now.astimezone(UTC) if start == "now" else start
    assert bounds(text, now) == (expected_start, end)


@pytest.mark.parametrize(
    ("now", "text", "preferred"),
    [
        (MONDAY_MORNING, "the 14th at 9am", local(2026, 12, 14, 9)),
        (MONDAY_MORNING, "dec 14 at 9", local(2026, 12, 14, 9)),
        (MONDAY_MORNING, "3pm", local(2026, 11, 30, 15)),
        (MONDAY_MORNING, "at 10:30", local(2026, 11, 30, 10, 30)),
        (MONDAY_MORNING, "tomorrow at 1:30", local(2026, 12, 1, 13, 30)),  # 1-6 without am/pm are afternoon
        (MONDAY_MORNING, "friday at 8", local(2026, 12, 4, 8)),  # 7-11 are morning
        (MONDAY_MORNING, "thursday at noon", local(2026, 12, 3, 12)),
        (FRIDAY_EVENING, "3pm", local(2026, 12, 5, 15)),  # 3 PM today is past: tomorrow's
        (FRIDAY_EVENING, "at 10:30", local(2026, 12, 5, 10, 30)),
    ],
)
def test_an_exact_time_is_preferred_within_its_whole_day(now, text, preferred):
    result = window(text, now)
    assert result.preferred.astimezone(UTC) == preferred
    assert result.part_of_day is None
    day = preferred.astimezone(CHI)
    assert result.end.astimezone(UTC) == local(day.year, day.month, day.day) + timedelta(days=1)


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("any morning next week", MORNING),
        ("next Tuesday afternoon", AFTERNOON),
        ("tonight", EVENING),
        ("tuesday after 3", (time(15), END_OF_DAY)),
        ("before noon", (time.min, time(12))),
        ("in the afternoon", AFTERNOON),
    ],
)
def test_part_of_day_applies_to_each_day(text, part):
    result = window(text, MONDAY_MORNING)
    assert result.part_of_day == part
    assert result.preferred is None


@pytest.mark.parametrize("text", ["as soon as possible", "asap", "ASAP please", "earliest you have", "first available"])
def test_asap_is_the_next_thirty_days(text):
    result = window(text, MONDAY_MORNING)
    assert result.asap is True
    assert result.start == MONDAY_MORNING
    assert result.end.astimezone(UTC) == local(2026, 12, 30, 9, 15)
    assert result.label == "as soon as possible"


@pytest.mark.parametrize("text", ["hello", "what?", "ok thanks", "yes", "C", "I may come", "who is this", ""])
def test_text_without_a_time_is_not_a_window(text):
    assert parse_time_request(text, now=MONDAY_MORNING, tz=TZ) is None


def test_two_weekdays_apart_keep_only_those_days():
    result = window("monday or thursday", FRIDAY_EVENING)
    assert result.days == (date(2026, 12, 7), date(2026, 12, 10))
    assert (result.start.astimezone(UTC), result.end.astimezone(UTC)) == (local(2026, 12, 7), local(2026, 12, 11))


@pytest.mark.parametrize(
    ("now", "text", "label"),
    [
        (MONDAY_MORNING, "next Tuesday afternoon", "Tue, Dec 1 afternoon"),
        (MONDAY_MORNING, "any morning next week", "next week mornings"),
        (MONDAY_MORNING, "next week", "next week"),
        (MONDAY_MORNING, "the 14th at 9am", "Mon, Dec 14 at 9:00 AM"),
        (MONDAY_MORNING, "tuesday after 3", "Tue, Dec 1 after 3:00 PM"),
        (MONDAY_MORNING, "in the afternoon", "any afternoon"),
        (MONDAY_MORNING, "after 3", "any day after 3:00 PM"),
        (FRIDAY_EVENING, "monday or tuesday", "Mon, Dec 7 or Tue, Dec 8"),
        (FRIDAY_EVENING, "Friday", "Fri, Dec 11"),
    ],
)
def test_label_says_it_back(now, text, label):
    assert window(text, now).label == label


# --- DST ---------------------------------------------------------------------


def test_the_day_dst_ends_is_25_hours_long():
    start, end = bounds("tomorrow", BEFORE_FALL_BACK)
    assert start == datetime(2026, 11, 1, 5, 0, tzinfo=UTC)  # midnight CDT
    assert end == datetime(2026, 11, 2, 6, 0, tzinfo=UTC)  # midnight CST
    assert end - start == timedelta(hours=25)


def test_times_after_dst_ends_are_standard_time():
    assert bounds("tomorrow after 3", BEFORE_FALL_BACK)[0] == datetime(2026, 11, 1, 21, 0, tzinfo=UTC)  # 15:00 CST
    assert bounds("tomorrow morning", BEFORE_FALL_BACK) == (
        datetime(2026, 11, 1, 14, 0, tzinfo=UTC),
        datetime(2026, 11, 1, 18, 0, tzinfo=UTC),
    )
    assert window("monday at 9", BEFORE_FALL_BACK).preferred.astimezone(UTC) == datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


def test_asap_across_dst_end_keeps_the_wall_clock():
    result = window("asap", BEFORE_FALL_BACK)
    assert result.end.astimezone(CHI).replace(tzinfo=None) == datetime(2026, 11, 30, 10, 0)
    # Elapsed time, not wall-clock difference: same-zone subtraction would ignore the extra hour.
    assert result.end.astimezone(UTC) - result.start.astimezone(UTC) == timedelta(days=30, hours=1)


def test_during_the_repeated_hour_today_still_ends_at_midnight_standard_time():
    now = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=CHI)  # the second 01:30 (CST)
    start, end = bounds("today", now)
    assert start == datetime(2026, 11, 1, 7, 30, tzinfo=UTC)
    assert end == datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    assert window("3pm", now).preferred.astimezone(UTC) == datetime(2026, 11, 1, 21, 0, tzinfo=UTC)


def test_the_day_dst_starts_is_23_hours_long():
    start, end = bounds("tomorrow", BEFORE_SPRING_FORWARD)
    assert start == datetime(2027, 3, 14, 6, 0, tzinfo=UTC)  # midnight CST
    assert end == datetime(2027, 3, 15, 5, 0, tzinfo=UTC)  # midnight CDT
    assert end - start == timedelta(hours=23)


def test_times_after_dst_starts_are_daylight_time():
    assert bounds("tomorrow morning", BEFORE_SPRING_FORWARD) == (
        datetime(2027, 3, 14, 13, 0, tzinfo=UTC),  # 08:00 CDT
        datetime(2027, 3, 14, 17, 0, tzinfo=UTC),
    )
    assert bounds("sunday after 3", BEFORE_SPRING_FORWARD)[0] == datetime(2027, 3, 14, 20, 0, tzinfo=UTC)
    assert bounds("next week", BEFORE_SPRING_FORWARD) == (
        datetime(2027, 3, 15, 5, 0, tzinfo=UTC),
        datetime(2027, 3, 22, 5, 0, tzinfo=UTC),
    )


def test_spring_forward_morning_itself():
    now = datetime(2027, 3, 14, 1, 30, tzinfo=CHI)  # CST, half an hour before the jump
    assert bounds("this afternoon", now) == (
        datetime(2027, 3, 14, 17, 0, tzinfo=UTC),
        datetime(2027, 3, 14, 22, 0, tzinfo=UTC),
    )


# --- invariants over every phrase and every now ---------------------------------

ALL_NOWS = [MONDAY_MORNING, FRIDAY_MORNING, FRIDAY_EVENING, SUNDAY, BEFORE_FALL_BACK, BEFORE_SPRING_FORWARD]
ALL_TEXTS = sorted(
    {c[1] for c in CASES} | {"asap", "earliest you have", "today", "tonight", "this week", "the weekend"}
)
GSM7_SAFE = re.compile(r"^[A-Za-z0-9 ,:\-]+$")


@pytest.mark.parametrize("now", ALL_NOWS, ids=lambda n: f"{n:%Y-%m-%d-%H%M}")
def test_windows_never_start_before_now_and_are_aware(now):
    for text in ALL_TEXTS:
        result = parse_time_request(text, now=now, tz=TZ)
        assert result is not None, text
        assert result.start.tzinfo is not None and result.end.tzinfo is not None
        assert result.start >= now, text
        assert result.end >= result.start, text
        assert GSM7_SAFE.match(result.label), (text, result.label)


def test_now_in_another_zone_is_read_in_the_clinics_zone():
    # 02:00 UTC on Tuesday is still Monday evening in Chicago.
    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert bounds("tomorrow", now) == (local(2026, 12, 1), local(2026, 12, 2))


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="naive"):
        parse_time_request("tomorrow", now=datetime(2026, 11, 30, 9, 0), tz=TZ)
