"""axe-core scans of the console's pages in Chromium: nothing serious or critical on any of them.

Every scan's full result (minor findings too) is kept in reports/accessibility/<page>.json.
"""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from relay.core.db import session_scope
from relay.messaging.handoffs import open_handoff
from relay.models import HandoffPriority, Patient, Referral, StaffRole
from relay.outreach.reconcile import replan_appointment, replan_referral
from relay.records import conversations
from relay.staff import accounts
from tests.browser.scenes import busy_handoff
from tests.browser.support import TABLET, assert_accessible, enter_code, enter_password, screenshot, sign_in
from tests.console.support import Account, Clock, make_account

pytestmark = pytest.mark.browser

JAMES, AISHA, TOM, UNKNOWN = "+13125550145", "+13125550146", "+13125550151", "+13125550199"


def _handoff(phone: str, *, reason: str, priority: HandoffPriority, opened_at, **values) -> int:
    with session_scope() as session:
        conversation = conversations.find_or_open(session, phone=phone)
        handoff = open_handoff(session, conversation=conversation, reason=reason, priority=priority, now=opened_at)
        for name, value in values.items():
            setattr(handoff, name, value)
        return handoff.id


def _some_handoffs(clock: Clock) -> None:
    """One of each kind the queue shows: urgent, high, claimed with a referral, an unknown number."""
    claimer = make_account(clock, email="kim@clinic.example", name="Kim Park")
    with session_scope() as session:
        james = session.scalars(select(Patient).filter_by(phone=JAMES)).one()
        referral_id = session.scalars(select(Referral.id).filter_by(patient_id=james.id)).first()
    now = clock.now
    _handoff(JAMES, reason="patient_request", priority=HandoffPriority.NORMAL, opened_at=now - timedelta(hours=3),
             referral_id=referral_id, assigned_to_id=claimer.id)  # fmt: skip
    _handoff(AISHA, reason="emergency_medical", priority=HandoffPriority.URGENT, opened_at=now - timedelta(minutes=2))
    _handoff(TOM, reason="verification_locked", priority=HandoffPriority.HIGH, opened_at=now - timedelta(minutes=10))
    _handoff(UNKNOWN, reason="something_new", priority=HandoffPriority.NORMAL, opened_at=now - timedelta(minutes=40))


def test_the_sign_in_page(page: Page, live_console: str):
    page.goto(f"{live_console}/console/sign-in")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert_accessible(page, "sign-in")

    enter_password(page, live_console, "nobody@clinic.example", "not the password at all")
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page, "sign-in-refused")


def test_the_code_page(page: Page, live_console: str, account: Account, clock: Clock):
    enter_password(page, live_console, account.email, account.password)
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    assert_accessible(page, "sign-in-code")

    enter_code(page, "000000" if account.code(clock.now) != "000000" else "111111")
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page, "sign-in-code-refused")


def test_the_enrolment_page(page: Page, live_console: str, clock: Clock):
    with session_scope() as session:
        _user, token = accounts.create_user(
            session, email="new@clinic.example", name="Noor Bakr", role=StaffRole.STAFF, now=clock.now
        )
    page.goto(f"{live_console}/console/enrol/{token}")
    expect(page.get_by_role("heading", name="Set up your account")).to_be_visible()
    expect(page.get_by_role("img", name="QR code to add Relay to your authenticator app")).to_be_visible()
    screenshot(page, "enrol-desktop")
    assert_accessible(page, "enrol")

    page.get_by_label("Password", exact=True).fill("correct horse battery staple")
    page.get_by_label("The same password again").fill("another horse battery staple")
    page.get_by_label("The 6-digit code the app now shows").fill("123456")
    page.get_by_role("button", name="Finish setting up").click()
    expect(page.get_by_role("alert")).to_contain_text("not the same")
    assert_accessible(page, "enrol-refused")


@pytest.mark.parametrize("viewport", ["desktop", "tablet"])
def test_the_queue_with_handoffs(open_page, live_console: str, account: Account, clock: Clock, viewport: str):
    _some_handoffs(clock)
    page = open_page(TABLET) if viewport == "tablet" else open_page()
    sign_in(page, live_console, account, clock)
    expect(page.locator("tr[data-handoff]")).to_have_count(4)
    screenshot(page, f"queue-{viewport}")
    assert_accessible(page, f"queue-{viewport}")


def test_the_empty_queue(page: Page, live_console: str, account: Account, clock: Clock):
    sign_in(page, live_console, account, clock)
    expect(page.get_by_text("No one is waiting")).to_be_visible()
    assert_accessible(page, "queue-empty")


def test_the_page_that_refuses_a_form_without_its_token(page: Page, live_console: str, account: Account, clock):
    sign_in(page, live_console, account, clock)
    page.locator("form[action='/console/sign-out'] input[name='csrf_token']").evaluate("field => field.remove()")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="This form could not be accepted")).to_be_visible()
    assert_accessible(page, "forbidden-csrf")


# --- the pages with data in them (issue 12) ----------------------------------------------------------------
# The demo clinic is seeded relative to the real time: the console's clock is set to it before signing in, so
# that appointments and open slots lie ahead.


def _now(clock: Clock) -> Clock:
    clock.now = datetime.now(UTC)
    return clock


@pytest.mark.usefixtures("rasa_stopped")
@pytest.mark.parametrize("viewport", ["desktop", "tablet"])
def test_the_takeover_page_with_a_busy_timeline(open_page, live_console: str, account: Account, clock: Clock,
                                                viewport: str):  # fmt: skip
    handoff_id = busy_handoff(_now(clock))
    page = open_page(TABLET) if viewport == "tablet" else open_page()
    sign_in(page, live_console, account, clock)
    page.goto(f"{live_console}/console/handoffs/{handoff_id}")
    expect(page.get_by_role("heading", name="What the bot established")).to_be_visible()
    expect(page.locator("#timeline-live .entry-call")).to_contain_text("Call from James Carter")
    expect(page.locator(".memory-missing")).to_be_visible()  # Rasa is down: the card says so
    assert_accessible(page, f"takeover-{viewport}")

    page.get_by_role("button", name="Claim this conversation").first.click()
    expect(page.get_by_label("Text to James Carter", exact=False)).to_be_visible()  # the reply form, once claimed
    assert_accessible(page, f"takeover-claimed-{viewport}")


def test_the_referral_page(page: Page, live_console: str, account: Account, clock: Clock):
    _now(clock)
    with session_scope() as session:
        referral = session.scalars(select(Referral).filter_by(external_id="RF-2001")).one()
        for appointment in referral.appointments:
            replan_appointment(session, appointment=appointment, now=clock.now)
        replan_referral(session, referral=referral, now=clock.now)
        conversation = conversations.find_or_open(session, phone=JAMES)
        conversations.record_message(session, conversation=conversation, direction="inbound", channel="sms",
                                     author="patient", body="Can I come earlier?", now=clock.now)  # fmt: skip
    sign_in(page, live_console, account, clock)
    page.goto(f"{live_console}/console/referrals/RF-2001")
    expect(page.get_by_role("heading", name="Referral RF-2001: James Carter")).to_be_visible()
    expect(page.locator("#outreach tbody tr").filter(has_text="Appointment reminder").first).to_be_visible()
    expect(page.locator("input[name='slot']").first).to_be_attached()
    expect(page.locator("#conversation .message-body")).to_have_text(["Can I come earlier?"])
    assert_accessible(page, "referral")

    # A refused change: the error next to its field.
    page.get_by_label("Change the status to").evaluate("select => select.add(new Option('Received', 'received'))")
    page.get_by_label("Change the status to").select_option("received")
    page.get_by_role("button", name="Change status").click()
    expect(page.locator("#status-error")).to_be_visible()
    assert_accessible(page, "referral-refused")


def test_the_referral_search_results(page: Page, live_console: str, account: Account, clock: Clock):
    sign_in(page, live_console, account, _now(clock))
    page.goto(f"{live_console}/console/referrals")
    expect(page.locator("tr[data-referral]")).to_have_count(5)
    assert_accessible(page, "referrals-attention")

    page.get_by_label("Find a referral").fill("kevin")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tr[data-referral]")).to_have_count(2)
    assert_accessible(page, "referrals-search")

    page.get_by_label("Find a referral").fill("nobody by this name")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No referral matches")).to_be_visible()
    assert_accessible(page, "referrals-search-empty")


def test_the_faq_list_and_editor(page: Page, live_console: str, admin: Account, clock: Clock):
    sign_in(page, live_console, admin, _now(clock))
    page.goto(f"{live_console}/console/faqs")
    expect(page.locator("tr[data-faq='parking']")).to_contain_text("Where do I park?")
    assert_accessible(page, "faq-list")

    page.goto(f"{live_console}/console/faqs/parking")
    page.get_by_label("Answer in English").fill("It\u2019s free in the garage on Oak St.")  # a curly apostrophe
    expect(page.locator("#preview-en .preview-problem")).to_be_visible()  # the live preview, with its warning
    assert_accessible(page, "faq-editor")

    page.goto(f"{live_console}/console/faqs/new")
    page.get_by_role("button", name="Add the entry").click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    assert_accessible(page, "faq-editor-refused")


def test_the_users_and_audit_log_pages(page: Page, live_console: str, admin: Account, account: Account, clock):
    sign_in(page, live_console, admin, _now(clock))
    page.goto(f"{live_console}/console/users")
    expect(page.locator(f"tr[data-user='{account.id}']")).to_contain_text("Ann Lee")
    assert_accessible(page, "users")

    page.get_by_role("button", name="Add and get the enrolment link").click()
    expect(page.get_by_role("alert")).to_contain_text("Nobody was added")
    assert_accessible(page, "users-refused")

    page.goto(f"{live_console}/console/audit")
    expect(page.locator("tr[data-event]").filter(has_text="Signed in").first).to_be_visible()
    assert_accessible(page, "audit-log")


def test_the_simulator(page: Page, live_console: str, account: Account, clock: Clock):
    sign_in(page, live_console, account, _now(clock))
    page.goto(f"{live_console}/console/simulator")
    page.get_by_label("Demo patient").select_option(label="James Carter · (***) ***-0145")
    page.get_by_role("button", name="Use this phone").click()
    expect(page.get_by_role("heading", name="James Carter", level=2)).to_be_visible()
    page.get_by_label("Text the clinic").fill("STOP")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#sim-thread .bubble")).to_have_count(2)
    assert_accessible(page, "simulator")
