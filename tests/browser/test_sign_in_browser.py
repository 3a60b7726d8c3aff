"""Signing in to the console through the real pages in Chromium: password, code, refusals, idle end, sign-out, CSRF."""

import httpx
import pytest
from playwright.sync_api import Page, expect

from console.deps import SESSION_COOKIE
from relay.core.db import session_scope
from relay.core.settings import get_settings
from relay.messaging.handoffs import open_handoff
from relay.models import HandoffPriority
from relay.records import conversations
from tests.browser.support import TABLET, enter_code, enter_password, screenshot, sign_in, sign_out
from tests.conftest import API_TOKEN
from tests.console.support import Account, Clock
from tests.fake_twilio import FakeTwilio
from tests.webhooks.twilio_helpers import CLINIC_NUMBER

pytestmark = pytest.mark.browser

REFUSED = "were not accepted"


def _wrong_code(account: Account, clock: Clock) -> str:
    return "000000" if account.code(clock.now) != "000000" else "111111"


def test_password_then_code_opens_the_queue(page: Page, live_console: str, account: Account, clock: Clock):
    page.goto(f"{live_console}/console/")
    expect(page).to_have_url(f"{live_console}/console/sign-in")  # no session yet
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(page, "sign-in-desktop")

    sign_in(page, live_console, account, clock)

    expect(page.get_by_text(account.name)).to_be_visible()
    expect(page.get_by_text("No one is waiting")).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    screenshot(page, "queue-empty-desktop")


def test_the_sign_in_pages_and_the_queue_fit_a_tablet(open_page, live_console: str, account: Account, clock: Clock):
    page = open_page(TABLET)
    page.goto(f"{live_console}/console/sign-in")
    expect(page.get_by_label("Email")).to_be_visible()
    screenshot(page, "sign-in-tablet")
    sign_in(page, live_console, account, clock)
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]  # nothing wider than the screen
    screenshot(page, "queue-empty-tablet")


def test_a_wrong_code_is_refused_on_the_code_page(page: Page, live_console: str, account: Account, clock: Clock):
    enter_password(page, live_console, account.email, account.password)
    expect(page).to_have_url(f"{live_console}/console/sign-in/code")

    enter_code(page, _wrong_code(account, clock))

    expect(page.get_by_role("alert")).to_contain_text(REFUSED)
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    expect(page).to_have_url(f"{live_console}/console/sign-in/code")
    page.goto(f"{live_console}/console/")
    expect(page).to_have_url(f"{live_console}/console/sign-in")  # the password alone opens nothing


def test_an_idle_session_ends_after_fifteen_minutes(page: Page, live_console: str, account: Account, clock: Clock):
    sign_in(page, live_console, account, clock)
    clock.advance(minutes=16)

    page.reload()

    expect(page).to_have_url(f"{live_console}/console/sign-in")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


@pytest.mark.parametrize("path", ["/console/faqs", "/console/faqs/parking", "/console/users", "/console/audit"])
def test_a_staff_member_cannot_open_the_admin_pages(
    page: Page, live_console: str, account: Account, clock: Clock, path: str
):
    sign_in(page, live_console, account, clock)
    expect(page.get_by_role("link", name="FAQs")).to_have_count(0)  # not offered in the navigation either

    answer = page.goto(f"{live_console}{path}")

    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", name="Only admins can open this page")).to_be_visible()


def test_after_sign_out_the_old_session_cookie_opens_nothing(
    page: Page, live_console: str, account: Account, clock: Clock
):
    sign_in(page, live_console, account, clock)
    old = next(c["value"] for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    with httpx.Client(base_url=live_console, cookies={SESSION_COOKIE: old}) as replay:
        assert replay.get("/console/").status_code == 200  # the copy works while the session lives

        sign_out(page)

        assert SESSION_COOKIE not in {c["name"] for c in page.context.cookies()}
        refused = replay.get("/console/")
    assert refused.status_code == 303 and refused.headers["location"] == "/console/sign-in"


def test_a_form_posted_without_its_csrf_token_is_refused(page: Page, live_console: str, account: Account, clock: Clock):
    sign_in(page, live_console, account, clock)

    # The browser's own cookies go with it (page.request shares the context), but no csrf_token field.
    answer = page.request.post(f"{live_console}/console/sign-out", form={}, max_redirects=0)

    assert answer.status == 403
    assert "This form could not be accepted" in answer.text()
    page.reload()
    expect(page.get_by_role("heading", name="Handoff queue")).to_be_visible()  # still signed in
    wrong = page.request.post(f"{live_console}/console/sign-out", form={"csrf_token": "forged"}, max_redirects=0)
    assert wrong.status == 403
    page.reload()
    expect(page.get_by_role("heading", name="Handoff queue")).to_be_visible()


# --- the live server's wiring, for the browser tests that build on it ----------------------------------


def test_what_the_live_server_texts_reaches_the_fake_twilio(live_console: str, live_twilio: FakeTwilio):
    james = "+13125550145"
    with session_scope() as session:
        conversation = conversations.find_or_open(session, phone=james)
        handoff = open_handoff(
            session, conversation=conversation, reason="patient_request", priority=HandoffPriority.NORMAL
        )
        handoff_id = handoff.id
    body = "Hi James, this is Dana at Riverside."

    answer = httpx.post(
        f"{live_console}/api/handoffs/{handoff_id}/reply",
        json={"body": body},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )

    assert answer.status_code == 201, answer.text
    [request] = live_twilio.created_requests()
    assert (request.form["From"], request.form["To"], request.form["Body"]) == (CLINIC_NUMBER, james, body)


@pytest.mark.rasa
def test_the_real_bot_can_be_had_here(rasa_stack):
    status = httpx.get(f"{get_settings().rasa_url}/status", timeout=5).json()
    assert status["model_file"]
