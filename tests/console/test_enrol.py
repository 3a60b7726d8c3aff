"""Enrolment: `relay create-user` prints a one-time link; it sets the password and the TOTP second factor."""

import base64
import re

import pyotp
from sqlalchemy import select

from relay.core.db import session_scope
from relay.models import AuditEvent, StaffRole, StaffUser, utcnow
from relay.ops.cli import main
from relay.staff import accounts
from tests.console.support import PASSWORD, Account, csrf_of, sign_in


def _create_user(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["create-user", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _secret_of(page: str) -> str:
    match = re.search(r'<code class="secret" id="secret">([A-Z2-7 ]+)</code>', page)
    assert match, page
    return match.group(1).replace(" ", "")


def _enrol(console, path: str, *, password: str, again: str | None = None, code: str):
    page = console.get(path)
    data = {"password": password, "password_again": again or password, "code": code, "csrf_token": csrf_of(page)}
    return console.post(path, data=data)


def test_create_user_prints_a_link_that_enrols(console, clock, capsys):
    clock.now = utcnow()  # the command stamps the link's expiry with the wall clock
    code, out, _err = _create_user(capsys, "Dana@Clinic.example", "--role", "admin", "--name", "Dana Ruiz")
    assert code == 0
    link = re.search(r"(https://relay\.example\.test/console/enrol/\S+)", out)
    assert link and "expires in 24 hours" in out
    path = link.group(1).removeprefix("https://relay.example.test")
    with session_scope() as session:
        user = session.scalars(select(StaffUser).filter_by(email="dana@clinic.example")).one()
        assert (user.role, user.name, user.password_hash) == (StaffRole.ADMIN, "Dana Ruiz", None)
        assert path.rsplit("/", 1)[1] not in (user.enrolment_token_hash or "")  # only its hash is kept

    page = console.get(path)
    assert page.status_code == 200
    secret = _secret_of(page.text)
    qr = re.search(r'<img class="qr" src="data:image/svg\+xml;base64,([^"]+)"', page.text)
    assert qr and base64.b64decode(qr.group(1)).lstrip().startswith(b"<svg")
    assert _secret_of(console.get(path).text) == secret  # a reload shows the same secret

    done = _enrol(console, path, password=PASSWORD, code=pyotp.TOTP(secret).at(clock.now))
    assert done.status_code == 303 and done.headers["location"] == "/console/sign-in?enrolled=1"
    assert "You are enrolled" in console.get(done.headers["location"]).text
    assert console.get(path).status_code == 404  # the link is spent

    clock.advance(minutes=1)
    with session_scope() as session:
        user = session.scalars(select(StaffUser).filter_by(email="dana@clinic.example")).one()
        assert user.password_hash and user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
        events = session.scalars(select(AuditEvent).where(AuditEvent.actor == f"staff:{user.id}")).all()
        account = Account(id=user.id, email=user.email, name=user.name, password=PASSWORD, secret=secret)
    assert [event.action for event in events] == ["staff.enrolled"]
    assert sign_in(console, account, clock).status_code == 303
    assert console.get("/console/").status_code == 200


def test_create_user_refuses_an_existing_email(console, capsys):
    assert _create_user(capsys, "eve@clinic.example", "--role", "staff")[0] == 0
    code, out, err = _create_user(capsys, "EVE@clinic.example", "--role", "admin")
    assert code == 2 and "already has an account" in err and "/console/enrol/" not in out


def _new_link(capsys) -> str:
    _code, out, _err = _create_user(capsys, "fay@clinic.example", "--role", "staff")
    match = re.search(r"https://relay\.example\.test(/console/enrol/\S+)", out)
    assert match
    return match.group(1)


def test_enrolment_refuses_a_short_password_different_passwords_and_a_wrong_code(console, clock, capsys):
    clock.now = utcnow()
    path = _new_link(capsys)
    secret = _secret_of(console.get(path).text)
    right = pyotp.TOTP(secret).at(clock.now)
    wrong = "000000" if right != "000000" else "111111"
    assert "at least 12" in _enrol(console, path, password="short pass", code=right).text
    assert "not the same" in _enrol(console, path, password=PASSWORD, again=PASSWORD + "!", code=right).text
    bad_code = _enrol(console, path, password=PASSWORD, code=wrong)
    assert bad_code.status_code == 400 and "did not match" in bad_code.text
    with session_scope() as session:
        assert session.scalars(select(StaffUser.password_hash).filter_by(email="fay@clinic.example")).one() is None
    assert _enrol(console, path, password=PASSWORD, code=right).status_code == 303


def test_an_enrolment_link_expires_after_24_hours(console, clock):
    with session_scope() as session:
        _user, token = accounts.create_user(session, email="gil@clinic.example", role=StaffRole.STAFF, now=clock.now)
    path = f"/console/enrol/{token}"
    clock.advance(hours=23, minutes=59)
    assert console.get(path).status_code == 200
    clock.advance(minutes=2)
    expired = console.get(path)
    assert expired.status_code == 404 and "expired" in expired.text


def test_an_unenrolled_account_cannot_sign_in(console, capsys):
    _new_link(capsys)
    page = console.get("/console/sign-in")
    answer = console.post("/console/sign-in", data={"email": "fay@clinic.example", "password": PASSWORD,
                                                    "csrf_token": csrf_of(page)})  # fmt: skip
    assert answer.status_code == 401
