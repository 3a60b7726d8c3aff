"""Helpers for console tests: a movable clock, staff accounts, forms and signing in as a browser would."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
from fastapi.testclient import TestClient
from httpx import Response

from relay.core.db import session_scope
from relay.models import StaffRole
from relay.staff import accounts

# A fixed instant, in the middle of a TOTP step; nothing in the console depends on the hour.
START = datetime(2026, 3, 10, 15, 0, 10, tzinfo=UTC)
PASSWORD = "correct horse battery staple"


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Account:
    id: int
    email: str
    name: str
    password: str
    secret: str

    def code(self, at: datetime) -> str:
        return pyotp.TOTP(self.secret).at(at)


def make_account(
    clock: Clock, *, email: str = "ann@clinic.example", name: str = "Ann Lee", role: StaffRole = StaffRole.STAFF
) -> Account:
    """An enrolled account, committed; enrolled two minutes ago so the current code is still unused."""
    enrolled_at = clock.now - timedelta(minutes=2)
    with session_scope() as session:
        user, _token = accounts.create_user(session, email=email, name=name, role=role, now=enrolled_at)
        secret = accounts.pending_totp_secret(session, user=user)
        code = pyotp.TOTP(secret).at(enrolled_at)
        accounts.complete_enrolment(session, user=user, password=PASSWORD, code=code, now=enrolled_at)
        return Account(id=user.id, email=email, name=name, password=PASSWORD, secret=secret)


def csrf_of(page: Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def post_password(client: TestClient, email: str, password: str) -> Response:
    token = csrf_of(client.get("/console/sign-in"))
    return client.post("/console/sign-in", data={"email": email, "password": password, "csrf_token": token})


def post_code(client: TestClient, code: str) -> Response:
    page = client.get("/console/sign-in/code")
    assert page.status_code == 200, page.headers.get("location")
    return client.post("/console/sign-in/code", data={"code": code, "csrf_token": csrf_of(page)})


def sign_in(client: TestClient, account: Account, clock: Clock) -> Response:
    """Password, then the current code; the answer to the code (303 to the queue when it worked)."""
    first = post_password(client, account.email, account.password)
    assert first.status_code == 303 and first.headers["location"] == "/console/sign-in/code", first.text
    return post_code(client, account.code(clock.now))
