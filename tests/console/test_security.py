"""CSRF on every form, security headers on every console response, and the cookies' flags."""

import pytest
from sqlalchemy import func, select

from relay.core.db import session_scope
from relay.core.settings import get_settings
from relay.models import AuditEvent, StaffSession, StaffUser
from tests.console.support import PASSWORD, csrf_of, post_password, sign_in

HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def _audit_count() -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_sign_in_without_its_csrf_token_is_refused_and_changes_nothing(console, account, token):
    console.get("/console/sign-in")  # the browser has its cookie; the form field is what is missing or wrong
    before = _audit_count()
    data = {"email": account.email, "password": PASSWORD} | ({} if token is None else {"csrf_token": token})
    answer = console.post("/console/sign-in", data=data)
    assert answer.status_code == 403 and "Nothing was changed" in answer.text
    assert "relay_console" not in console.cookies
    assert _audit_count() == before


def test_sign_in_without_the_csrf_cookie_is_refused(console, account):
    token = csrf_of(console.get("/console/sign-in"))
    console.cookies.clear()
    answer = console.post("/console/sign-in", data={"email": account.email, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 403


def test_a_code_without_its_csrf_token_is_refused_and_not_counted(console, account, clock):
    post_password(console, account.email, PASSWORD)
    for data in ({"code": account.code(clock.now)}, {"code": "000000", "csrf_token": "forged"}):
        assert console.post("/console/sign-in/code", data=data).status_code == 403
    with session_scope() as session:
        assert session.get_one(StaffUser, account.id).failed_attempts == 0
        assert not session.scalars(select(StaffSession).where(StaffSession.second_factor_done)).all()


def test_the_pre_session_token_does_not_pass_for_the_session_one(console, account, clock):
    pre_session = csrf_of(console.get("/console/sign-in"))
    post_password(console, account.email, PASSWORD)
    answer = console.post("/console/sign-in/code", data={"code": account.code(clock.now), "csrf_token": pre_session})
    assert answer.status_code == 403


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_sign_out_without_its_csrf_token_is_refused_and_the_session_lives(console, account, clock, token):
    sign_in(console, account, clock)
    data = {} if token is None else {"csrf_token": token}
    assert console.post("/console/sign-out", data=data).status_code == 403
    assert console.get("/console/").status_code == 200


def test_enrolment_without_its_csrf_token_is_refused_and_changes_nothing(console, clock):
    from relay.models import StaffRole
    from relay.staff import accounts

    with session_scope() as session:
        user, token = accounts.create_user(session, email="bo@clinic.example", role=StaffRole.STAFF, now=clock.now)
        user_id = user.id
    console.get(f"/console/enrol/{token}")
    answer = console.post(
        f"/console/enrol/{token}",
        data={"password": PASSWORD, "password_again": PASSWORD, "code": "123456", "csrf_token": "forged"},
    )
    assert answer.status_code == 403
    with session_scope() as session:
        assert session.get_one(StaffUser, user_id).password_hash is None


def test_every_console_response_carries_the_security_headers(console, account, clock):
    with session_scope() as session:
        from relay.models import StaffRole
        from relay.staff import accounts

        _user, enrol_token = accounts.create_user(session, email="cy@clinic.example", role=StaffRole.STAFF,
                                                  now=clock.now)  # fmt: skip
    answers = {
        "sign-in": console.get("/console/sign-in"),
        "queue, signed out": console.get("/console/"),
        "enrolment": console.get(f"/console/enrol/{enrol_token}"),
        "spent link": console.get("/console/enrol/not-a-token"),
        "stylesheet": console.get("/console/static/console.css"),
        "no such page": console.get("/console/nowhere"),
        "csrf refusal": console.post("/console/sign-in", data={}),
        "wrong password": post_password(console, account.email, "wrong password here"),
    }
    post_password(console, account.email, PASSWORD)
    answers["code page"] = console.get("/console/sign-in/code")
    answers["code accepted"] = console.post(
        "/console/sign-in/code", data={"code": account.code(clock.now), "csrf_token": csrf_of(answers["code page"])}
    )
    answers["queue"] = console.get("/console/")
    assert answers["queue"].status_code == 200 and answers["stylesheet"].status_code == 200
    for what, answer in answers.items():
        for name, value in HEADERS.items():
            assert answer.headers.get(name) == value, (what, name)
    assert "content-security-policy" not in console.get("/health").headers  # only the console's


def _set_cookies(answer) -> dict[str, set[str]]:
    """Each cookie set, by name, with its attributes (lower case, without the value)."""
    cookies = {}
    for line in answer.headers.get_list("set-cookie"):
        name_value, *attributes = (part.strip() for part in line.split(";"))
        cookies[name_value.split("=", 1)[0]] = {attribute.lower() for attribute in attributes}
    return cookies


def test_cookies_are_http_only_same_site_strict_and_secure_over_https(console, account, clock):
    pre = _set_cookies(console.get("/console/sign-in"))["relay_console_csrf"]
    session_cookie = _set_cookies(post_password(console, account.email, PASSWORD))["relay_console"]
    for attributes in (pre, session_cookie):
        assert {"httponly", "samesite=strict", "secure", "path=/console"} <= attributes


def test_cookies_are_not_secure_when_the_public_url_is_plain_http(console, monkeypatch):
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
    get_settings.cache_clear()
    try:
        cookie = _set_cookies(console.get("/console/sign-in"))["relay_console_csrf"]
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert {"httponly", "samesite=strict"} <= cookie and "secure" not in cookie
