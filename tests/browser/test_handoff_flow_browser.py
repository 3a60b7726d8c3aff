"""A handoff from start to end in Chromium, with the real bot: a patient asks for a person in the phone
simulator, two staff members see it arrive in their open queues, one claims it, replies and resolves it,
and the bot answers the patient again.

The webhooks and the bot run on the real clock; the console runs on `clock`, which is set to the real time
at the start (so that the codes and both sides agree) and kept level with it before each console action.
"""

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Dialog, Locator, Page, expect
from sqlalchemy import select

from relay.core.db import session_scope
from relay.models import Conversation, Handoff, HandoffStatus, Message
from tests.browser.support import problems_of, screenshot, sign_in, watch
from tests.console.support import Account, Clock, make_account
from tests.fake_twilio import FakeTwilio
from tests.webhooks.twilio_helpers import CLINIC_NUMBER

pytestmark = [pytest.mark.browser, pytest.mark.rasa]

JAMES = "+13125550145"
JAMES_NAME = "James Carter"
SCRIPT = "<script>alert(1)</script>"
ASK_FOR_A_PERSON = "can I talk to a person"
HANDOFF_ACK = "a member of our team will reply here soon"
TYPED_SO_FAR = "Hi James, this is Ann"
REPLY = "Hi James, this is Ann from the clinic. How can I help?"
NOTE = "Answered his question"
PARKING_QUESTION = "where do I park"
PARKING_ANSWER = "Free parking is in the garage on Riverside Ave; bring your ticket to the front desk for validation."
LIVE = 15_000  # ms: a poll (2-5 s) plus the bot's turn on a slow machine
BOT = 60_000  # ms: a text through the webhook and the real bot, which can be slow on a busy 2-core machine


def _catch_up(clock: Clock) -> None:
    """The console's clock at the real time, as the webhooks and the bot have it."""
    clock.now = datetime.now(UTC)


def _keep_watch(page: Page) -> None:
    """Mark the page: if it is reloaded or navigated, the mark is gone (`_not_reloaded` then fails)."""
    page.evaluate("window.relayNotReloaded = true")


def _not_reloaded(page: Page) -> None:
    assert page.evaluate("window.relayNotReloaded === true"), f"{page.url} was reloaded"


def _record_dialogs(page: Page, dialogs: list[str]) -> None:
    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(f"{page.url}: {dialog.type} {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)


# --- the phone simulator ---------------------------------------------------------------------------------


def _be_the_phone_of(sim: Page, base: str, name: str) -> None:
    sim.goto(f"{base}/console/simulator")
    picker = sim.get_by_label("Demo patient")
    value = picker.locator("option", has_text=name).get_attribute("value")
    picker.select_option(value=value)
    sim.get_by_role("button", name="Use this phone").click()
    expect(sim.get_by_role("heading", level=2, name=re.compile(rf"^{name}"))).to_be_visible()


def _bubbles(sim: Page) -> Locator:
    return sim.locator("#sim-thread li.bubble")


def _text_the_clinic(sim: Page, body: str) -> Locator:
    """Type and send a text; the patient's bubble (exactly that text) shows; the clinic's answers after it."""
    sim.get_by_label("Text the clinic").fill(body)
    sim.get_by_role("button", name="Send").click()
    mine = _bubbles(sim).and_(sim.locator(".mine")).filter(has_text=body).last
    expect(mine).to_be_visible(timeout=BOT)
    expect(mine.locator(".bubble-body")).to_have_text(body)  # literal text, nothing of it taken as markup
    message_id = mine.get_attribute("data-message")
    answers = sim.locator(f"#sim-thread li.bubble.mine[data-message='{message_id}'] ~ li.bubble.theirs")
    expect(answers).not_to_have_count(0, timeout=BOT)
    expect(sim.get_by_label("Text the clinic")).to_have_value("")  # the box is free for the next text
    return answers


# --- the queue -------------------------------------------------------------------------------------------


def _queue_row(page: Page, name: str) -> Locator:
    return page.locator("#queue-live tbody tr").filter(has=page.get_by_role("link", name=name, exact=True))


def _stored_messages(phone: str) -> list[tuple[str, str, str]]:
    with session_scope() as session:
        rows = session.execute(
            select(Message.direction, Message.author, Message.body)
            .join(Conversation)
            .where(Conversation.phone == phone, Message.channel == "sms")
            .order_by(Message.id)
        )
        return [(direction, author, body) for direction, author, body in rows]


def _handoffs() -> list[tuple[str, str, int | None, str | None]]:
    with session_scope() as session:
        rows = session.execute(
            select(Handoff.reason, Handoff.status, Handoff.assigned_to_id, Handoff.resolution_note).order_by(Handoff.id)
        )
        return [(reason, HandoffStatus(status).value, assigned, note) for reason, status, assigned, note in rows]


# --- the test --------------------------------------------------------------------------------------------


@pytest.mark.timeout(600)  # the first `rasa` test of a session also waits for the stack to start (1-3 min)
def test_a_patient_asks_for_a_person_and_staff_take_over_live(
    rasa_stack, open_page, live_console: str, live_twilio: FakeTwilio, account: Account, clock: Clock
):
    base = live_console
    _catch_up(clock)
    ann = account
    ben = make_account(clock, email="ben@clinic.example", name="Ben Ortiz")
    dialogs: list[str] = []

    # Ann and Ben each open the queue, and leave it open.
    ann_queue = open_page()
    ben_queue = open_page()
    for person, queue in ((ann, ann_queue), (ben, ben_queue)):
        _record_dialogs(queue, dialogs)
        sign_in(queue, base, person, clock)
        expect(queue.get_by_text("No one is waiting")).to_be_visible()
        _keep_watch(queue)

    # In another tab Ann is James's phone in the simulator: a script tag, then a request for a person.
    sim = ann_queue.context.new_page()
    watch(sim)
    _record_dialogs(sim, dialogs)
    _be_the_phone_of(sim, base, JAMES_NAME)
    _keep_watch(sim)
    _text_the_clinic(sim, SCRIPT)
    ack = _text_the_clinic(sim, ASK_FOR_A_PERSON)
    expect(ack.first.locator(".bubble-body")).to_contain_text(HANDOFF_ACK)
    expect(ack.first.locator(".bubble-author")).to_have_text("Bot")
    expect(sim.locator("#sim-thread script")).to_have_count(0)
    _not_reloaded(sim)

    # The handoff arrives in both open queues by itself.
    for queue, claimer in ((ann_queue, "Nobody yet"), (ben_queue, "Nobody yet")):
        row = _queue_row(queue, JAMES_NAME)
        expect(row).to_be_visible(timeout=LIVE)
        expect(row.locator("td[data-label='Why']")).to_have_text("Asked for a person")
        expect(row.locator("td[data-label='Claimed by']")).to_have_text(claimer)
        expect(queue.locator(".queue-count")).to_have_text("1 open")
        _not_reloaded(queue)
    screenshot(ann_queue, "queue-live-handoff")
    handoff_path = _queue_row(ben_queue, JAMES_NAME).get_by_role("link").get_attribute("href")
    assert handoff_path and re.fullmatch(r"/console/handoffs/\d+", handoff_path), handoff_path

    # Ben opens it in a tab of his own while nobody has it yet.
    ben_handoff = ben_queue.context.new_page()
    watch(ben_handoff)
    _record_dialogs(ben_handoff, dialogs)
    _catch_up(clock)
    ben_handoff.goto(f"{base}{handoff_path}")
    expect(ben_handoff.get_by_text("Nobody has claimed this yet.", exact=True)).to_be_visible()

    # Ann opens it from her queue: the summary of what the bot established, the patient's words as text.
    _catch_up(clock)
    _queue_row(ann_queue, JAMES_NAME).get_by_role("link").click()
    expect(ann_queue).to_have_url(f"{base}{handoff_path}")
    expect(ann_queue.get_by_role("heading", level=1, name=re.compile(rf"^{JAMES_NAME}"))).to_be_visible()
    summary = ann_queue.get_by_role("region", name="What the bot established")
    expect(summary.locator(".reason")).to_have_text("Asked for a person")
    expect(summary.locator("q.said")).to_have_text([SCRIPT, ASK_FOR_A_PERSON])
    timeline = ann_queue.locator("#timeline-live")
    expect(timeline.locator(".entry .body").filter(has_text=SCRIPT)).to_have_text([SCRIPT])
    expect(ann_queue.locator("main script")).to_have_count(0)

    # Ann claims it; the reply box and its SMS meter are hers.
    ann_queue.get_by_role("button", name="Claim this conversation").first.click()
    expect(ann_queue.get_by_role("status")).to_have_text(
        "You have this conversation now. The bot stays silent until it is resolved."
    )
    expect(ann_queue.get_by_text("You have this conversation", exact=True)).to_be_visible()
    screenshot(ann_queue, "takeover-claimed")
    reply_box = ann_queue.get_by_label(re.compile(rf"^Text to {JAMES_NAME}"))
    meter = ann_queue.locator("#reply-meter")
    expect(meter).to_have_text("Empty")
    reply_box.fill(TYPED_SO_FAR)
    expect(meter).to_have_text("21 characters · 1 SMS segment · GSM-7")

    # Ben's queue, still open, shows that Ann has it; his own (stale) claim button is refused, naming her.
    ben_row = _queue_row(ben_queue, JAMES_NAME)
    expect(ben_row.locator("td[data-label='Claimed by']")).to_have_text(ann.name, timeout=LIVE)
    _not_reloaded(ben_queue)
    expect(ben_handoff.locator("#timeline-live .timeline-status")).to_contain_text(
        f"{ann.name} has this conversation.", timeout=LIVE
    )
    _catch_up(clock)
    ben_handoff.get_by_role("button", name="Claim this conversation").first.click()
    expect(ben_handoff.get_by_role("alert")).to_have_text(
        f"{ann.name} has already claimed this conversation. Ask them, or wait until they release it."
    )
    expect(ben_handoff.locator("#reply-body")).to_have_count(0)  # no reply box for Ben
    expect(ben_handoff.get_by_role("button", name="Claim this conversation")).to_have_count(0)  # nor a claim
    assert _handoffs() == [("patient_request", "open", ann.id, None)]

    # What Ann typed is untouched by the timeline's refresh; she finishes the text and sends it.
    with ann_queue.expect_response(lambda r: r.url.endswith("/timeline"), timeout=LIVE):
        pass  # at least one refresh of the live part happens while the text sits in the box
    expect(reply_box).to_have_value(TYPED_SO_FAR)
    reply_box.fill(REPLY)
    expect(meter).to_have_text("54 characters · 1 SMS segment · GSM-7")
    _catch_up(clock)
    ann_queue.get_by_role("button", name="Send text").click()
    expect(ann_queue.get_by_role("status")).to_have_text("Your text was sent.")
    sent = [(r.form["From"], r.form["To"], r.form["Body"]) for r in live_twilio.created_requests()]
    assert sent == [(CLINIC_NUMBER, JAMES, REPLY)]

    # The patient's phone shows Ann's text, by itself.
    from_ann = _bubbles(sim).and_(sim.locator(".theirs")).filter(has_text=REPLY)
    expect(from_ann).to_have_count(1, timeout=LIVE)
    expect(from_ann.locator(".bubble-author")).to_have_text("Staff")
    _not_reloaded(sim)

    # Ann resolves it with a note: it leaves both queues.
    ann_queue.get_by_label(re.compile(r"^Outcome")).fill(NOTE)
    _catch_up(clock)
    ann_queue.get_by_role("button", name="Resolve and hand back to the bot").click()
    expect(ann_queue).to_have_url(f"{base}/console/?done=resolved")
    expect(ann_queue.get_by_role("status")).to_contain_text("Resolved: the conversation is back with the bot")
    expect(ann_queue.get_by_text("No one is waiting")).to_be_visible()
    expect(_queue_row(ben_queue, JAMES_NAME)).to_have_count(0, timeout=LIVE)
    expect(ben_queue.get_by_text("No one is waiting")).to_be_visible()
    _not_reloaded(ben_queue)

    # James writes again: the bot answers him, and no new handoff opens.
    answer = _text_the_clinic(sim, PARKING_QUESTION)
    expect(answer).to_have_count(1)
    expect(answer.locator(".bubble-body")).to_have_text(PARKING_ANSWER)
    expect(answer.locator(".bubble-author")).to_have_text("Bot")
    _not_reloaded(sim)
    screenshot(sim, "simulator-thread")
    stored = _stored_messages(JAMES)
    assert stored[-2:] == [("inbound", "patient", PARKING_QUESTION), ("outbound", "bot", PARKING_ANSWER)]
    assert ("outbound", "staff", REPLY) in stored
    assert ("inbound", "patient", SCRIPT) in stored
    assert _handoffs() == [("patient_request", "resolved", ann.id, NOTE)]
    expect(ann_queue.get_by_text("No one is waiting")).to_be_visible()

    assert dialogs == []  # the patient's script tag never ran, anywhere
    assert problems_of(sim) == [] and problems_of(ben_handoff) == []  # tabs the open_page fixture does not watch
