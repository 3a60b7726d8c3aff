"""The plan as a pure function: fixed clocks, DST changes, quiet-hour edges, and properties."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.outreach.cadence import load_cadence
from relay.outreach.plan import (
    AppointmentFacts,
    Audience,
    ReferralFacts,
    plan_appointment,
    plan_referral,
    planning_state,
)
from relay.outreach.quiet_hours import next_allowed_time

CHICAGO = ZoneInfo("America/Chicago")
AUDIENCE = Audience(tz="America/Chicago", quiet_start=time(20, 0), quiet_end=time(8, 0))
CADENCE = load_cadence()


def local(*args: int, zone: ZoneInfo = CHICAGO) -> datetime:
    return datetime(*args, tzinfo=zone)


def allowed(moment: datetime, tz: str = "America/Chicago") -> datetime:
    return next_allowed_time(moment, quiet_start="20:00", quiet_end="08:00", tz=tz)


def by_key(plan) -> dict:
    return {item.idempotency_key.split(":appt")[0]: item for item in plan}


def appointment(start: datetime, status: str = "scheduled", audience: Audience = AUDIENCE) -> AppointmentFacts:
    return AppointmentFacts(id=7, start_at=start.astimezone(UTC), status=status, audience=audience)


def referral(status: str, since: datetime, **facts) -> ReferralFacts:
    return ReferralFacts(id=42, status=status, since=since.astimezone(UTC), audience=AUDIENCE, **facts)


# --- quiet hours -------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (local(2026, 6, 10, 19, 59), local(2026, 6, 10, 19, 59)),  # last allowed minute
        (local(2026, 6, 10, 20, 0), local(2026, 6, 11, 8, 0)),  # quiet starts: next morning
        (local(2026, 6, 10, 23, 30), local(2026, 6, 11, 8, 0)),
        (local(2026, 6, 11, 0, 0), local(2026, 6, 11, 8, 0)),  # after midnight: the same morning
        (local(2026, 6, 11, 7, 59), local(2026, 6, 11, 8, 0)),
        (local(2026, 6, 11, 8, 0), local(2026, 6, 11, 8, 0)),  # quiet ends: allowed
    ],
)
def test_quiet_hours_move_to_their_end(moment, expected):
    assert allowed(moment) == expected
    assert allowed(moment).tzinfo is UTC


def test_quiet_hours_end_at_8_local_across_the_autumn_dst_change():
    # Sat Oct 31 2026 21:00 CDT (UTC-5) -> Sun Nov 1 08:00 CST (UTC-6): 12 wall hours, 12 real + 1.
    moved = allowed(local(2026, 10, 31, 21, 0))
    assert moved == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)
    assert moved.astimezone(CHICAGO).hour == 8


def test_quiet_hours_end_at_8_local_across_the_spring_dst_change():
    # Sat Mar 7 2026 22:00 CST (UTC-6) -> Sun Mar 8 08:00 CDT (UTC-5).
    moved = allowed(local(2026, 3, 7, 22, 0))
    assert moved == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)
    assert moved.astimezone(CHICAGO).hour == 8


def test_quiet_hours_are_in_the_patients_zone():
    # 20:30 in Chicago is 21:30 in New York: quiet there, moved to 08:00 New York time.
    moment = local(2026, 6, 10, 19, 30)
    assert allowed(moment) == moment
    assert allowed(moment, "America/New_York") == local(2026, 6, 11, 8, 0, zone=ZoneInfo("America/New_York"))


def test_a_window_that_does_not_cross_midnight_and_an_empty_one():
    assert next_allowed_time(local(2026, 6, 10, 3, 0), quiet_start="01:00", quiet_end="06:00", tz=CHICAGO) == local(
        2026, 6, 10, 6, 0
    )
    assert next_allowed_time(local(2026, 6, 10, 23, 0), quiet_start="01:00", quiet_end="06:00", tz=CHICAGO) == local(
        2026, 6, 10, 23, 0
    )
    assert next_allowed_time(local(2026, 6, 10, 3, 0), quiet_start="00:00", quiet_end="00:00", tz=CHICAGO) == local(
        2026, 6, 10, 3, 0
    )


def test_naive_moments_are_refused():
    with pytest.raises(ValueError, match="naive"):
        next_allowed_time(datetime(2026, 6, 10, 12, 0), quiet_start="20:00", quiet_end="08:00", tz="America/Chicago")


# --- appointments ------------------------------------------------------------


def test_a_scheduled_appointment_gets_a_confirmation_now_and_three_reminders():
    now = local(2026, 6, 1, 9, 15)
    start = local(2026, 6, 10, 14, 0)  # Wed 2 PM
    plan = by_key(plan_appointment(appointment(start), CADENCE, now))

    assert list(plan) == ["confirmation", "reminder:3d", "reminder:1d", "reminder:2h"]
    confirmation = plan["confirmation"]
    assert (confirmation.kind, confirmation.template, confirmation.due_at) == (
        "confirmation",
        "appointment_confirmation",
        now,
    )
    assert confirmation.valid_until == now + timedelta(hours=12)
    assert plan["reminder:3d"].due_at == local(2026, 6, 7, 10, 0)
    assert plan["reminder:1d"].due_at == local(2026, 6, 9, 10, 0)
    assert plan["reminder:2h"].due_at == local(2026, 6, 10, 12, 0)
    assert plan["reminder:2h"].valid_until == start  # never after the visit has begun
    assert plan["reminder:1d"].valid_until == local(2026, 6, 9, 16, 0)  # 6 hours
    assert all(item.appointment_id == 7 and item.channel == "sms" and item.blocked is None for item in plan.values())
    key = f"reminder:3d:appt7:{start.astimezone(UTC).isoformat()}"
    assert plan["reminder:3d"].idempotency_key == key


def test_reminders_at_10_local_across_the_autumn_dst_change():
    # Tue Nov 3 2026 09:00 CST; the 3-day reminder falls on Sat Oct 31, still CDT.
    plan = by_key(plan_appointment(appointment(local(2026, 11, 3, 9, 0)), CADENCE, local(2026, 10, 20, 12, 0)))
    assert plan["reminder:3d"].due_at == datetime(2026, 10, 31, 15, 0, tzinfo=UTC)  # 10:00 CDT
    assert plan["reminder:1d"].due_at == datetime(2026, 11, 2, 16, 0, tzinfo=UTC)  # 10:00 CST
    # 2 hours before is 07:00 CST, quiet: moved to 08:00, still an hour before the visit.
    assert plan["reminder:2h"].due_at == datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
    assert plan["reminder:2h"].blocked is None


def test_reminders_across_the_spring_dst_change():
    # Mon Mar 9 2026 14:00 CDT; 3 days before is Fri Mar 6, still CST.
    plan = by_key(plan_appointment(appointment(local(2026, 3, 9, 14, 0)), CADENCE, local(2026, 3, 1, 12, 0)))
    assert plan["reminder:3d"].due_at == datetime(2026, 3, 6, 16, 0, tzinfo=UTC)  # 10:00 CST
    assert plan["reminder:1d"].due_at == datetime(2026, 3, 8, 15, 0, tzinfo=UTC)  # 10:00 CDT, the day of the change
    assert plan["reminder:2h"].due_at == datetime(2026, 3, 9, 17, 0, tzinfo=UTC)  # two real hours before


@pytest.mark.parametrize(
    ("visit", "due", "blocked"),
    [
        ((8, 30), (8, 0), None),  # 6:30 is quiet: 8:00 is still 30 minutes before the visit
        ((8, 10), (8, 0), "quiet_hours"),  # 8:00 is 10 minutes before: useless, skipped
        ((10, 0), (8, 0), None),  # exactly at the end of the quiet hours
        ((10, 1), (8, 1), None),
        ((21, 30), (19, 30), None),
    ],
)
def test_a_2_hour_reminder_moved_by_quiet_hours_must_still_come_30_minutes_before(visit, due, blocked):
    start = local(2026, 6, 10, *visit)
    item = by_key(plan_appointment(appointment(start), CADENCE, local(2026, 6, 1, 12, 0)))["reminder:2h"]
    assert item.due_at == local(2026, 6, 10, *due)
    assert item.blocked == blocked
    state = planning_state(item, consented=True, now=local(2026, 6, 1, 12, 0))
    assert state == (("skipped", "quiet_hours") if blocked else ("planned", None))


def test_a_booking_late_in_the_evening_waits_for_morning_and_skips_what_has_passed():
    now = local(2026, 6, 9, 21, 15)  # books tonight for tomorrow 9:00
    plan = by_key(plan_appointment(appointment(local(2026, 6, 10, 9, 0)), CADENCE, now))
    assert plan["confirmation"].due_at == local(2026, 6, 10, 8, 0)  # no texts at night
    states = {name: planning_state(item, consented=True, now=now) for name, item in plan.items()}
    assert states == {
        "confirmation": ("planned", None),
        "reminder:3d": ("skipped", "past_due"),
        "reminder:1d": ("skipped", "past_due"),
        "reminder:2h": ("planned", None),  # 07:00 moved to 08:00, an hour before
    }


def test_a_confirmed_appointment_keeps_the_day_reminders_but_not_the_2_hour_one_nor_a_confirmation():
    plan = by_key(plan_appointment(appointment(local(2026, 6, 10, 14, 0), "confirmed"), CADENCE, local(2026, 6, 1, 9)))
    assert list(plan) == ["reminder:3d", "reminder:1d"]


@pytest.mark.parametrize("status", ["cancelled", "completed", "no_show"])
def test_an_appointment_that_is_over_wants_nothing(status):
    assert plan_appointment(appointment(local(2026, 6, 10, 14, 0), status), CADENCE, local(2026, 6, 1, 9)) == []


def test_keys_name_the_appointment_time_so_a_move_gets_fresh_reminders_and_the_clock_changes_nothing():
    first = plan_appointment(appointment(local(2026, 6, 10, 14, 0)), CADENCE, local(2026, 6, 1, 9))
    later = plan_appointment(appointment(local(2026, 6, 10, 14, 0)), CADENCE, local(2026, 6, 5, 17, 42))
    moved = plan_appointment(appointment(local(2026, 6, 11, 14, 0)), CADENCE, local(2026, 6, 1, 9))
    assert [i.idempotency_key for i in first] == [i.idempotency_key for i in later]
    assert not {i.idempotency_key for i in first} & {i.idempotency_key for i in moved}


def test_planning_states():
    item = by_key(plan_appointment(appointment(local(2026, 6, 10, 14, 0)), CADENCE, local(2026, 6, 1, 9)))[
        "reminder:1d"
    ]
    assert planning_state(item, consented=True, now=local(2026, 6, 9, 9, 59)) == ("planned", None)
    assert planning_state(item, consented=True, now=local(2026, 6, 9, 10, 1)) == ("skipped", "past_due")
    assert planning_state(item, consented=False, now=local(2026, 6, 1, 9)) == ("skipped", "no_consent")


# --- referrals ---------------------------------------------------------------

SINCE = local(2026, 6, 1, 11, 0, 0)


def kinds(plan) -> list[tuple[str, str, datetime]]:
    return [(item.kind, item.template, item.due_at.astimezone(CHICAGO)) for item in plan]


def test_received_is_acknowledged_and_an_emergency_with_the_urgent_wording():
    assert kinds(plan_referral(referral("received", SINCE), CADENCE)) == [("status_update", "status_received", SINCE)]
    urgent = plan_referral(referral("received", SINCE, emergency=True), CADENCE)
    assert kinds(urgent) == [("status_update", "status_received_urgent", SINCE)]
    assert urgent[0].valid_until == SINCE + timedelta(hours=48)


def test_authorization_pending_says_we_are_asking_unless_it_was_denied():
    assert kinds(plan_referral(referral("authorization_pending", SINCE), CADENCE)) == [
        ("status_update", "status_authorization_pending", SINCE)
    ]
    assert plan_referral(referral("authorization_pending", SINCE, authorization_denied=True), CADENCE) == []


def test_ready_to_schedule_invites_nudges_after_2_and_5_days_and_hands_off_after_7():
    plan = plan_referral(referral("ready_to_schedule", SINCE), CADENCE)
    assert kinds(plan) == [
        ("scheduling_invite", "scheduling_invite", SINCE),
        ("scheduling_nudge", "scheduling_nudge", local(2026, 6, 3, 11, 0)),
        ("scheduling_nudge", "scheduling_nudge", local(2026, 6, 6, 11, 0)),
        ("leakage_handoff", "leakage_handoff", local(2026, 6, 8, 11, 0)),
    ]
    handoff = plan[-1]
    assert (handoff.channel, handoff.valid_until) == ("staff", None)
    assert [item.idempotency_key for item in plan] == [
        "scheduling_invite:invite:ref42:ready_to_schedule@2026-06-01T16:00:00+00:00",
        "scheduling_nudge:2d:ref42:ready_to_schedule@2026-06-01T16:00:00+00:00",
        "scheduling_nudge:5d:ref42:ready_to_schedule@2026-06-01T16:00:00+00:00",
        "leakage_handoff:7d:ref42:ready_to_schedule@2026-06-01T16:00:00+00:00",
    ]


def test_a_campaign_started_in_the_evening_waits_for_morning_but_staff_work_does_not():
    evening = local(2026, 6, 1, 21, 30)
    plan = plan_referral(referral("ready_to_schedule", evening), CADENCE)
    assert [item.due_at.astimezone(CHICAGO) for item in plan] == [
        local(2026, 6, 2, 8, 0),
        local(2026, 6, 4, 8, 0),
        local(2026, 6, 7, 8, 0),
        local(2026, 6, 8, 21, 30),
    ]


def test_an_emergency_ready_to_schedule_is_a_staff_call_not_a_self_scheduling_invite():
    plan = plan_referral(referral("ready_to_schedule", SINCE, emergency=True), CADENCE)
    assert kinds(plan) == [
        ("status_update", "status_ready_staff_call", SINCE),
        ("leakage_handoff", "leakage_handoff", SINCE),
    ]
    assert not any(item.kind in ("scheduling_invite", "scheduling_nudge") for item in plan)


def test_a_no_show_is_followed_up_the_same_day_within_allowed_hours():
    assert kinds(plan_referral(referral("no_show", SINCE, appointment_id=3), CADENCE)) == [
        ("no_show_followup", "no_show_followup", SINCE)
    ]
    late = plan_referral(referral("no_show", local(2026, 6, 1, 20, 5), appointment_id=3), CADENCE)
    assert late[0].due_at == local(2026, 6, 2, 8, 0)
    assert late[0].appointment_id == 3
    urgent = plan_referral(referral("no_show", SINCE, emergency=True), CADENCE)
    assert [i.template for i in urgent] == ["no_show_followup_call", "leakage_handoff"]


def test_a_cancellation_by_the_clinic_offers_one_rebooking_and_by_the_patient_nothing():
    assert kinds(plan_referral(referral("cancelled", SINCE), CADENCE)) == [("rebook_offer", "rebook_offer", SINCE)]
    assert plan_referral(referral("cancelled", SINCE, cancelled_by_patient=True), CADENCE) == []
    urgent = plan_referral(referral("cancelled", SINCE, emergency=True), CADENCE)
    assert [i.template for i in urgent] == ["rebook_offer_call", "leakage_handoff"]


def test_completed_asks_for_a_review_2_hours_after_the_visit():
    visit_end = local(2026, 6, 1, 10, 30)
    plan = plan_referral(referral("completed", local(2026, 6, 1, 16, 0), visit_end=visit_end), CADENCE)
    assert kinds(plan) == [("review_request", "review_request", local(2026, 6, 1, 12, 30))]
    assert plan[0].valid_until == local(2026, 6, 4, 12, 30)
    # Marked completed before the visit's scheduled end: the visit was over by then.
    early = plan_referral(referral("completed", local(2026, 6, 1, 10, 15), visit_end=visit_end), CADENCE)
    assert early[0].due_at == local(2026, 6, 1, 12, 15)
    # A visit at 6 PM: 8:30 PM is quiet, the question waits for the morning.
    evening = plan_referral(referral("completed", local(2026, 6, 1, 19), visit_end=local(2026, 6, 1, 18, 30)), CADENCE)
    assert evening[0].due_at == local(2026, 6, 2, 8, 0)


@pytest.mark.parametrize("status", ["scheduled", "declined"])
def test_scheduled_and_declined_have_no_referral_campaign(status):
    assert plan_referral(referral(status, SINCE), CADENCE) == []


def test_a_new_entry_into_a_status_is_a_new_campaign():
    first = plan_referral(referral("ready_to_schedule", SINCE), CADENCE)
    again = plan_referral(referral("ready_to_schedule", SINCE + timedelta(days=9)), CADENCE)
    assert not {i.idempotency_key for i in first} & {i.idempotency_key for i in again}


# --- properties --------------------------------------------------------------

ZONES = ["America/Chicago", "America/New_York", "America/Los_Angeles", "Pacific/Honolulu", "Europe/Madrid"]


def _quiet(moment: datetime, tz: str) -> bool:
    clock = moment.astimezone(ZoneInfo(tz)).time()
    return clock >= time(20, 0) or clock < time(8, 0)


@settings(max_examples=300, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)).map(
        lambda d: d.replace(second=0, microsecond=0, tzinfo=UTC)
    ),
    lead_minutes=st.integers(min_value=0, max_value=20 * 24 * 60),
    later_minutes=st.integers(min_value=0, max_value=20 * 24 * 60),
    tz=st.sampled_from(ZONES),
    status=st.sampled_from(["scheduled", "confirmed"]),
)
def test_every_reminder_keeps_quiet_hours_and_comes_before_the_visit(start, lead_minutes, later_minutes, tz, status):
    audience = Audience(tz=tz, quiet_start=time(20, 0), quiet_end=time(8, 0))
    now = start - timedelta(minutes=lead_minutes)
    plan = plan_appointment(appointment(start, status, audience), CADENCE, now)
    for item in plan:
        assert item.due_at.tzinfo is UTC
        assert not _quiet(item.due_at, tz)
        if item.blocked is None:
            assert item.valid_until is not None and item.due_at < item.valid_until <= start
            if item.kind == "reminder":
                assert item.due_at <= start - CADENCE.min_lead
        state, _ = planning_state(item, consented=True, now=now)
        if state == "planned" and item.kind == "reminder":
            assert now <= item.due_at
    # The keys do not depend on when we plan.
    other = plan_appointment(appointment(start, status, audience), CADENCE, now + timedelta(minutes=later_minutes))
    assert [i.idempotency_key for i in plan] == [i.idempotency_key for i in other]
    assert len({i.idempotency_key for i in plan}) == len(plan)


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
    tz=st.sampled_from(ZONES),
)
def test_next_allowed_time_is_the_first_allowed_moment(moment, tz):
    result = next_allowed_time(moment, quiet_start="20:00", quiet_end="08:00", tz=tz)
    assert result >= moment
    assert not _quiet(result, tz)
    assert next_allowed_time(result, quiet_start="20:00", quiet_end="08:00", tz=tz) == result
    if result != moment:
        assert _quiet(moment, tz)
        assert result - moment <= timedelta(hours=13)  # 12 quiet hours, plus one on a DST night
        assert result.astimezone(ZoneInfo(tz)).time() == time(8, 0)
