"""User administration and the audit log viewer (admins only).

Adding or resetting an account shows its enrolment link once, in the answer to
the POST: the raw token is never stored, so the page cannot be fetched again
(a redirect would have to carry the token in a URL, into the history and logs).
"""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from console.deps import AdminDep, DbDep, NowDep, Staff, require_csrf
from console.display import clinic_when
from console.rendering import redirect, signed_in
from console.viewing import viewed
from relay.core.settings import get_settings
from relay.models import AuditEvent, Patient, Referral, StaffRole, StaffUser
from relay.records.clinics import get_clinic
from relay.staff import accounts
from relay.staff.accounts import AccountError, EmailTaken

router = APIRouter(prefix="/console", include_in_schema=False)

Field = Annotated[str, Form()]

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_EMAIL = 254
MAX_NAME = 200
ROLES = {StaffRole.STAFF: "Staff: works the handoff queue", StaffRole.ADMIN: "Admin: also edits FAQs and users"}


def _clinic_time(db: Session, moment: datetime, *, now: datetime | None = None, seconds: bool = False) -> str:
    return clinic_when(moment, get_clinic(db).timezone, now=now, seconds=seconds)


# --- the users -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserRow:
    user: StaffUser
    is_you: bool
    access: str  # "Active", "Disabled" or "Enrolment pending": whether they can sign in
    access_note: str | None  # for a pending enrolment, its link's state: "(link expires Sun, Nov 29 at 6:43 PM)"
    locked_until: str | None
    last_sign_in: str | None

    @property
    def access_badge(self) -> str:
        return {"Active": "badge-live", "Disabled": "badge-retired"}.get(self.access, "badge-pending")


def _access(db: Session, user: StaffUser, now: datetime) -> tuple[str, str | None]:
    """Whether the account can sign in: a person who has not finished enrolment cannot yet, whatever `active` says."""
    if not user.active:
        return "Disabled", None
    if user.enrolled:
        return "Active", None
    if user.enrolment_expires_at is not None and user.enrolment_expires_at > now:
        return "Enrolment pending", f"(link expires {_clinic_time(db, user.enrolment_expires_at, now=now)})"
    return "Enrolment pending", "(link expired: reset to send a new one)"


def _rows(db: Session, staff: Staff, now: datetime) -> list[UserRow]:
    last = accounts.last_sign_ins(db)
    rows = []
    for user in accounts.list_users(db):
        access, note = _access(db, user, now)
        locked = (
            _clinic_time(db, user.locked_until, now=now)
            if user.locked_until and accounts.is_locked(user, now=now)
            else None
        )
        signed = _clinic_time(db, last[user.id], now=now) if user.id in last else None
        rows.append(UserRow(user=user, is_you=user.id == staff.user.id, access=access, access_note=note,
                            locked_until=locked, last_sign_in=signed))  # fmt: skip
    return rows


DONE = {
    "disabled": "{name} is disabled: their sessions ended and they cannot sign in.",
    "enabled": "{name} can sign in again.",
}


def _users_page(request: Request, staff: Staff, db: Session, now: datetime, status_code: int = 200, *,
                form: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                problem: str | None = None, done: str | None = None) -> HTMLResponse:  # fmt: skip
    return signed_in(request, staff, "users.html", status_code, section="users", rows=_rows(db, staff, now),
                     form=form or {"email": "", "name": "", "role": StaffRole.STAFF.value}, errors=errors or {},
                     problem=problem, done=done, roles=ROLES)  # fmt: skip


def _user(db: Session, user_id: str) -> StaffUser | None:
    return db.get(StaffUser, int(user_id)) if user_id.isdigit() and len(user_id) < 12 else None


def _link_page(request: Request, staff: Staff, db: Session, user: StaffUser, token: str, *, kind: str
               ) -> HTMLResponse:  # fmt: skip
    expires = user.enrolment_expires_at
    return signed_in(request, staff, "user_link.html", section="users", user=user, kind=kind,
                     link=accounts.enrolment_link(token), hours=get_settings().console_enrolment_hours,
                     expires=_clinic_time(db, expires) if expires else "")  # fmt: skip


@router.get("/users")
def list_users(request: Request, staff: AdminDep, db: DbDep, now: NowDep, done: str = "", user: str = "") -> Response:
    shown = _user(db, user)
    message = DONE[done].format(name=shown.name) if done in DONE and shown is not None else None
    return _users_page(request, staff, db, now, done=message)


@router.post("/users")
def add_user(
    request: Request, staff: AdminDep, db: DbDep, now: NowDep, email: Field = "", name: Field = "",
    role: Field = StaffRole.STAFF.value, csrf_token: Field = "",
) -> Response:  # fmt: skip
    require_csrf(request, staff, csrf_token)
    form = {"email": email.strip(), "name": name.strip(), "role": role}
    errors = {}
    if not EMAIL.fullmatch(form["email"]) or len(form["email"]) > MAX_EMAIL:
        errors["email"] = "Enter an email address, such as kim@clinic.example."
    elif accounts.find_by_email(db, form["email"]) is not None:
        errors["email"] = f"{accounts.normalise_email(form['email'])} already has an account."
    if not form["name"]:
        errors["name"] = "Enter the person's name, as colleagues know it."
    elif len(form["name"]) > MAX_NAME:
        errors["name"] = f"The name has {len(form['name'])} characters; at most {MAX_NAME} fit."
    if role not in {r.value for r in StaffRole}:
        errors["role"] = "Choose staff or admin."
    if errors:
        return _users_page(request, staff, db, now, 422, form=form, errors=errors)
    try:
        user, token = accounts.create_user(db, email=form["email"], name=form["name"], role=StaffRole(role),
                                           now=now, by=staff.actor)  # fmt: skip
    except EmailTaken as exc:  # taken a moment ago by another admin or the CLI
        return _users_page(request, staff, db, now, 422, form=form, errors={"email": str(exc)})
    return _link_page(request, staff, db, user, token, kind="created")


@router.post("/users/{user_id}/disable")
def disable_user(request: Request, user_id: str, staff: AdminDep, db: DbDep, now: NowDep, csrf_token: Field = ""
                 ) -> Response:  # fmt: skip
    require_csrf(request, staff, csrf_token)
    user = _user(db, user_id)
    if user is None:
        return _users_page(request, staff, db, now, 404, problem="There is no such account.")
    try:
        accounts.disable_user(db, user=user, by=staff.actor, now=now)
    except AccountError as exc:
        return _users_page(request, staff, db, now, 409, problem=str(exc))
    return redirect(f"/console/users?done=disabled&user={user.id}")


@router.post("/users/{user_id}/enable")
def enable_user(request: Request, user_id: str, staff: AdminDep, db: DbDep, now: NowDep, csrf_token: Field = ""
                ) -> Response:  # fmt: skip
    require_csrf(request, staff, csrf_token)
    user = _user(db, user_id)
    if user is None:
        return _users_page(request, staff, db, now, 404, problem="There is no such account.")
    accounts.enable_user(db, user=user, by=staff.actor, now=now)
    return redirect(f"/console/users?done=enabled&user={user.id}")


@router.post("/users/{user_id}/reset")
def reset_user(request: Request, user_id: str, staff: AdminDep, db: DbDep, now: NowDep, csrf_token: Field = ""
               ) -> Response:  # fmt: skip
    require_csrf(request, staff, csrf_token)
    user = _user(db, user_id)
    if user is None:
        return _users_page(request, staff, db, now, 404, problem="There is no such account.")
    if not user.active:
        return _users_page(request, staff, db, now, 409, problem=f"{user.name} is disabled: enable them first.")
    try:
        token = accounts.reset_user(db, user=user, by=staff.actor, now=now)
    except AccountError as exc:
        return _users_page(request, staff, db, now, 409, problem=str(exc))
    return _link_page(request, staff, db, user, token, kind="reset")


# --- the audit log -------------------------------------------------------------------------------

PAGE_SIZE = 50

ACTIONS = {
    "appointment.booked": "Appointment booked",
    "appointment.rescheduled": "Appointment moved",
    "appointment.confirmed": "Appointment confirmed",
    "appointment.cancelled": "Appointment cancelled",
    "appointment.completed": "Appointment completed",
    "appointment.no_show": "Appointment missed (no-show)",
    "consent.opted_in": "Texts allowed again (opted in)",
    "consent.opted_out": "Texts stopped (opted out)",
    "console.viewed": "Viewed in the console",
    "faq.created": "FAQ entry added",
    "faq.updated": "FAQ entry edited",
    "faq.retired": "FAQ entry retired",
    "faq.restored": "FAQ entry restored",
    "handoff.opened": "Handed to staff",
    "handoff.escalated": "Handoff made more urgent",
    "handoff.claimed": "Handoff claimed",
    "handoff.released": "Handoff released",
    "handoff.replied": "Staff replied",
    "handoff.resolved": "Handoff resolved",
    "import.batch": "Records imported",
    "outreach.send_confirmed": "Unsure send confirmed as sent",
    "outreach.send_unconfirmed": "Send could not be confirmed",
    "phone.flagged": "Phone number flagged",
    "referral.disclosed": "Referral details told to the patient",
    "referral.status_changed": "Referral status changed",
    "referral.authorization_updated": "Insurance authorization updated",
    "review.rated": "Visit rated",
    "staff.created": "Account added",
    "staff.enrolment_issued": "Enrolment link issued",
    "staff.enrolled": "Account set up (enrolled)",
    "staff.signed_in": "Signed in",
    "staff.signed_out": "Signed out",
    "staff.session_expired": "Session ended (idle)",
    "staff.sign_in_failed": "Sign-in refused",
    "staff.locked": "Account locked (too many attempts)",
    "staff.disabled": "Account disabled",
    "staff.enabled": "Account enabled",
    "staff.reset": "Account reset",
    "verification.passed": "Date of birth verified",
    "verification.failed": "Date of birth did not match",
    "verification.locked": "Verification locked",
    "verification.unlocked": "Verification unlocked",
    "verification.outreach_reply": "Reply to a clinic text accepted",
}

ACTORS = {
    "bot": "Bot",
    "system": "System",
    "api": "API",
    "seed": "Demo data",
    "anonymous": "Someone not signed in",
    "patient": "Patient",
    "patient:outreach_reply": "Patient (reply to a clinic text)",
}


def action_words(action: str) -> str:
    return ACTIONS.get(action, action)


def actor_words(actor: str, staff_names: dict[int, str]) -> str:
    if actor.startswith("staff:") and actor[6:].isdigit():
        return staff_names.get(int(actor[6:]), f"Staff account {actor[6:]}")
    if actor.startswith("import:"):
        return f"Import ({actor[7:]})"
    return ACTORS.get(actor, actor)


@dataclass(frozen=True)
class EventRow:
    id: int
    when: str
    at: datetime
    who: str
    action: str
    what: str
    patient: str | None
    referral: str | None
    details: list[tuple[str, str]]


@dataclass(frozen=True)
class AuditFilters:
    user: str
    patient: str
    action: str

    def query(self, **extra: Any) -> str:
        values = {"user": self.user, "patient": self.patient, "action": self.action} | extra
        return urlencode({name: value for name, value in values.items() if value not in ("", None)})


def _find_patient(db: Session, text: str) -> Patient | None:
    text = text.strip()
    found = db.scalars(select(Patient).where(func.lower(Patient.mrn) == text.lower())).first()
    if found is None and text.isdigit() and len(text) < 12:
        found = db.get(Patient, int(text))
    return found


# Details that hold a staff account's id, and the word they are shown under once the id is read as the person.
STAFF_ID_DETAILS = {"user_id": "account"}


def detail_lines(details: dict[str, Any], staff: dict[int, str] | None = None) -> list[tuple[str, str]]:
    """An event's details as name and value lines; a nested dict of plain values reads as one line
    ("counts.patients: created 11, updated 0"), not as Python's repr. With `staff` (account id to
    "Name (email)"), a staff account's id reads as the person ("account: Noor Bakr (noor@clinic.example)")."""
    lines: list[tuple[str, str]] = []

    def walk(name: str, value: Any) -> None:
        if staff is not None and name in STAFF_ID_DETAILS and isinstance(value, int):
            lines.append((STAFF_ID_DETAILS[name], staff.get(value, f"account {value} (not on file)")))
        elif isinstance(value, dict) and (not name or any(isinstance(v, dict | list) for v in value.values())):
            for key, inner in value.items():
                walk(f"{name}.{key}" if name else str(key), inner)
        elif isinstance(value, dict):
            lines.append((name, ", ".join(f"{key} {inner}" for key, inner in value.items())))
        elif isinstance(value, list):
            lines.append((name, ", ".join(map(str, value))))
        else:
            lines.append((name, str(value)))

    walk("", details or {})
    return sorted(lines)


def _page_number(text: str) -> int:
    """The page asked for; anything that is not a page number is the first page."""
    return int(text) if text.isdigit() and len(text) < 7 and int(text) > 0 else 1


def _conditions(db: Session, filters: AuditFilters, staff_ids: set[int]) -> tuple[list[Any], list[str]]:
    """The WHERE clauses the filters ask for, and what in them matches nothing (then nothing is shown)."""
    conditions: list[Any] = []
    problems: list[str] = []
    if filters.user:
        if filters.user.isdigit() and int(filters.user) in staff_ids:
            conditions.append(AuditEvent.actor == f"staff:{int(filters.user)}")
        else:
            problems.append("There is no such staff account.")
    if filters.patient:
        found = _find_patient(db, filters.patient)
        if found is None:
            problems.append(f"No patient has the MRN or id {filters.patient}.")
        else:
            conditions.append(AuditEvent.patient_id == found.id)
    if filters.action:
        conditions.append(AuditEvent.action == filters.action)
    return conditions, problems


def _event_rows(db: Session, events: list[AuditEvent], names: dict[int, str], people: dict[int, str],
                now: datetime) -> list[EventRow]:  # fmt: skip
    patient_ids = {event.patient_id for event in events if event.patient_id is not None}
    referral_ids = {event.referral_id for event in events if event.referral_id is not None}
    patients = {p.id: f"{p.name} ({p.mrn})" for p in db.scalars(select(Patient).where(Patient.id.in_(patient_ids)))}
    referrals = {r.id: r.external_id for r in db.scalars(select(Referral).where(Referral.id.in_(referral_ids)))}
    return [
        EventRow(
            id=event.id,
            when=_clinic_time(db, event.at, now=now, seconds=True),
            at=event.at,
            who=actor_words(event.actor, names),
            action=event.action,
            what=action_words(event.action),
            patient=patients.get(event.patient_id) if event.patient_id is not None else None,
            referral=referrals.get(event.referral_id) if event.referral_id is not None else None,
            details=detail_lines(event.details, people),
        )
        for event in events
    ]


@router.get("/audit")
def audit_log(
    request: Request, staff: AdminDep, db: DbDep, now: NowDep, user: str = "", patient: str = "", action: str = "",
    page_number: Annotated[str, Query(alias="page")] = "1",
) -> Response:  # fmt: skip
    filters = AuditFilters(user=user.strip(), patient=patient.strip(), action=action.strip())
    staff_users = accounts.list_users(db)
    names = {account.id: account.name for account in staff_users}
    people = {account.id: f"{account.name} ({account.email})" for account in staff_users}
    conditions, problems = _conditions(db, filters, set(names))
    number = _page_number(page_number)
    events: list[AuditEvent] = []
    total = 0
    if not problems:  # a filter that matches nothing shows nothing, never everything
        total = db.scalar(select(func.count()).select_from(AuditEvent).where(*conditions)) or 0
        newest_first = select(AuditEvent).where(*conditions).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        events = list(db.scalars(newest_first.offset((number - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
    rows = _event_rows(db, events, names, people, now)
    actions = sorted(set(db.scalars(select(AuditEvent.action).distinct())) | set(ACTIONS), key=action_words)
    # After the query: this page's own view events belong to the next look at the log, not this one.
    viewed(db, staff, page="audit", patient_ids=[event.patient_id for event in events], now=now, dedupe=True)
    return signed_in(
        request, staff, "audit.html", section="audit", rows=rows, filters=filters, problems=problems,
        staff_users=staff_users, actions=[(code, action_words(code)) for code in actions], page_number=number,
        pages=max(1, -(-total // PAGE_SIZE)), total=total,
    )  # fmt: skip
