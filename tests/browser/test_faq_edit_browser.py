"""An admin edits an FAQ answer in Chromium, with its live preview, and the real bot answers with the new text.

The webhooks and the bot run on the real clock; the console runs on `clock`, set to the real time first.
"""

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from console.sms_meter import measure
from relay.core.db import session_scope
from relay.models import Conversation, Faq, Message
from tests.browser.support import assert_accessible, screenshot, sign_in
from tests.console.support import Account, Clock

pytestmark = [pytest.mark.browser, pytest.mark.rasa]

JAMES = "+13125550145"
OLD_ANSWER = "Free parking is in the garage on Riverside Ave; bring your ticket to the front desk for validation."
NEW_ANSWER = (
    "Parking is now free in the blue lot behind the clinic, entrance on Oak Street. The Riverside Ave garage "
    "is closed for repairs until spring; ask the front desk if you need a wheelchair-accessible space."
)
BOT = 60_000  # ms: a text through the webhook and the real bot, which can be slow on a busy 2-core machine


def _stored_parking_answer() -> str:
    with session_scope() as session:
        return session.scalars(select(Faq.answer).filter_by(key="parking")).one()


@pytest.mark.timeout(600)  # the first `rasa` test of a session also waits for the stack to start (1-3 min)
def test_an_edited_faq_answer_is_previewed_saved_and_then_texted_by_the_bot(
    rasa_stack, page: Page, live_console: str, admin: Account, clock: Clock
):
    base = live_console
    clock.now = datetime.now(UTC)
    meter = measure(NEW_ANSWER)
    assert meter.segments == 2 and meter.gsm7  # the preview below has a two-segment text to count
    sign_in(page, base, admin, clock)

    # The editor: the preview follows what is typed, before anything is saved.
    page.goto(f"{base}/console/faqs")
    page.get_by_role("link", name="parking", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("FAQ parking")
    answer = page.get_by_label("Answer in English")
    expect(answer).to_have_value(OLD_ANSWER)
    preview = page.locator("#preview-en")
    expect(preview.locator(".bubble")).to_have_text(OLD_ANSWER)
    answer.fill(NEW_ANSWER)
    expect(preview.locator(".bubble")).to_have_text(NEW_ANSWER)
    expect(page.locator("#meter-en")).to_have_text(meter.summary)
    expect(page.locator("#meter-en")).to_contain_text("2 SMS segments")
    expect(preview.locator(".speech")).to_contain_text("blue lot behind the clinic")
    expect(page.locator("#preview-en-status")).to_have_text(f"English answer: {meter.summary}.")
    assert _stored_parking_answer() == OLD_ANSWER  # a preview saves nothing
    screenshot(page, "faq-editor")
    assert_accessible(page, "faq-editor")

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page).to_have_url(f"{base}/console/faqs/parking?done=saved")
    expect(page.get_by_role("status")).to_have_text("Saved. The bot uses this version from the next message on.")
    expect(page.get_by_label("Answer in English")).to_have_value(NEW_ANSWER)
    assert _stored_parking_answer() == NEW_ANSWER

    # James asks in the simulator, and the bot answers with the new text.
    page.get_by_role("link", name="Phone simulator").click()
    picker = page.get_by_label("Demo patient")
    picker.select_option(value=picker.locator("option", has_text="James Carter").get_attribute("value"))
    page.get_by_role("button", name="Use this phone").click()
    expect(page.get_by_role("heading", level=2, name=re.compile(r"^James Carter"))).to_be_visible()
    page.get_by_label("Text the clinic").fill("where do I park?")
    page.get_by_role("button", name="Send").click()
    asked = page.locator("#sim-thread li.bubble.mine").filter(has_text="where do I park?")
    expect(asked).to_have_count(1, timeout=BOT)
    answered = page.locator(f"#sim-thread li.bubble.mine[data-message='{asked.get_attribute('data-message')}'] "
                            "~ li.bubble.theirs")  # fmt: skip
    expect(answered).to_have_count(1, timeout=BOT)
    expect(answered.locator(".bubble-body")).to_have_text(NEW_ANSWER)
    expect(answered.locator(".bubble-author")).to_have_text("Bot")
    with session_scope() as session:
        last = session.scalars(
            select(Message).join(Conversation).where(Conversation.phone == JAMES).order_by(Message.id.desc())
        ).first()
        assert last is not None and (last.direction, last.author, last.body) == ("outbound", "bot", NEW_ANSWER)
