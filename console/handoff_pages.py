"""The live handoff queue and the takeover page: read what the bot established, claim, reply, resolve.

What a page fetches by itself (the queue's rows every 3 s, the takeover's
timeline every 5 s, the SMS meter while typing) checks the session without
keeping it alive (console.deps.PollDep's check); when the session is over, an
htmx request is answered with HX-Redirect so the whole page goes to sign-in
instead of a sign-in page being swapped into a table.

Every form posts with the session's CSRF token, then redirects (post, redirect,
get); a refusal shows the takeover page again with the reason and what was typed.
"""

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from console import queue, takeover
from console.deps import DbDep, NowDep, PollDep, Staff, StaffDep, require_csrf
from console.rendering import page, redirect, signed_in
from console.sms_meter import MAX_REPLY_CHARACTERS, measure
from console.viewing import viewed
from relay.messaging import handoffs
from relay.messaging.sms_sender import SmsSendError
from relay.models import Handoff, StaffUser
from relay.records.clinics import get_clinic

router = APIRouter(prefix="/console", include_in_schema=False)

SIGN_IN = "/console/sign-in"
MAX_NOTE_CHARACTERS = 500
REPLY_METER_ID = "reply-meter"
_METER_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")

OPTED_OUT = "This number has opted out (STOP); it must text START before you can reply."
RESOLVED_ALREADY = "This handoff is already resolved: the conversation is back with the bot."
CLAIM_FIRST = "Claim this conversation before you reply, so that no one else answers the patient at the same time."
EMPTY_REPLY = "Write a reply before sending."
EMPTY_NOTE = "Write what was done (the outcome) before resolving."

NOTICES = {
    "claimed": "You have this conversation now. The bot stays silent until it is resolved.",
    "released": "You gave this conversation back to the queue.",
    "replied": "Your text was sent.",
}

Field = Annotated[str, Form()]
# `?timeline=all` on the takeover page (and its live part): the whole timeline, not only the latest entries.
WHOLE = "all"


# --- the live queue ------------------------------------------------------------------------------


@router.get("/queue/rows")
def queue_rows(request: Request, staff: PollDep, db: DbDep, now: NowDep) -> Response:
    """The queue's live part (count, table, when it was updated), fetched by the home page every 3 s."""
    rows = queue.open_queue(db, now=now)
    viewed(db, staff, page="queue", patient_ids=[row.patient_id for row in rows], now=now, dedupe=True)
    updated = takeover.updated_words(now, get_clinic(db).timezone)
    return page(request, "_queue_rows.html", rows=rows, staff=staff.user, updated=updated)


# --- the takeover page ---------------------------------------------------------------------------


def _handoff_or_none(db: Session, handoff_id: int) -> Handoff | None:
    return db.get(Handoff, handoff_id)


def _missing(request: Request, staff: Staff) -> HTMLResponse:
    return signed_in(request, staff, "_handoff_missing.html", 404, section="queue")


def _takeover_page(
    request: Request,
    db: Session,
    staff: Staff,
    now: datetime,
    handoff: Handoff,
    *,
    status_code: int = 200,
    notice: str | None = None,
    error: str | None = None,
    reply_body: str = "",
    note: str = "",
    dedupe: bool = False,
    whole_timeline: bool = False,
) -> HTMLResponse:
    facts = takeover.build(db, handoff, now=now, whole_timeline=whole_timeline)
    viewed(db, staff, page="handoff", patient_ids=[facts.patient_id], now=now, conversation_id=facts.conversation_id,
           referral_id=facts.referral_id, dedupe=dedupe)  # fmt: skip
    state = facts.handoff
    mine = state.open and state.claimed_by_id == staff.user.id
    return signed_in(
        request,
        staff,
        "handoff.html",
        status_code,
        section="queue",
        t=facts,
        state=facts.handoff,
        timeline=facts.timeline,
        mine=mine,
        notice=notice,
        error=error,
        reply_body=reply_body,
        note=note,
        meter=measure(reply_body.strip()),
        meter_id=REPLY_METER_ID,
        max_reply=MAX_REPLY_CHARACTERS,
        max_note=MAX_NOTE_CHARACTERS,
    )


@router.get("/handoffs/{handoff_id}")
def handoff_page(request: Request, handoff_id: int, staff: StaffDep, db: DbDep, now: NowDep,
                 done: str = "", timeline: str = "") -> Response:  # fmt: skip
    """`?timeline=all`: the whole timeline, not only its latest entries."""
    handoff = _handoff_or_none(db, handoff_id)
    if handoff is None:
        return _missing(request, staff)
    return _takeover_page(request, db, staff, now, handoff, notice=NOTICES.get(done),
                          whole_timeline=timeline == WHOLE)  # fmt: skip


@router.get("/handoffs/{handoff_id}/timeline")
def handoff_timeline(request: Request, handoff_id: int, staff: PollDep, db: DbDep, now: NowDep,
                     timeline: str = "") -> Response:  # fmt: skip
    """The takeover page's live part: who has it, and the timeline; fetched every 5 s."""
    handoff = _handoff_or_none(db, handoff_id)
    if handoff is None:
        return Response(status_code=404)
    tz = get_clinic(db).timezone
    state = takeover.handoff_state(db, handoff, tz)
    viewed(db, staff, page="handoff", patient_ids=[takeover.patient_id_of(db, handoff)], now=now,
           conversation_id=handoff.conversation_id, referral_id=handoff.referral_id, dedupe=True)  # fmt: skip
    return page(
        request,
        "_handoff_timeline.html",
        state=state,
        timeline=takeover.timeline(db, handoff, now=now, tz=tz, whole=timeline == WHOLE),
        staff=staff.user,
    )


# --- claim, release, reply, resolve --------------------------------------------------------------


def _claimer_name(db: Session, staff_id: int | None) -> str:
    user = db.get(StaffUser, staff_id) if staff_id is not None else None
    return user.name if user is not None else "Another staff member"


def _taken(db: Session, by_id: int | None) -> str:
    return f"{_claimer_name(db, by_id)} has this conversation: only they can reply or resolve it until they release it."


@router.post("/handoffs/{handoff_id}/claim")
def claim(request: Request, handoff_id: int, staff: StaffDep, db: DbDep, now: NowDep,
          csrf_token: Field = "") -> Response:  # fmt: skip
    require_csrf(request, staff, csrf_token)
    handoff = _handoff_or_none(db, handoff_id)
    if handoff is None:
        return _missing(request, staff)
    try:
        handoffs.claim(db, handoff=handoff, staff_id=staff.user.id, actor=staff.actor, now=now)
    except handoffs.HandoffResolved:
        return _takeover_page(request, db, staff, now, handoff, status_code=409, error=RESOLVED_ALREADY, dedupe=True)
    except handoffs.ClaimedByOther as exc:
        error = f"{_claimer_name(db, exc.by_id)} has already claimed this conversation. Ask them, or wait until " \
                "they release it."  # fmt: skip
        return _takeover_page(request, db, staff, now, handoff, status_code=409, error=error, dedupe=True)
    return redirect(f"/console/handoffs/{handoff.id}?done=claimed")


@router.post("/handoffs/{handoff_id}/release")
def release(request: Request, handoff_id: int, staff: StaffDep, db: DbDep, now: NowDep,
            csrf_token: Field = "") -> Response:  # fmt: skip
    require_csrf(request, staff, csrf_token)
    handoff = _handoff_or_none(db, handoff_id)
    if handoff is None:
        return _missing(request, staff)
    try:
        handoffs.release(db, handoff=handoff, staff_id=staff.user.id, actor=staff.actor, now=now)
    except handoffs.HandoffResolved:
        return _takeover_page(request, db, staff, now, handoff, status_code=409, error=RESOLVED_ALREADY, dedupe=True)
    except handoffs.ClaimedByOther as exc:
        error = CLAIM_FIRST if exc.by_id is None else _taken(db, exc.by_id)
        return _takeover_page(request, db, staff, now, handoff, status_code=409, error=error, dedupe=True)
    return redirect(f"/console/handoffs/{handoff.id}?done=released")


def _typed(text: str) -> str:
    """What was typed in a textarea, as it is sent: browsers post line breaks as CRLF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


@router.post("/handoffs/{handoff_id}/reply")
def reply(request: Request, handoff_id: int, staff: StaffDep, db: DbDep, now: NowDep, body: Field = "",
          csrf_token: Field = "") -> Response:  # fmt: skip
    require_csrf(request, staff, csrf_token)
    handoff = _handoff_or_none(db, handoff_id)
    if handoff is None:
        return _missing(request, staff)
    typed = _typed(body)
    text = typed.strip()

    def refused(status_code: int, error: str) -> HTMLResponse:
        return _takeover_page(request, db, staff, now, handoff, status_code=status_code, error=error,
                              reply_body=typed, dedupe=True)  # fmt: skip

    if not text:
        return refused(400, EMPTY_REPLY)
    if len(text) > MAX_REPLY_CHARACTERS:
        return refused(400, f"A text can be at most {MAX_REPLY_CHARACTERS} characters; this one has {len(text)}.")
    try:
        handoffs.reply(db, handoff=handoff, body=text, actor=staff.actor, now=now, staff_id=staff.user.id)
    except handoffs.HandoffResolved:
        return refused(409, RESOLVED_ALREADY)
    except handoffs.ClaimedByOther as exc:
        return refused(409, CLAIM_FIRST if exc.by_id is None else _taken(db, exc.by_id))
    except handoffs.RecipientOptedOut:
        return refused(409, OPTED_OUT)
    except SmsSendError as exc:
        error = f"The text could not be sent: {exc}. Nothing was stored."
        if exc.maybe_sent:
            error += " It may still have reached the patient: check with them before sending it again."
        else:
            error += " You can try again."
        return refused(502, error)
    return redirect(f"/console/handoffs/{handoff.id}?done=replied")


@router.post("/handoffs/{handoff_id}/resolve")
def resolve(request: Request, handoff_id: int, staff: StaffDep, db: DbDep, now: NowDep, note: Field = "",
            csrf_token: Field = "") -> Response:  # fmt: skip
    require_csrf(request, staff, csrf_token)
    handoff = _handoff_or_none(db, handoff_id)
    if handoff is None:
        return _missing(request, staff)
    typed = _typed(note)
    outcome = typed.strip()

    def refused(status_code: int, error: str) -> HTMLResponse:
        return _takeover_page(request, db, staff, now, handoff, status_code=status_code, error=error, note=typed,
                              dedupe=True)  # fmt: skip

    if not outcome:
        return refused(400, EMPTY_NOTE)
    if len(outcome) > MAX_NOTE_CHARACTERS:
        return refused(400, f"The outcome can be at most {MAX_NOTE_CHARACTERS} characters; it has {len(outcome)}.")
    try:
        handoffs.resolve(db, handoff=handoff, actor=staff.actor, now=now, staff_id=staff.user.id, note=outcome)
    except handoffs.HandoffResolved:
        return refused(409, RESOLVED_ALREADY)
    except handoffs.ClaimedByOther as exc:
        return refused(409, _taken(db, exc.by_id))
    return redirect("/console/?done=resolved")


# --- the SMS meter while typing ------------------------------------------------------------------


@router.post("/preview/sms")
def preview_sms(request: Request, staff: PollDep, body: Field = "", meter_id: Field = REPLY_METER_ID,
                csrf_token: Field = "") -> Response:  # fmt: skip
    """The SMS meter for what is being typed (length, segments, characters outside GSM-7)."""
    require_csrf(request, staff, csrf_token)
    context: dict[str, Any] = {
        "meter": measure(_typed(body).strip()),
        "meter_id": meter_id if _METER_ID.fullmatch(meter_id) else REPLY_METER_ID,
    }
    return page(request, "_sms_meter.html", **context)
