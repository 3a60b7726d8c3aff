"""Console pages for referrals: search, one referral's page, and what staff do there (change its status; book,
move or cancel its appointment), through the same domain functions as the API and the bot.

Every page that shows a patient is audited (console.viewing.viewed). Every
change is a POST carrying the session's CSRF token, followed by a redirect; a
change refused (a status the referral can't take, a slot taken meanwhile, a
page gone stale) re-renders the page with the reason in words, and nothing is
changed.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from console.deps import DbDep, NowDep, Staff, StaffDep, require_csrf
from console.display import referral_status_words
from console.referral_view import (
    appointment_token,
    find_referral,
    referral_page,
    referral_url,
    search_rows,
    why_not_bookable,
)
from console.rendering import redirect, signed_in
from console.viewing import viewed
from relay.language.timefmt import format_when
from relay.models import Referral
from relay.records.clinics import get_clinic
from relay.referrals.search import DEFAULT_LIMIT, search_referrals
from relay.referrals.transitions import InvalidTransition, change_referral_status
from relay.scheduling.booking import NotBookable, SlotTaken, book_slot, cancel_appointment, live_appointment

router = APIRouter(prefix="/console", include_in_schema=False)

Field = Annotated[str, Form()]
# Longer than any name, number or id anyone types; the rest is ignored.
MAX_QUERY = 200
# How far ahead the slot picker may look.
FURTHEST_DAYS = 366

STALE = (
    "This referral changed while you had the page open (someone else booked, moved, cancelled or changed it). "
    "Nothing was changed: check it below and try again."
)
SLOT_TAKEN = "That time was just taken; choose another."


@dataclass(frozen=True)
class Errors:
    """What went wrong, by the form it belongs to (shown next to that form's field)."""

    status: str | None = None
    slot: str | None = None
    cancel: str | None = None
    from_day: str | None = None

    @property
    def any(self) -> bool:
        return any((self.status, self.slot, self.cancel, self.from_day))

    @property
    def refused(self) -> bool:
        """A change was asked for and not made."""
        return any((self.status, self.slot, self.cancel))


@dataclass(frozen=True)
class Notice:
    """What the last change did, in a sentence; some end by pointing to the Outreach plan (a link on the page)."""

    text: str
    see_outreach: bool = False


# --- search ----------------------------------------------------------------------------------------


@router.get("/referrals")
def search(request: Request, staff: StaffDep, db: DbDep, now: NowDep, q: str = "") -> Response:
    return _search_page(request, db, staff, now, q=q[:MAX_QUERY])


def _search_page(request: Request, db: Session, staff: Staff, now: datetime, *, q: str, status_code: int = 200,
                 missing: str | None = None) -> Response:  # fmt: skip
    clinic = get_clinic(db)
    found = search_referrals(db, query=q, region=clinic.region, limit=DEFAULT_LIMIT)
    rows = search_rows(found.referrals, clinic.timezone)
    viewed(db, staff, page="referral_search", patient_ids=[row.patient_id for row in rows], now=now)
    return signed_in(request, staff, "referrals.html", status_code, section="referrals", q=q, rows=rows,
                     more=found.more, limit=DEFAULT_LIMIT, searched=bool(q.strip()), missing=missing)  # fmt: skip


# --- one referral ----------------------------------------------------------------------------------


@router.get("/referrals/{external_id}")
def referral(
    request: Request,
    external_id: str,
    staff: StaffDep,
    db: DbDep,
    now: NowDep,
    from_day: Annotated[str, Query(alias="from")] = "",
    done: str = "",
) -> Response:
    found = find_referral(db, external_id)
    if found is None:
        return _missing(request, db, staff, now, external_id)
    day, error = _read_day(from_day, today=_today(db, now))
    return _referral_page(request, db, staff, now, found, 400 if error else 200, errors=Errors(from_day=error),
                          from_day=day, choosing=bool(from_day), notice=_notice(db, found, done))  # fmt: skip


@router.post("/referrals/{external_id}/status")
def change_status(
    request: Request,
    external_id: str,
    staff: StaffDep,
    db: DbDep,
    now: NowDep,
    status: Field = "",
    expected: Field = "",
    csrf_token: Field = "",
) -> Response:
    require_csrf(request, staff, csrf_token)
    found = find_referral(db, external_id)
    if found is None:
        return _missing(request, db, staff, now, external_id)
    if expected and expected != found.status:
        return _refused(request, db, staff, now, found, 409, Errors(status=STALE))
    if not status:
        return _refused(request, db, staff, now, found, 422, Errors(status="Choose the new status."))
    if status == found.status:
        error = f"The referral is already {referral_status_words(status).lower()}; nothing was changed."
        return _refused(request, db, staff, now, found, 409, Errors(status=error))
    try:
        change_referral_status(db, referral=found, status=status, now=now, actor=staff.actor)
    except InvalidTransition as exc:
        return _refused(request, db, staff, now, found, 409, Errors(status=_transition_words(exc)))
    except StaleDataError:
        return _refused(request, db, staff, now, found, 409, Errors(status=STALE))
    return redirect(referral_url(found.external_id) + "?done=status")


@router.post("/referrals/{external_id}/book")
def book(
    request: Request,
    external_id: str,
    staff: StaffDep,
    db: DbDep,
    now: NowDep,
    slot: Field = "",
    current: Field = "",
    csrf_token: Field = "",
) -> Response:
    """Book the chosen slot, or move the live appointment there: book_slot, exactly as the bot books."""
    require_csrf(request, staff, csrf_token)
    found = find_referral(db, external_id)
    if found is None:
        return _missing(request, db, staff, now, external_id)
    live = live_appointment(db, referral=found)
    if current != appointment_token(live):
        return _refused(request, db, staff, now, found, 409, Errors(slot=STALE))
    if why := why_not_bookable(found):
        return _refused(request, db, staff, now, found, 409, Errors(slot=why))
    start_at = _read_slot(slot)
    if start_at is None:
        return _refused(request, db, staff, now, found, 422, Errors(slot="Choose a time from the list."))
    try:
        book_slot(db, referral=found, start_at=start_at, now=now, actor=staff.actor, by_staff=True)
    except SlotTaken:
        return _refused(request, db, staff, now, found, 409, Errors(slot=SLOT_TAKEN))
    except NotBookable as exc:
        return _refused(request, db, staff, now, found, 409, Errors(slot=f"That time can't be booked: {exc}."))
    except StaleDataError:
        return _refused(request, db, staff, now, found, 409, Errors(slot=STALE))
    return redirect(referral_url(found.external_id) + ("?done=moved" if live is not None else "?done=booked"))


@router.post("/referrals/{external_id}/cancel")
def cancel(
    request: Request,
    external_id: str,
    staff: StaffDep,
    db: DbDep,
    now: NowDep,
    appointment: Field = "",
    confirm: Field = "",
    csrf_token: Field = "",
) -> Response:
    """Cancel the live appointment (cancel_appointment, as the bot does), once staff have ticked the box."""
    require_csrf(request, staff, csrf_token)
    found = find_referral(db, external_id)
    if found is None:
        return _missing(request, db, staff, now, external_id)
    live = live_appointment(db, referral=found)
    if live is None or appointment != appointment_token(live):
        return _refused(request, db, staff, now, found, 409, Errors(cancel=STALE))
    if confirm != "yes":
        error = "Tick the box to confirm the cancellation; nothing was cancelled."
        return _refused(request, db, staff, now, found, 422, Errors(cancel=error))
    try:
        cancel_appointment(db, appointment=live, now=now, actor=staff.actor)
    except NotBookable as exc:
        return _refused(request, db, staff, now, found, 409, Errors(cancel=f"It can't be cancelled: {exc}."))
    except StaleDataError:
        return _refused(request, db, staff, now, found, 409, Errors(cancel=STALE))
    return redirect(referral_url(found.external_id) + "?done=cancelled")


# --- rendering -------------------------------------------------------------------------------------


def _referral_page(request: Request, db: Session, staff: Staff, now: datetime, found: Referral,
                   status_code: int = 200, *, errors: Errors, from_day: date | None = None, choosing: bool = False,
                   notice: Notice | None = None) -> Response:  # fmt: skip
    """`choosing`: staff asked for open times (a date, or another two weeks), so the time chooser is shown open."""
    page = referral_page(db, referral=found, clinic=get_clinic(db), now=now, from_day=from_day)
    ids = page.conversation_ids
    viewed(db, staff, page="referral", patient_ids=[page.patient.id], now=now, referral_id=found.id,
           conversation_id=ids[0] if len(ids) == 1 else None)  # fmt: skip
    return signed_in(request, staff, "referral.html", status_code, section="referrals", page=page, errors=errors,
                     notice=notice, choosing=choosing, url=referral_url(found.external_id))  # fmt: skip


def _refused(request: Request, db: Session, staff: Staff, now: datetime, found: Referral, status_code: int,
             errors: Errors) -> Response:  # fmt: skip
    # Whatever a failed domain call began was rolled back with its savepoint; read the referral afresh.
    db.expire_all()
    return _referral_page(request, db, staff, now, found, status_code, errors=errors)


def _missing(request: Request, db: Session, staff: Staff, now: datetime, external_id: str) -> Response:
    return _search_page(request, db, staff, now, q="", status_code=404, missing=external_id[:MAX_QUERY])


def _notice(db: Session, found: Referral, done: str) -> Notice | None:
    """The line that says what the last change did (after its redirect)."""
    if not done:
        return None
    tz = get_clinic(db).timezone
    live = live_appointment(db, referral=found)
    at = format_when(live.start_at, tz) if live is not None else None
    if done == "status":
        return Notice(f"Status changed: the referral is now {referral_status_words(found.status).lower()}. "
                      "Its texts are re-planned.")  # fmt: skip
    if done == "booked" and at:
        return Notice(f"Booked for {at}. The confirmation and reminders are planned", see_outreach=True)
    if done == "moved" and at:
        return Notice(f"Moved to {at}. The reminders moved with it", see_outreach=True)
    if done == "cancelled":
        return Notice("Appointment cancelled: its slot is free again and its reminders are cancelled.")
    return None


def _transition_words(exc: InvalidTransition) -> str:
    reason = str(exc)
    said = f"That change was not made: {reason[:1].upper()}{reason[1:]}."
    if exc.allowed:
        options = ", ".join(referral_status_words(status).lower() for status in exc.allowed)
        return f"{said} From {referral_status_words(exc.current).lower()} it can become: {options}."
    return f"{said} Its status can't change any more."


def _today(db: Session, now: datetime) -> date:
    return now.astimezone(ZoneInfo(get_clinic(db).timezone)).date()


def _read_day(value: str, *, today: date) -> tuple[date | None, str | None]:
    """The first day to show open times from (`?from=YYYY-MM-DD`), or why it can't be used."""
    if not value:
        return None, None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return None, "Enter a date as YYYY-MM-DD, e.g. 2026-03-17."
    if day > today + timedelta(days=FURTHEST_DAYS):
        return None, "Choose a date within the next year."
    return day, None


def _read_slot(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
