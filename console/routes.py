"""Console pages: sign-in (password, then TOTP code), enrolment, sign-out, and the handoff queue."""

import base64
import io
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from console import queue
from console.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    DbDep,
    NowDep,
    StaffDep,
    check_csrf,
    clear_cookie,
    live_session,
    pre_session_csrf,
    set_cookie,
)
from console.rendering import page, redirect, signed_in
from console.viewing import viewed
from relay.models import StaffUser
from relay.staff import accounts, sessions
from relay.staff.accounts import AccountError, Outcome

router = APIRouter(prefix="/console", include_in_schema=False)

REFUSED = "That email and password, or that code, were not accepted. Check them and try again."
LOCKED = "Too many attempts. Try again later."

Field = Annotated[str, Form()]


_page = page
_redirect = redirect


def _pre_session_page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A form shown before sign-in, with its double-submit CSRF token in a cookie and a hidden field."""
    token = pre_session_csrf(request)
    response = _page(request, name, status_code, csrf_token=token, **context)
    set_cookie(response, CSRF_COOKIE, token)
    return response


# --- sign-in -------------------------------------------------------------------------------------


@router.get("/sign-in")
def sign_in_form(request: Request, db: DbDep, now: NowDep, enrolled: bool = False) -> Response:
    current = live_session(request, db, now)
    if current is not None and current.second_factor_done:
        return _redirect("/console/")
    notice = "You are enrolled. Sign in with your email, password and a code." if enrolled else None
    return _pre_session_page(request, "sign_in.html", notice=notice, error=None, email="")


@router.post("/sign-in")
def sign_in(
    request: Request, db: DbDep, now: NowDep, email: Field = "", password: Field = "", csrf_token: Field = ""
) -> Response:
    check_csrf(request.cookies.get(CSRF_COOKIE), csrf_token)
    attempt = accounts.check_password(db, email=email, password=password, now=now)
    if attempt.outcome is not Outcome.OK or attempt.user is None:
        locked = attempt.outcome is Outcome.LOCKED
        return _pre_session_page(request, "sign_in.html", 429 if locked else 401, notice=None,
                                 error=LOCKED if locked else REFUSED, email=email)  # fmt: skip
    _half, token = sessions.start(db, user=attempt.user, now=now)
    response = _redirect("/console/sign-in/code")
    set_cookie(response, SESSION_COOKIE, token)
    return response


@router.get("/sign-in/code")
def code_form(request: Request, db: DbDep, now: NowDep) -> Response:
    current = live_session(request, db, now)
    if current is None:
        return _redirect("/console/sign-in")
    if current.second_factor_done:
        return _redirect("/console/")
    return _page(request, "code.html", csrf_token=current.csrf_token, error=None)


@router.post("/sign-in/code")
def sign_in_code(request: Request, db: DbDep, now: NowDep, code: Field = "", csrf_token: Field = "") -> Response:
    half = live_session(request, db, now)
    if half is None or half.second_factor_done:
        return _redirect("/console/sign-in")
    check_csrf(half.csrf_token, csrf_token)
    user = db.get_one(StaffUser, half.user_id)
    attempt = accounts.check_code(db, user=user, code=code, now=now)
    if attempt.outcome is Outcome.LOCKED:
        sessions.end(db, staff_session=half, now=now, audit=False)
        response = _pre_session_page(request, "sign_in.html", 429, notice=None, error=LOCKED, email="")
        clear_cookie(response, SESSION_COOKIE)
        return response
    if attempt.outcome is not Outcome.OK:
        sessions.touch(db, staff_session=half, now=now)
        return _page(request, "code.html", 401, csrf_token=half.csrf_token, error=REFUSED)
    _full, token = sessions.complete(db, half=half, user=user, now=now)
    redirect = _redirect("/console/")
    set_cookie(redirect, SESSION_COOKIE, token)
    clear_cookie(redirect, CSRF_COOKIE)
    return redirect


@router.post("/sign-out")
def sign_out(request: Request, db: DbDep, now: NowDep, csrf_token: Field = "") -> Response:
    current = live_session(request, db, now)
    if current is not None:
        check_csrf(current.csrf_token, csrf_token)
        sessions.end(db, staff_session=current, now=now)
    redirect = _redirect("/console/sign-in")
    clear_cookie(redirect, SESSION_COOKIE)
    return redirect


# --- enrolment -----------------------------------------------------------------------------------


def _enrol_page(request: Request, db: DbDep, user: StaffUser, token: str, status_code: int = 200,
                error: str | None = None) -> HTMLResponse:  # fmt: skip
    secret = accounts.pending_totp_secret(db, user=user)
    svg = io.BytesIO()
    segno.make(accounts.provisioning_uri(user), error="m").save(svg, kind="svg", scale=5, border=4, xmldecl=False)
    qr = "data:image/svg+xml;base64," + base64.b64encode(svg.getvalue()).decode()
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return _pre_session_page(request, "enrol.html", status_code, user=user, token=token, secret=grouped, qr=qr,
                             error=error, min_length=accounts.MIN_PASSWORD_LENGTH)  # fmt: skip


@router.get("/enrol/{token}")
def enrol_form(request: Request, token: str, db: DbDep, now: NowDep) -> Response:
    user = accounts.find_enrolment(db, token=token, now=now)
    if user is None:
        return _page(request, "enrol_invalid.html", 404)
    return _enrol_page(request, db, user, token)


@router.post("/enrol/{token}")
def enrol(
    request: Request,
    token: str,
    db: DbDep,
    now: NowDep,
    password: Field = "",
    password_again: Field = "",
    code: Field = "",
    csrf_token: Field = "",
) -> Response:
    check_csrf(request.cookies.get(CSRF_COOKIE), csrf_token)
    user = accounts.find_enrolment(db, token=token, now=now)
    if user is None:
        return _page(request, "enrol_invalid.html", 404)
    if password != password_again:
        return _enrol_page(request, db, user, token, 400, error="The two passwords are not the same.")
    try:
        accounts.complete_enrolment(db, user=user, password=password, code=code, now=now)
    except AccountError as exc:
        return _enrol_page(request, db, user, token, 400, error=str(exc))
    return _redirect("/console/sign-in?enrolled=1")


# --- the handoff queue ---------------------------------------------------------------------------


@router.get("/")
def home(request: Request, staff: StaffDep, db: DbDep, now: NowDep) -> Response:
    rows = queue.open_queue(db, now=now)
    # One audit event per patient shown; an unknown number is no patient record.
    viewed(db, staff, page="queue", patient_ids=[row.patient_id for row in rows], now=now, dedupe=True)
    return signed_in(request, staff, "queue.html", section="queue", rows=rows)
