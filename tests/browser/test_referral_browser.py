"""A referral's page in Chromium, as the front desk uses it: find the patient, read the outreach plan, move the
appointment to another open time (its reminders follow it), and change the status through the select.

The demo clinic is seeded relative to today; the console's clock is today at noon in the clinic's zone, so the
seeded appointment (D+3 10:00) and the open slots lie ahead of it.
"""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from relay.core.db import session_scope
from relay.language.timefmt import format_clock, format_day, format_when
from relay.models import Appointment, OutreachKind, OutreachState, PlannedOutreach, Referral, ReferralStatus
from relay.models.outreach import PENDING_STATES
from relay.outreach.reconcile import replan_appointment, replan_referral
from tests.browser.support import TABLET, screenshot, sign_in
from tests.console.support import Account, Clock
from tests.support import DEMO_TZ, demo_moment

pytestmark = pytest.mark.browser

ZONE = ZoneInfo(DEMO_TZ)


@pytest.fixture
def clock() -> Clock:
    """Today at noon in the clinic's zone (mid TOTP step): the seeded appointment and the open slots are ahead."""
    return Clock(demo_moment(0, "12:00") + timedelta(seconds=10))


# --- the database ------------------------------------------------------------------------------------


def plan_outreach(external_id: str, now: datetime) -> None:
    """What the worker's sweep does for the seeded demo (the seed plans nothing)."""
    with session_scope() as session:
        found = session.scalars(select(Referral).filter_by(external_id=external_id)).one()
        for appointment in found.appointments:
            replan_appointment(session, appointment=appointment, now=now)
        replan_referral(session, referral=found, now=now)


def live_appointment(external_id: str) -> Appointment:
    with session_scope() as session:
        found = session.scalars(select(Referral).filter_by(external_id=external_id)).one()
        [live] = [a for a in found.appointments if a.status in ("scheduled", "confirmed")]
        session.expunge(live)
        return live


def referral_status(external_id: str) -> str:
    with session_scope() as session:
        return session.scalars(select(Referral.status).filter_by(external_id=external_id)).one()


def reminders(appointment_id: int, *, pending: bool = True) -> set[datetime]:
    """Due times of the appointment's reminders: the pending ones, or the cancelled ones."""
    with session_scope() as session:
        rows = session.scalars(
            select(PlannedOutreach).filter_by(appointment_id=appointment_id, kind=OutreachKind.REMINDER)
        ).all()
        if pending:
            return {row.due_at for row in rows if row.state in PENDING_STATES}
        return {row.due_at for row in rows if row.state == OutreachState.CANCELLED}


def expected_reminders(start_at: datetime) -> set[datetime]:
    """The demo cadence: 3 days and 1 day before at 10:00 clinic time, and 2 hours before."""
    day = start_at.astimezone(ZONE).date()
    at_ten = time(10, 0)
    return {
        datetime.combine(day - timedelta(days=3), at_ten, tzinfo=ZONE).astimezone(UTC),
        datetime.combine(day - timedelta(days=1), at_ten, tzinfo=ZONE).astimezone(UTC),
        start_at - timedelta(hours=2),
    }


# --- the page ----------------------------------------------------------------------------------------


def reminder_rows(page: Page, state_class: str = "outreach-planned") -> Locator:
    return page.locator(f"#outreach tbody tr.{state_class}").filter(has_text="Appointment reminder")


def shown_due_times(rows: Locator) -> list[datetime]:
    values = rows.locator("td[data-label='Due'] time").evaluate_all("times => times.map(t => t.dateTime)")
    return [datetime.fromisoformat(value) for value in values]


def expect_planned_reminders(page: Page, due: set[datetime]) -> None:
    """The outreach plan lists exactly these reminders as planned, in time order, in the clinic's words."""
    rows = reminder_rows(page)
    in_order = sorted(due)
    expect(rows.locator("td[data-label='Due']")).to_have_text([format_when(moment, DEMO_TZ) for moment in in_order])
    assert shown_due_times(rows) == in_order


def status_options(page: Page) -> list[str]:
    return (
        page.get_by_label("Change the status to").locator("option").evaluate_all("options => options.map(o => o.value)")
    )


# --- search, the plan, moving the appointment --------------------------------------------------------


def test_staff_find_the_patient_and_move_the_appointment_and_its_reminders_follow(
    page: Page, live_console: str, account: Account, clock: Clock
):
    plan_outreach("RF-2001", clock.now)
    before = live_appointment("RF-2001")
    old_reminders = reminders(before.id)
    assert old_reminders, "the planner planned no reminder for RF-2001"
    sign_in(page, live_console, account, clock)

    # Search by name from the Referrals page.
    page.get_by_role("link", name="Referrals").click()
    expect(page.get_by_role("heading", name="Referrals", exact=True)).to_be_visible()
    page.get_by_label("Find a referral").fill("carter")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name="1 match for “carter”")).to_be_visible()
    row = page.locator("tr[data-referral]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("James Carter")
    expect(row).to_contain_text(format_when(before.start_at, DEMO_TZ))
    row.get_by_role("link", name="RF-2001").click()

    # The referral's page: the appointment and the reminders planned for it.
    expect(page).to_have_url(f"{live_console}/console/referrals/RF-2001")
    expect(page.get_by_role("heading", name="Referral RF-2001: James Carter")).to_be_visible()
    expect(page.locator(".live-appointment")).to_contain_text(format_when(before.start_at, DEMO_TZ))
    expect_planned_reminders(page, old_reminders)

    # The time chooser is folded away while the appointment stands, and the cancellation comes after it.
    chooser = page.locator("details#book")
    expect(chooser).not_to_have_attribute("open", "")
    assert page.locator("#book-heading, .cancel-form legend").all_inner_texts() == [
        "Move to another time",
        "Cancel the appointment",
    ]
    chooser.get_by_text("Move to another time").click()
    expect(chooser).to_have_attribute("open", "")

    # Another open time, at least five days out, in the afternoon: every reminder of it is still ahead.
    offered = [
        datetime.fromisoformat(value)
        for value in page.locator("input[name='slot']").evaluate_all("radios => radios.map(r => r.value)")
    ]
    today = clock.now.astimezone(ZONE).date()
    chosen = next(s for s in offered if (s.astimezone(ZONE).date() - today).days >= 5 and s.astimezone(ZONE).hour == 14)
    local = chosen.astimezone(ZONE)
    day = page.get_by_role("group", name=format_day(local.date()), exact=True)
    radio = day.get_by_label(format_clock(local.time()), exact=True)
    radio.check()
    expect(radio).to_be_checked()
    assert datetime.fromisoformat(radio.get_attribute("value") or "") == chosen
    page.get_by_role("button", name="Move the appointment here").click()

    # The page confirms, and shows the new time.
    expect(page).to_have_url(f"{live_console}/console/referrals/RF-2001?done=moved")
    new_time = format_when(chosen, DEMO_TZ)
    expect(page.get_by_role("status")).to_have_text(
        f"Moved to {new_time}. The reminders moved with it (see Outreach plan)."
    )
    expect(page.get_by_role("status").get_by_role("link", name="Outreach plan")).to_have_attribute("href", "#outreach")
    expect(page.locator(".live-appointment")).to_contain_text(new_time)
    expect(page.locator(f"tr[data-appointment='{before.id}'] time")).to_have_attribute("datetime", chosen.isoformat())
    expect(page.locator("#history tbody tr").first).to_contain_text(
        f"Appointment moved from {format_when(before.start_at, DEMO_TZ)} to {new_time}"
    )
    expect(page.locator("#history tbody tr").first).to_contain_text(account.name)

    # The reminders follow the new time: on the page and in the database.
    moved = expected_reminders(chosen)
    expect_planned_reminders(page, moved)
    assert reminders(before.id) == moved
    superseded = old_reminders - moved
    assert superseded and superseded <= reminders(before.id, pending=False)
    assert set(shown_due_times(reminder_rows(page, "outreach-cancelled"))) >= superseded
    # Superseded rows are kept apart from the live plan, folded under "Earlier plans (N)".
    earlier = page.locator("#outreach details.earlier-plans")
    expect(earlier).not_to_have_attribute("open", "")
    folded = earlier.locator("tr.outreach-cancelled, tr.outreach-skipped")
    expect(earlier.locator("summary")).to_have_text(f"Earlier plans ({folded.count()})")
    expect(page.locator("#outreach tr.outreach-cancelled, #outreach tr.outreach-skipped")).to_have_count(folded.count())
    after = live_appointment("RF-2001")
    assert (after.id, after.start_at, after.version) == (before.id, chosen, before.version + 1)

    screenshot(page, "referral-page")
    page.set_viewport_size(TABLET)
    expect(page.get_by_role("heading", name="Referral RF-2001: James Carter")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]  # nothing wider than the screen
    screenshot(page, "referral-page-tablet")


# --- the status ----------------------------------------------------------------------------------------


def test_staff_change_the_status_through_the_select_which_offers_only_allowed_ones(
    page: Page, live_console: str, account: Account, clock: Clock
):
    sign_in(page, live_console, account, clock)
    page.goto(f"{live_console}/console/referrals/RF-2003")
    expect(page.locator(".current-status")).to_have_text("Waiting for insurance approval")
    status = page.get_by_label("Change the status to")
    assert status_options(page) == ["", "ready_to_schedule", "declined", "cancelled"]
    expect(status.locator("option")).to_have_text(["Choose a status", "Ready to book", "Declined", "Cancelled"])

    status.select_option(label="Ready to book")
    page.get_by_role("button", name="Change status").click()

    expect(page).to_have_url(f"{live_console}/console/referrals/RF-2003?done=status")
    expect(page.get_by_role("status")).to_contain_text("Status changed: the referral is now ready to book.")
    expect(page.locator(".current-status")).to_have_text("Ready to book")
    latest = page.locator("#history tbody tr").first
    expect(latest).to_contain_text("Status changed from Waiting for insurance approval to Ready to book")
    expect(latest).to_contain_text(account.name)
    assert referral_status("RF-2003") == ReferralStatus.READY_TO_SCHEDULE

    # From "ready to book" only a cancellation is offered: booked comes from booking, done from a visit.
    assert status_options(page) == ["", "cancelled"]
    expect(page.get_by_label("Change the status to").locator("option")).to_have_text(["Choose a status", "Cancelled"])

    # A tampered select (an option the page never offered) changes nothing: the server refuses it in words.
    page.get_by_label("Change the status to").evaluate("select => select.add(new Option('Visit done', 'completed'))")
    page.get_by_label("Change the status to").select_option("completed")
    page.get_by_role("button", name="Change status").click()
    expect(page.locator("#status-error")).to_contain_text("can't go from ready_to_schedule to completed")
    expect(page.locator("#status-error")).to_contain_text("it can become: cancelled")
    expect(page.get_by_label("Change the status to")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".current-status")).to_have_text("Ready to book")
    assert referral_status("RF-2003") == ReferralStatus.READY_TO_SCHEDULE
    assert status_options(page) == ["", "cancelled"]
