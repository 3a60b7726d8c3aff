"""The cadence file: defaults, the RELAY_CADENCE_FILE override, and refusing a bad file."""

from datetime import time, timedelta

import pytest
from pydantic import ValidationError

from relay.core.settings import get_settings
from relay.models import Clinic
from relay.outreach.cadence import DEFAULT_CADENCE_FILE, load_cadence


@pytest.fixture(autouse=True)
def _fresh_cache():
    load_cadence.cache_clear()
    yield
    load_cadence.cache_clear()
    get_settings.cache_clear()


def test_the_defaults():
    cadence = load_cadence()
    assert cadence is load_cadence()  # cached
    assert cadence.daily_cap == 3
    assert cadence.rate_limit_per_second == 1
    assert [(r.name, r.days_before, r.at, r.hours_before, r.when_confirmed) for r in cadence.appointment.reminders] == [
        ("3d", 3, time(10, 0), None, True),
        ("1d", 1, time(10, 0), None, True),
        ("2h", None, None, 2, False),
    ]
    assert cadence.min_lead == timedelta(minutes=30)
    assert cadence.validity("reminder") == timedelta(hours=6)
    assert cadence.validity("leakage_handoff") is None
    assert cadence.referral.nudges_after_days == (2, 5)
    assert cadence.referral.leakage_handoff_after_days == 7
    assert cadence.referral.review_request_after_visit_hours == 2


def test_quiet_hours_come_from_the_clinic_unless_the_file_sets_them(tmp_path, monkeypatch):
    clinic = Clinic(quiet_hours_start="21:00", quiet_hours_end="7:30")
    assert load_cadence().quiet_window(clinic) == (time(21, 0), time(7, 30))

    custom = tmp_path / "cadence.yaml"
    custom.write_text(
        DEFAULT_CADENCE_FILE.read_text()
        .replace("quiet_hours: {start: null, end: null}", 'quiet_hours: {start: "19:00", end: "09:00"}')
        .replace("daily_cap: 3", "daily_cap: 2")
    )
    monkeypatch.setenv("RELAY_CADENCE_FILE", str(custom))
    get_settings.cache_clear()
    cadence = load_cadence()
    assert cadence.quiet_window(clinic) == (time(19, 0), time(9, 0))
    assert cadence.daily_cap == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("reminder: 6", "reminders: 6"), "unknown kinds"),
        (
            ("- {name: 2h, hours_before: 2, when_confirmed: false}", '- {name: 2h, hours_before: 2, at: "10:00"}'),
            "days_before and at",
        ),
        (("- {name: 1d,", "- {name: 3d,"), "distinct"),
        (("daily_cap: 3", "daily_cap: 3\nsurprise: 1"), "surprise"),
        (("quiet_hours: {start: null, end: null}", 'quiet_hours: {start: "20:00", end: null}'), "both start and end"),
    ],
)
def test_a_bad_file_is_refused_with_a_reason(tmp_path, monkeypatch, change, message):
    bad = tmp_path / "cadence.yaml"
    text = DEFAULT_CADENCE_FILE.read_text()
    assert change[0] in text
    bad.write_text(text.replace(change[0], change[1], 1))
    with pytest.raises(ValidationError, match=message):
        load_cadence(bad)
