"""Signing in to the console: password then TOTP code, refusals, one use per code, lockout, idle sessions, sign-out."""

from datetime import timedelta

from sqlalchemy import select

from relay.core.db import session_scope
from relay.models import AuditEvent, StaffSession, StaffUser
from tests.console.support import PASSWORD, csrf_of, post_code, post_password, sign_in

REFUSED = "were not accepted"
LOCKED = "Try again later"


def _queue(console):
    return console.get("/console/")


def test_password_then_code_lands_on_the_queue(console, account, clock):
    answer = sign_in(console, account, clock)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/"
    page = _queue(console)
    assert page.status_code == 200
    assert "Handoff queue" in page.text and account.name in page.text
    with session_scope() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.actor == f"staff:{account.id}")).all()
    assert "staff.signed_in" in actions


def test_the_session_token_is_stored_only_as_its_hash(console, account, clock):
    sign_in(console, account, clock)
    raw = console.cookies["relay_console"]
    with session_scope() as session:
        stored = session.scalars(select(StaffSession.token_hash)).all()
    assert raw not in stored and all(len(value) == 64 for value in stored)


def test_a_wrong_password_is_refused_without_saying_whether_the_email_exists(console, account):
    wrong = post_password(console, account.email, "not the password at all")
    unknown = post_password(console, "nobody@clinic.example", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert REFUSED in wrong.text and REFUSED in unknown.text
    assert "relay_console" not in console.cookies
    assert _queue(console).status_code == 303


def test_a_wrong_code_is_refused_and_the_half_session_opens_nothing(console, account, clock):
    assert post_password(console, account.email, PASSWORD).status_code == 303
    assert _queue(console).headers["location"] == "/console/sign-in"  # password alone is not a session
    wrong = post_code(console, "000000" if account.code(clock.now) != "000000" else "111111")
    assert wrong.status_code == 401 and REFUSED in wrong.text
    assert _queue(console).status_code == 303


def test_a_code_from_the_previous_step_is_accepted_but_not_one_from_further_back(console, account, clock):
    post_password(console, account.email, PASSWORD)
    assert post_code(console, account.code(clock.now - timedelta(seconds=65))).status_code == 401
    assert post_code(console, account.code(clock.now - timedelta(seconds=30))).status_code == 303


def test_the_same_code_cannot_be_used_twice(console, account, clock):
    assert sign_in(console, account, clock).status_code == 303
    code = account.code(clock.now)
    console.post("/console/sign-out", data={"csrf_token": csrf_of(_queue(console))})
    clock.advance(seconds=5)  # still the same 30-second step
    assert account.code(clock.now) == code
    post_password(console, account.email, PASSWORD)
    again = post_code(console, code)
    assert again.status_code == 401 and REFUSED in again.text


def test_five_failures_lock_the_account_even_for_the_right_password_for_fifteen_minutes(console, account, clock):
    for _ in range(3):
        assert post_password(console, account.email, "wrong password 1").status_code == 401
    post_password(console, account.email, PASSWORD)  # right password, then wrong codes count too
    assert post_code(console, "000000" if account.code(clock.now) != "000000" else "111111").status_code == 401
    fifth = post_password(console, account.email, "wrong password 2")
    assert fifth.status_code == 429 and LOCKED in fifth.text

    right = post_password(console, account.email, PASSWORD)
    assert right.status_code == 429 and LOCKED in right.text
    clock.advance(minutes=14)
    assert post_password(console, account.email, PASSWORD).status_code == 429
    clock.advance(minutes=1, seconds=1)
    assert sign_in(console, account, clock).status_code == 303
    with session_scope() as session:
        user = session.get_one(StaffUser, account.id)
        assert user.failed_attempts == 0
        locked = session.scalars(select(AuditEvent).filter_by(actor=f"staff:{account.id}", action="staff.locked")).all()
    assert len(locked) == 1


def test_an_email_without_an_account_locks_out_like_one_with_an_account(console, account, clock):
    """Otherwise five tries would tell which emails are staff: the same answers, in the same order."""
    known = [post_password(console, account.email, "wrong password").status_code for _ in range(6)]
    unknown = [post_password(console, "nobody@clinic.example", "wrong password").status_code for _ in range(6)]
    assert known == unknown == [401, 401, 401, 401, 429, 429]
    other = post_password(console, "someone.else@clinic.example", "wrong password")
    assert other.status_code == 401  # counted per email, not for everyone
    clock.advance(minutes=15, seconds=1)
    assert post_password(console, "nobody@clinic.example", "wrong password").status_code == 401
    with session_scope() as session:
        trail = [e.details for e in session.scalars(select(AuditEvent).filter_by(actor="anonymous"))]
    assert trail and all("nobody" not in str(details) for details in trail)  # the email itself is not kept


def test_wrong_codes_alone_lock_the_account(console, account, clock):
    post_password(console, account.email, PASSWORD)
    bad = "000000" if account.code(clock.now) != "000000" else "111111"
    for _ in range(4):
        assert post_code(console, bad).status_code == 401
    page = console.get("/console/sign-in/code")
    locked = console.post("/console/sign-in/code", data={"code": bad, "csrf_token": csrf_of(page)})
    assert locked.status_code == 429 and LOCKED in locked.text
    assert console.get("/console/sign-in/code").headers["location"] == "/console/sign-in"  # the half session ended
    assert post_password(console, account.email, PASSWORD).status_code == 429


def test_an_idle_session_goes_back_to_sign_in(console, account, clock):
    sign_in(console, account, clock)
    clock.advance(minutes=16)
    answer = _queue(console)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/sign-in"
    clock.advance(minutes=-10)  # a session that ended stays ended
    assert _queue(console).status_code == 303
    with session_scope() as session:
        assert session.scalars(select(StaffSession).where(StaffSession.second_factor_done)).one().ended_at


def test_use_keeps_a_session_alive(console, account, clock):
    sign_in(console, account, clock)
    for _ in range(4):
        clock.advance(minutes=14)
        assert _queue(console).status_code == 200


def test_after_sign_out_the_old_cookie_is_refused(console, account, clock):
    sign_in(console, account, clock)
    old = console.cookies["relay_console"]
    out = console.post("/console/sign-out", data={"csrf_token": csrf_of(_queue(console))})
    assert out.status_code == 303 and out.headers["location"] == "/console/sign-in"
    assert "relay_console" not in console.cookies
    console.cookies.set("relay_console", old, domain="testserver", path="/console")
    assert _queue(console).status_code == 303
    with session_scope() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.actor == f"staff:{account.id}")).all()
    assert "staff.signed_out" in actions


def test_a_signed_in_visitor_is_sent_from_sign_in_to_the_queue(console, account, clock):
    sign_in(console, account, clock)
    assert console.get("/console/sign-in").headers["location"] == "/console/"


def test_a_disabled_account_loses_its_session_and_cannot_sign_in(console, account, clock):
    sign_in(console, account, clock)
    with session_scope() as session:
        session.get_one(StaffUser, account.id).active = False
    assert _queue(console).status_code == 303
    assert post_password(console, account.email, PASSWORD).status_code == 401
