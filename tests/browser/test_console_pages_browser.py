"""Every console page in Chromium, with data in it, photographed at desktop size (the key ones on a tablet too).

The screenshots go to reports/screenshots/<name>.png for people to look at; each test also checks what the page
shows (headings, a known row, what typing does), so that a photograph of a broken page cannot pass.
None of this needs the bot: the takeover page reads a fake of Rasa's tracker API, the simulator texts STOP,
which the webhook answers itself.
"""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from relay.core.db import session_scope
from relay.language.timefmt import format_when
from relay.models import (
    StaffRole,
)
from relay.staff import accounts
from tests.browser.scenes import AISHA, JAMES, TOM, UNKNOWN, busy_handoff, handoffs_of_every_priority, remember
from tests.browser.support import TABLET, screenshot, sign_in
from tests.console.support import Account, Clock
from tests.fake_rasa import FakeRasa
from tests.support import DEMO_TZ

pytestmark = pytest.mark.browser

CURLY = "\u2019"  # a right single quotation mark: not in the SMS alphabet


@pytest.fixture
def clock() -> Clock:
    """The real time: the demo clinic is seeded relative to it (its appointments ahead, its records behind)."""
    return Clock(datetime.now(UTC))


def fits(page: Page, viewport: dict[str, int]) -> None:
    """Nothing on the page is wider than the screen (no sideways scrolling)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"{page.url} is {width}px wide on a {viewport['width']}px screen"


# --- the pages ----------------------------------------------------------------------------------------------


def test_the_queue(page: Page, live_console: str, account: Account, clock: Clock):
    opened = handoffs_of_every_priority(clock)
    sign_in(page, live_console, account, clock)

    expect(page.locator(".queue-count")).to_have_text("4 open")
    rows = page.locator("tr[data-handoff]")
    expect(rows).to_have_count(4)
    # Most urgent first, then the longest waiting.
    order = [int(v) for v in rows.evaluate_all("rows => rows.map(r => r.dataset.handoff)")]
    assert order == [opened[AISHA], opened[TOM], opened[JAMES], opened[UNKNOWN]]
    expect(rows.locator("td[data-label='Priority']")).to_have_text(["Urgent", "High", "Normal", "Normal"])
    claimed = page.locator(f"tr[data-handoff='{opened[JAMES]}']")
    expect(claimed).to_contain_text("James Carter")
    expect(claimed).to_contain_text("RF-2001")
    expect(claimed.locator("td[data-label='Claimed by']")).to_have_text("Kim Park")
    expect(page.locator(f"tr[data-handoff='{opened[UNKNOWN]}'] td[data-label='Claimed by']")).to_have_text("Nobody yet")
    screenshot(page, "queue")


def test_the_takeover_page(page: Page, live_console: str, account: Account, clock: Clock, fake_rasa: FakeRasa):
    handoff_id = busy_handoff(clock)
    offered = remember(fake_rasa, clock)
    sign_in(page, live_console, account, clock)
    page.locator(f"tr[data-handoff='{handoff_id}']").get_by_role("link", name="James Carter").click()

    expect(page).to_have_url(f"{live_console}/console/handoffs/{handoff_id}")
    expect(page.get_by_role("heading", name="James Carter", level=1)).to_be_visible()
    card = page.locator("section.summary")
    expect(card.get_by_role("heading", name="What the bot established")).to_be_visible()
    expect(card).to_contain_text("Verified: their date of birth matched")
    expect(card).to_contain_text("RF-2001")
    expect(card).to_contain_text("Confirmed")
    expect(card.locator("ol.offered li")).to_have_text([format_when(moment, DEMO_TZ) for moment in offered])
    expect(card.locator("q.said")).to_have_text(
        ["when is my appointment", "can I move it to a morning", "are you there? I want to talk to a person"]
    )
    expect(card).to_contain_text("understood as: reschedule appointment (88% sure)")
    expect(card.locator(".memory-missing")).to_have_count(0)
    expect(card.locator("dt", has_text="Conversation held in").locator("xpath=following-sibling::dd[1]")).to_have_text(
        "Spanish"
    )

    timeline = page.locator("#timeline-live")
    expect(timeline).to_contain_text("Outreach: Appointment reminder")
    expect(timeline).to_contain_text("Opted out of texts")
    expect(timeline).to_contain_text("Resolved by Kim Park; back to the bot")
    call = timeline.locator(".entry-call")
    expect(call).to_contain_text("Call from James Carter")
    expect(call).to_contain_text("I want to reschedule")
    expect(call).to_contain_text("3 min 5 s")
    expect(timeline.locator(".entry-message.entry-inbound").last).to_contain_text(
        "are you there? I want to talk to a person"
    )
    expect(page.get_by_role("button", name="Claim this conversation").first).to_be_visible()
    expect(page.get_by_role("heading", name="Referrals and appointments")).to_be_visible()
    screenshot(page, "takeover")

    page.set_viewport_size(TABLET)
    expect(page.get_by_role("heading", name="What the bot established")).to_be_visible()
    fits(page, TABLET)
    screenshot(page, "takeover-tablet")


def test_the_referrals_pages(page: Page, live_console: str, account: Account, clock: Clock):
    sign_in(page, live_console, account, clock)
    page.get_by_role("link", name="Referrals").click()

    expect(page.get_by_role("heading", name="Needing attention")).to_be_visible()
    rows = page.locator("tr[data-referral]")
    expect(rows).to_have_count(5)
    expect(rows.first).to_contain_text("RF-2012")  # the emergency first
    expect(rows.first.locator(".badge-urgent")).to_have_text("Emergency")
    screenshot(page, "referrals")

    page.get_by_label("Find a referral").fill("kevin murphy")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name="2 matches for “kevin murphy”")).to_be_visible()
    expect(rows).to_have_count(2)
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.referral)")) == {"RF-2009", "RF-2010"}
    expect(rows.first).to_contain_text("Kevin Murphy")
    expect(rows.first).to_contain_text("(***) ***-")  # the phone, masked
    screenshot(page, "referrals-search")

    page.set_viewport_size(TABLET)
    expect(page.get_by_role("heading", name="2 matches for “kevin murphy”")).to_be_visible()
    fits(page, TABLET)
    screenshot(page, "referrals-search-tablet")


def test_the_faq_list_and_the_editor_with_its_live_preview(page: Page, live_console: str, admin: Account, clock: Clock):
    sign_in(page, live_console, admin, clock)
    page.get_by_role("link", name="FAQs").click()

    expect(page.get_by_role("heading", name="FAQs", exact=True)).to_be_visible()
    parking = page.locator("tr[data-faq='parking']")
    expect(parking).to_contain_text("Where do I park?")
    expect(parking.locator(".badge")).to_have_text("Live")
    expect(page.locator("tr[data-faq]")).to_have_count(7)
    screenshot(page, "faq-list")

    parking.get_by_role("link", name="parking").click()
    expect(page.get_by_role("heading", name="FAQ parking")).to_be_visible()
    answer = page.get_by_label("Answer in English")
    typed = "Park free in the garage on Oak St, level 2. Bring your ticket to the front desk to have it validated."
    answer.fill(typed)
    preview = page.locator("#preview-en")
    expect(preview.locator(".bubble")).to_have_text(typed)
    expect(page.locator("#meter-en")).to_contain_text(f"{len(typed)} characters · 1 SMS segment · GSM-7")
    expect(preview.locator("blockquote.speech")).to_contain_text("Park free in the garage")
    screenshot(page, "faq-editor-typing")

    # A curly apostrophe is not in the SMS alphabet: the preview says so and offers the plain version.
    answer.fill(f"It{CURLY}s free in the garage on Oak St.")
    expect(page.locator("#meter-en")).to_contain_text("Unicode (UCS-2)")
    expect(page.locator("#meter-en kbd")).to_have_text(CURLY)
    expect(preview.locator(".preview-problem")).to_contain_text("Saving refuses this")
    plain = preview.get_by_role("figure", name="The same text in SMS characters only")
    expect(plain.locator("blockquote")).to_have_text("It's free in the garage on Oak St.")  # to copy, not a field
    screenshot(page, "faq-editor-warning")

    page.set_viewport_size(TABLET)
    expect(page.get_by_label("Answer in English")).to_be_visible()
    fits(page, TABLET)
    screenshot(page, "faq-editor-tablet")


def test_the_users_and_the_audit_log(page: Page, live_console: str, admin: Account, account: Account, clock: Clock):
    with session_scope() as session:
        accounts.create_user(session, email="noor@clinic.example", name="Noor Bakr", role=StaffRole.STAFF,
                             now=clock.now - timedelta(hours=1), by=f"staff:{admin.id}")  # fmt: skip
    sign_in(page, live_console, admin, clock)

    page.get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    you = page.locator(f"tr[data-user='{admin.id}']")
    expect(you).to_contain_text("Ada Admin (you)")
    expect(you.locator("td[data-label='Role']")).to_have_text("Admin")
    ann = page.locator(f"tr[data-user='{account.id}']")
    expect(ann.locator("td[data-label='Access']")).to_have_text("Active")
    expect(ann.get_by_role("button", name="Disable Ann Lee")).to_be_visible()
    noor = page.locator("tr[data-user]").filter(has_text="Noor Bakr")
    expect(noor.locator("td[data-label='Access']")).to_contain_text("Enrolment pending (link expires ")
    expect(noor.locator("td[data-label='Access']")).not_to_contain_text("Active")  # cannot sign in yet
    expect(page.get_by_role("heading", name="Add a person")).to_be_visible()
    screenshot(page, "users")

    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    events = page.locator("tr[data-event]")
    expect(events.first).to_be_visible()
    by_ada = events.filter(has=page.locator("td[data-label='Who']", has_text="Ada Admin"))
    expect(by_ada.filter(has_text="Signed in")).to_have_count(1)
    added = by_ada.filter(has_text="Account added")
    expect(added).to_have_count(1)
    detail = added.locator("dl.details div").filter(has=page.locator("dt", has_text="account")).locator("dd")
    expect(detail).to_have_text("Noor Bakr (noor@clinic.example)")  # the account's id, read as the person
    page.get_by_label("What happened").select_option("staff.signed_in")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(f"{live_console}/console/audit?user=&patient=&action=staff.signed_in")
    expect(events).to_have_count(1)
    page.get_by_role("link", name="Clear filters").click()
    expect(events.filter(has_text="Account added").first).to_be_visible()
    screenshot(page, "audit-log")


def test_the_phone_simulator_with_a_demo_patient(page: Page, live_console: str, account: Account, clock: Clock):
    sign_in(page, live_console, account, clock)
    page.get_by_role("link", name="Phone simulator").click()

    expect(page.get_by_role("heading", name="Phone simulator")).to_be_visible()
    expect(page.get_by_text("nothing is sent to a real phone")).to_be_visible()
    page.get_by_label("Demo patient").select_option(label="James Carter · (***) ***-0145")
    page.get_by_role("button", name="Use this phone").click()
    expect(page.get_by_role("heading", name="James Carter", level=2)).to_be_visible()
    expect(page.get_by_text("No texts with this number yet.")).to_be_visible()

    page.get_by_label("Text the clinic").fill("STOP")
    page.get_by_role("button", name="Send").click()

    thread = page.locator("#sim-thread .bubble")
    expect(thread).to_have_count(2)
    expect(thread.first.locator(".bubble-body")).to_have_text("STOP")
    expect(thread.first).to_have_class("bubble mine")
    expect(thread.last.locator(".bubble-body")).to_contain_text("You are unsubscribed from Riverside Family Health")
    expect(page.get_by_text("Webhook answered 200: 1 TwiML message")).to_be_visible()
    expect(page.get_by_label("Text the clinic")).to_have_value("")  # a fresh box for the next text
    expect(page.get_by_role("button", name="Call the clinic")).to_be_visible()
    screenshot(page, "simulator")

    page.set_viewport_size(TABLET)
    expect(page.get_by_label("Text the clinic")).to_be_visible()
    fits(page, TABLET)
    screenshot(page, "simulator-tablet")
