"""What every console route needs: a database session, the clock, the signed-in staff member, CSRF checks."""

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session

from relay.core.db import session_scope
from relay.core.settings import get_settings
from relay.models import StaffRole, StaffSession, StaffUser, utcnow
from relay.staff import sessions

SESSION_COOKIE = "relay_console"
# Forms shown before there is a session (sign-in, enrolment) carry a double-submit token from this cookie.
CSRF_COOKIE = "relay_console_csrf"
COOKIE_PATH = "/console"


class SignInRequired(Exception):
    """No live session with both factors: the browser goes to the sign-in page."""


class CsrfRefused(Exception):
    """A form came without the token this browser was given."""


class AdminOnly(Exception):
    """A staff member without the admin role asked for an admin page."""


def get_session() -> Iterator[Session]:
    with session_scope() as session:
        yield session


def console_now() -> datetime:
    """The console's clock; tests override this dependency to move time."""
    return utcnow()


# Committed before the answer goes out (see api/deps.py): a redirect after sign-in must find the session.
DbDep = Annotated[Session, Depends(get_session, scope="function")]
NowDep = Annotated[datetime, Depends(console_now)]


@dataclass(frozen=True)
class Staff:
    user: StaffUser
    session: StaffSession

    @property
    def actor(self) -> str:
        return f"staff:{self.user.id}"


def secure_cookies() -> bool:
    return get_settings().base_url.startswith("https")


def set_cookie(response: Response, name: str, value: str) -> None:
    response.set_cookie(name, value, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure_cookies())


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure_cookies())


def live_session(request: Request, db: Session, now: datetime) -> StaffSession | None:
    """The session the cookie opens, half or full; an idle one is ended (and that is committed)."""
    staff_session = sessions.lookup(db, token=request.cookies.get(SESSION_COOKIE), now=now)
    db.commit()  # an idle session's end stands even though the request is refused
    return staff_session


def require_staff(request: Request, db: DbDep, now: NowDep) -> Staff:
    staff_session = live_session(request, db, now)
    if staff_session is None or not staff_session.second_factor_done:
        raise SignInRequired
    sessions.touch(db, staff_session=staff_session, now=now)
    return Staff(user=db.get_one(StaffUser, staff_session.user_id), session=staff_session)


StaffDep = Annotated[Staff, Depends(require_staff)]


def require_staff_without_touch(request: Request, db: DbDep, now: NowDep) -> Staff:
    """For what a page fetches by itself (the queue every few seconds, previews): the session must be
    live, but such a request is not the person doing anything, so it does not keep the session alive;
    an open page left alone still ends after the idle limit."""
    staff_session = live_session(request, db, now)
    if staff_session is None or not staff_session.second_factor_done:
        raise SignInRequired
    return Staff(user=db.get_one(StaffUser, staff_session.user_id), session=staff_session)


PollDep = Annotated[Staff, Depends(require_staff_without_touch)]


def require_admin(staff: StaffDep) -> Staff:
    if staff.user.role != StaffRole.ADMIN:
        raise AdminOnly
    return staff


AdminDep = Annotated[Staff, Depends(require_admin)]


def require_csrf(request: Request, staff: Staff, form_token: str = "") -> None:
    """A state-changing request of a signed-in session must carry the session's token: in the form's hidden
    field, or (htmx requests) in the X-CSRF-Token header that base.html sets for every htmx request."""
    check_csrf(staff.session.csrf_token, form_token or request.headers.get("X-CSRF-Token", ""))


def check_csrf(expected: str | None, given: str) -> None:
    if not expected or not given or not secrets.compare_digest(expected.encode(), given.encode()):
        raise CsrfRefused


def pre_session_csrf(request: Request) -> str:
    """The double-submit token for a form shown before sign-in: this browser's cookie, or a new one."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
