"""What patients write reaches the console as text, never as markup: in Chromium, on the queue, the takeover
page (its summary card and its timeline, also after the timeline refreshes itself) and the referral page.

No dialog may open and no script element with the patient's words may exist: either would mean the browser
read patient text as HTML. (The console's CSP would also block an inline script; `open_page` fails the test on
any CSP violation, so markup that slipped through would be caught that way too.)
"""

from datetime import timedelta

import pytest
from playwright.sync_api import Dialog, Page, expect
from sqlalchemy import select

from relay.core.db import session_scope
from relay.messaging.handoffs import open_handoff
from relay.models import HandoffPriority, Patient, Referral
from relay.records import conversations
from tests.browser.support import sign_in
from tests.console.support import Account, Clock
from tests.support import demo_moment

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("rasa_stopped")]

JAMES, AISHA, TOM = "+13125550145", "+13125550146", "+13125550151"
SCRIPT = "<script>alert(1)</script>"
IMAGE = "<img src=x onerror=alert(2)>"
POLL_WAIT_MS = 12_000  # the timeline refreshes every 5 s, the queue every 3 s


@pytest.fixture
def clock() -> Clock:
    return Clock(demo_moment(0, "12:00") + timedelta(seconds=10))


def say(phone: str, body: str, at, *, direction: str = "inbound", author: str = "patient") -> None:
    with session_scope() as session:
        conversation = conversations.find_or_open(session, phone=phone)
        conversations.record_message(session, conversation=conversation, direction=direction, channel="sms",
                                     author=author, body=body, now=at)  # fmt: skip


def hand_over(
    phone: str, at, *, priority: HandoffPriority = HandoffPriority.NORMAL, with_referral: bool = False
) -> int:
    with session_scope() as session:
        conversation = conversations.find_or_open(session, phone=phone)
        referral_id = None
        if with_referral:
            referral_id = session.scalars(select(Referral.id).filter_by(patient_id=conversation.patient_id)).first()
        return open_handoff(session, conversation=conversation, reason="patient_request", priority=priority,
                            referral_id=referral_id, now=at).id  # fmt: skip


def record_dialogs(page: Page) -> list[str]:
    """Every dialog the page opens (alert, confirm, prompt), dismissed at once."""
    opened: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        opened.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return opened


def expect_no_script_of(page: Page, words: str = "alert(") -> None:
    """No script element in the document holds these words.

    Not `page.locator("script", has_text=...)`: Playwright's text matching skips the text of script, style and
    noscript elements, so that locator finds nothing even when such a script is there and could never fail.
    """
    found = page.evaluate(
        "words => [...document.querySelectorAll('script')].filter(s => s.textContent.includes(words)).length", words
    )
    assert found == 0, f"{found} script element(s) with {words!r} on {page.url}"


def test_a_patients_script_shows_as_text_in_the_queue_the_takeover_page_and_the_referral(
    page: Page, live_console: str, account: Account, clock: Clock
):
    now = clock.now
    say(JAMES, "Hi, I have a question about my visit", now - timedelta(minutes=9))
    say(JAMES, "Sure, what is it?", now - timedelta(minutes=8), direction="outbound", author="bot")
    say(JAMES, SCRIPT, now - timedelta(minutes=6))  # the patient's last turn: the card shows it
    handoff_id = hand_over(JAMES, now - timedelta(minutes=5), with_referral=True)
    dialogs = record_dialogs(page)

    sign_in(page, live_console, account, clock)

    # The queue shows no message text; the patient's row renders, and nothing of the script ran.
    row = page.locator(f"tr[data-handoff='{handoff_id}']")
    expect(row).to_contain_text("James Carter")
    expect(row).to_contain_text("RF-2001")
    expect_no_script_of(page)

    row.get_by_role("link", name="James Carter").click()
    expect(page.get_by_role("heading", name="James Carter")).to_be_visible()

    # The summary card's last turns: the script, as text.
    card = page.locator("section.summary")
    expect(card.locator("q.said").last).to_have_text(SCRIPT)
    # The timeline: the script, as text, as the body of the patient's message.
    timeline = page.locator("#timeline-live")
    expect(timeline.locator(".entry-inbound .body").filter(has_text="alert(1)")).to_have_text(SCRIPT)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in timeline.inner_html()
    expect_no_script_of(page)

    # What the timeline's refresh brings in (htmx swaps it every 5 s) is text as well.
    say(JAMES, IMAGE, clock.now)
    expect(timeline.get_by_text(IMAGE, exact=True)).to_be_visible(timeout=POLL_WAIT_MS)
    expect(timeline.locator("img")).to_have_count(0)
    expect(timeline.get_by_text(SCRIPT, exact=True)).to_be_visible()
    expect_no_script_of(page)

    # The referral page's conversation too.
    page.goto(f"{live_console}/console/referrals/RF-2001")
    messages = page.locator("#conversation .message-body")
    expect(messages.filter(has_text="alert(1)")).to_have_text(SCRIPT)
    expect(messages.filter(has_text="alert(2)")).to_have_text(IMAGE)
    expect(page.locator("#conversation img")).to_have_count(0)
    expect_no_script_of(page)

    assert dialogs == []


def test_a_patient_name_with_markup_shows_as_text_in_the_queue_and_its_refreshes(
    page: Page, live_console: str, account: Account, clock: Clock
):
    with session_scope() as session:
        session.scalars(select(Patient).filter_by(phone=AISHA)).one().name = IMAGE
    say(AISHA, "hello", clock.now - timedelta(minutes=3))
    hand_over(AISHA, clock.now - timedelta(minutes=2), priority=HandoffPriority.HIGH)
    dialogs = record_dialogs(page)

    sign_in(page, live_console, account, clock)

    rows = page.locator("tr[data-handoff]")
    expect(rows).to_have_count(1)
    expect(rows.get_by_role("link", name=IMAGE, exact=True)).to_be_visible()
    # A new handoff arrives; the queue's own refresh (every 3 s) brings it, with the name still text.
    hand_over(TOM, clock.now - timedelta(minutes=1))
    expect(rows).to_have_count(2, timeout=POLL_WAIT_MS)
    expect(rows.get_by_role("link", name=IMAGE, exact=True)).to_be_visible()
    expect(page.locator("#queue-live img")).to_have_count(0)
    expect_no_script_of(page)

    rows.get_by_role("link", name=IMAGE, exact=True).click()
    expect(page.get_by_role("heading", name=IMAGE)).to_be_visible()
    expect(page.locator("main img")).to_have_count(0)
    assert dialogs == []
