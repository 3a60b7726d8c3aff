"""User administration: admins add people (an enrolment link, shown once), disable, enable and reset accounts."""

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from console.deps import console_now
from relay.core.db import session_scope
from relay.models import AuditEvent, StaffRole, StaffSession, StaffUser
from relay.staff import accounts
from tests.console.support import PASSWORD, Clock, csrf_of, make_account, post_password, sign_in


@pytest.fixture
def admin(fresh_demo, clock):
    return make_account(clock, email="ada@clinic.example", name="Ada Admin", role=StaffRole.ADMIN)


@contextmanager
def another_browser(clock: Clock) -> Iterator[TestClient]:
    """A second browser with its own cookies, on the same database and clock."""
    app = create_app()
    app.dependency_overrides[console_now] = clock
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


def _user(email: str) -> StaffUser | None:
    with session_scope() as session:
        return accounts.find_by_email(session, email)


def _existing(email: str) -> StaffUser:
    user = _user(email)
    assert user is not None, email
    return user


def _events(action: str) -> list[tuple[str, dict]]:
    with session_scope() as session:
        return [(e.actor, e.details) for e in session.scalars(select(AuditEvent).where(AuditEvent.action == action))]


def _row(page: str, user_id: int) -> str:
    match = re.search(rf'<tr data-user="{user_id}".*?</tr>', page, re.S)
    assert match, page
    return match.group(0)


def _token(console) -> str:
    return csrf_of(console.get("/console/users"))


def _link_of(page: str) -> str:
    match = re.search(r'id="enrolment-link" type="text" value="([^"]+)" readonly', page)
    assert match, page
    return html.unescape(match.group(1))


def test_an_admin_adds_a_person_and_their_enrolment_link_works(console, admin, clock):
    sign_in(console, admin, clock)
    form = {"csrf_token": _token(console), "email": " Kim@Clinic.example ", "name": "Kim Park", "role": "staff"}
    added = console.post("/console/users", data=form)
    assert added.status_code == 200
    link = _link_of(added.text)
    assert link.startswith("https://relay.example.test/console/enrol/")
    assert "shown only now" in added.text
    assert "Wed, Mar 11 at 10:00 AM" in added.text and "24 hours" in added.text  # expiry, in the clinic's time

    kim = _user("kim@clinic.example")
    assert kim is not None and (kim.name, kim.role, kim.active, kim.enrolled) == ("Kim Park", StaffRole.STAFF, True,
                                                                                  False)  # fmt: skip
    assert sorted(_events("staff.created"), key=str) == [
        (f"staff:{admin.id}", {"user_id": kim.id, "role": "staff"}),
        ("system", {"user_id": admin.id, "role": "admin"}),
    ]
    assert (f"staff:{admin.id}", {"user_id": kim.id}) in _events("staff.enrolment_issued")

    enrol = console.get(link.removeprefix("https://relay.example.test"))
    assert enrol.status_code == 200 and "Welcome, Kim Park" in enrol.text
    row = _row(console.get("/console/users").text, kim.id)
    assert 'Enrolment pending</span> <span class="access-note">(link expires Wed, Mar 11 at 10:00 AM)' in row
    assert ">Active<" not in row  # cannot sign in before enrolling
    assert "Never" in row and "Disable" in row
    assert link.rsplit("/", 1)[1] not in console.get("/console/users").text  # shown once, never again


BAD_PEOPLE = {
    "no email": ({"email": ""}, "email", "Enter an email address"),
    "not an email": ({"email": "kim at clinic"}, "email", "Enter an email address"),
    "an email that has an account": ({"email": "ADA@clinic.example"}, "email", "already has an account"),
    "no name": ({"name": "  "}, "name", "Enter the person"),
    "a name too long": ({"name": "K" * 201}, "name", "at most 200"),
    "an unknown role": ({"role": "owner"}, "role", "Choose staff or admin"),
}


@pytest.mark.parametrize("change, field, says", BAD_PEOPLE.values(), ids=BAD_PEOPLE.keys())
def test_a_bad_new_person_is_refused_with_422_and_nobody_is_added(console, admin, clock, change, field, says):
    sign_in(console, admin, clock)
    with session_scope() as session:
        before = session.scalar(select(func.count()).select_from(StaffUser))
    form = {"csrf_token": _token(console), "email": "kim@clinic.example", "name": "Kim Park", "role": "staff"}
    answer = console.post("/console/users", data=form | change)
    assert answer.status_code == 422 and "Nobody was added" in answer.text
    error = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', answer.text, re.S)
    assert error and says in html.unescape(error.group(1))
    assert "enrolment-link" not in answer.text
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(StaffUser)) == before
    assert [details for _actor, details in _events("staff.created")] == [{"user_id": admin.id, "role": "admin"}]


def test_disabling_a_person_ends_their_session_at_once_and_enabling_lets_them_back(console, admin, account, clock):
    with another_browser(clock) as kims:
        sign_in(kims, account, clock)
        assert kims.get("/console/").status_code == 200
        sign_in(console, admin, clock)

        disabled = console.post(f"/console/users/{account.id}/disable", data={"csrf_token": _token(console)})
        assert disabled.status_code == 303
        page = console.get(disabled.headers["location"]).text
        assert "Ann Lee is disabled" in page and "Disabled" in _row(page, account.id)

        refused = kims.get("/console/")
        assert refused.status_code == 303 and refused.headers["location"] == "/console/sign-in"
        assert post_password(kims, account.email, PASSWORD).status_code == 401
        with session_scope() as session:
            assert not session.scalars(select(StaffSession).filter_by(user_id=account.id, ended_at=None)).all()
        assert _events("staff.disabled") == [(f"staff:{admin.id}", {"user_id": account.id, "sessions_ended": 1})]

        enabled = console.post(f"/console/users/{account.id}/enable", data={"csrf_token": _token(console)})
        assert enabled.status_code == 303
        assert "Ann Lee can sign in again" in console.get(enabled.headers["location"]).text
        assert kims.get("/console/").status_code == 303  # the old session stays ended
        clock.advance(seconds=30)  # a new code
        assert sign_in(kims, account, clock).status_code == 303
        assert kims.get("/console/").status_code == 200
        assert _events("staff.enabled") == [(f"staff:{admin.id}", {"user_id": account.id})]


def test_a_reset_ends_sessions_and_the_old_password_no_longer_works(console, admin, account, clock):
    with another_browser(clock) as kims:
        sign_in(kims, account, clock)
        sign_in(console, admin, clock)
        reset = console.post(f"/console/users/{account.id}/reset", data={"csrf_token": _token(console)})
        assert reset.status_code == 200 and "Ann Lee is reset" in reset.text
        link = _link_of(reset.text)

        assert kims.get("/console/").status_code == 303
        assert post_password(kims, account.email, PASSWORD).status_code == 401
        with session_scope() as session:
            user = session.get_one(StaffUser, account.id)
            assert (user.password_hash, user.totp_secret, user.active) == (None, None, True)
        assert kims.get(link.removeprefix("https://relay.example.test")).status_code == 200
        assert "Enrolment pending" in _row(console.get("/console/users").text, account.id)
        assert _events("staff.reset") == [(f"staff:{admin.id}", {"user_id": account.id, "sessions_ended": 1})]


def test_an_admin_cannot_disable_or_reset_themself(console, admin, clock):
    sign_in(console, admin, clock)
    for action in ("disable", "reset"):
        refused = console.post(f"/console/users/{admin.id}/{action}", data={"csrf_token": _token(console)})
        assert refused.status_code == 409 and "your own account" in refused.text
        assert "enrolment-link" not in refused.text
    assert console.get("/console/users").status_code == 200  # still signed in
    assert _existing(admin.email).active and _existing(admin.email).enrolled
    assert _events("staff.disabled") == _events("staff.reset") == []


def test_the_last_admin_who_can_sign_in_cannot_be_disabled(console, admin, clock):
    bo = make_account(clock, email="bo@clinic.example", name="Bo Admin", role=StaffRole.ADMIN)
    sign_in(console, admin, clock)
    assert console.post(f"/console/users/{bo.id}/disable", data={"csrf_token": _token(console)}).status_code == 303
    with session_scope() as session:  # a pending admin cannot sign in yet, so does not count
        accounts.create_user(session, email="cy@clinic.example", role=StaffRole.ADMIN, now=clock.now)
    with session_scope() as session, pytest.raises(accounts.LastAdmin):
        accounts.disable_user(session, user=session.get_one(StaffUser, admin.id), by="system", now=clock.now)
    assert _existing(admin.email).active


def test_the_list_shows_roles_locks_and_last_sign_in(console, admin, account, clock):
    sign_in(console, admin, clock)
    with session_scope() as session:
        ann = session.get_one(StaffUser, account.id)
        ann.locked_until = clock.now + timedelta(minutes=10)
    page = console.get("/console/users").text
    ann_row, ada_row = _row(page, account.id), _row(page, admin.id)
    assert "ann@clinic.example" in ann_row and "Staff" in ann_row and ">Active<" in ann_row
    assert "Locked until Tue, Mar 10 at 10:10 AM" in ann_row and "Never" in ann_row
    assert "Admin" in ada_row and "(you)" in ada_row and "Tue, Mar 10 at 10:00 AM" in ada_row
    assert "/disable" not in ada_row  # no buttons against oneself


def test_forms_without_their_csrf_token_change_nothing(console, admin, account, clock):
    sign_in(console, admin, clock)
    assert console.post(f"/console/users/{account.id}/disable", data={"csrf_token": "forged"}).status_code == 403
    assert console.post("/console/users", data={"email": "kim@clinic.example", "name": "Kim"}).status_code == 403
    assert _existing(account.email).active and _user("kim@clinic.example") is None


ADMIN_ROUTES = [
    ("get", "/console/users"),
    ("post", "/console/users"),
    ("post", "/console/users/{id}/disable"),
    ("post", "/console/users/{id}/enable"),
    ("post", "/console/users/{id}/reset"),
    ("get", "/console/audit"),
]


@pytest.mark.parametrize("method, path", ADMIN_ROUTES)
def test_staff_are_refused_every_user_route(console, account, admin, clock, method, path):
    sign_in(console, account, clock)
    token = csrf_of(console.get("/console/"))
    path = path.format(id=admin.id)
    data = {"csrf_token": token, "email": "kim@clinic.example", "name": "Kim Park", "role": "admin"}
    answer = console.get(path) if method == "get" else console.post(path, data=data)
    assert answer.status_code == 403 and "Only admins can open this page" in answer.text
    assert _user("kim@clinic.example") is None
    ada = _existing(admin.email)
    assert ada.active and ada.enrolled
    assert _events("staff.disabled") == _events("staff.reset") == _events("staff.enabled") == []
