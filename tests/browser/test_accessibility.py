"""axe-core scans of the console's pages in Chromium: nothing serious or critical on any of them.

Every scan's full result (minor findings too) is kept in reports/accessibility/<page>.json.
"""

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from relay.core.db import session_scope
from relay.messaging.handoffs import open_handoff
from relay.models import HandoffPriority, Patient, Referral, StaffRole
from relay.records import conversations
from relay.staff import accounts
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
