"""The phone simulator: text and call the clinic as a demo patient (or any number) from the console.

Everything goes through the real webhooks (console.simulator signs and posts
what Twilio would), so the bot, the keywords, handoffs and the records all
behave as with a real phone. What the clinic sends separately (staff replies,
reminders, acknowledgements) is read back from the conversation's messages:
the thread is always rendered from the database and refreshes itself.

Not in production: every route here answers 404 there, before anything else.
"""

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import phonenumbers
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from console import simulator
from console.deps import DbDep, NowDep, PollDep, Staff, StaffDep, require_csrf
from console.display import clinic_when, masked_phone
from console.rendering import page, redirect, signed_in
from console.simulator import CallAnswer, CallStep, NotOurWebhook
from console.viewing import viewed
from relay.core.phones import InvalidPhoneNumber, pretty, to_e164
from relay.core.settings import get_settings
from relay.messaging.sms_sender import uses_dev_outbox
from relay.models import Conversation, Message, Patient
from relay.records.clinics import get_clinic


def simulator_available() -> None:
    """The simulator is a development tool: in production it does not exist."""
    if get_settings().is_production:
        raise HTTPException(status_code=404)


router = APIRouter(prefix="/console", include_in_schema=False, dependencies=[Depends(simulator_available)])


PAGE = "simulator"
PICKER_LIMIT = 500
THREAD_LIMIT = 200
Field = Annotated[str, Form()]

AUTHORS = {"patient": "You", "bot": "Bot", "staff": "Staff", "system": "System"}
# Outbound messages without a delivery status are the webhook's own TwiML answer: Twilio sends those.
STATUS_WORDS = {None: "TwiML reply", "dev_outbox": "dev outbox", "not_sent": "not sent"}


# --- who the phone is --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PickerOption:
    id: int
    name: str
    masked: str


@dataclass(frozen=True)
class Phone:
    """The phone the simulator is: its number, and the demo patient it belongs to, if any."""

    number: str  # E.164
    patient_id: int | None
    who: str

    @property
    def masked(self) -> str:
        return masked_number(self.number)


def masked_number(phone: str) -> str:
    """The last four digits only, in the shape of the number, as on every console page: (***) ***-0145."""
    return masked_phone(phone)


def _picker(db: Session) -> list[PickerOption]:
    patients = db.scalars(select(Patient).where(Patient.phone.is_not(None)).order_by(Patient.name, Patient.id)
                          .limit(PICKER_LIMIT))  # fmt: skip
    return [PickerOption(p.id, p.name, masked_number(p.phone)) for p in patients if p.phone]


def _phone_of(db: Session, number: str) -> Phone:
    patient = db.scalars(select(Patient).filter_by(phone=number)).one_or_none()
    if patient is None:
        return Phone(number, None, "Unknown number " + masked_number(number))
    return Phone(number, patient.id, patient.name)


def _typed(db: Session, raw: str) -> str:
    """A number as staff typed it, in E.164, read in the clinic's region; InvalidPhoneNumber if it is none."""
    return to_e164(raw.strip(), get_clinic(db).region)


# --- the thread ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bubble:
    id: int
    body: str
    mine: bool  # the patient's own text
    author: str
    status: str
    at: datetime
    time: str


@dataclass(frozen=True)
class Thread:
    phone: str
    bubbles: list[Bubble]
    state: str  # a fingerprint of what is shown: the poll answers 204 while it is the same
    last_id: int

    @property
    def url(self) -> str:
        return "/console/simulator/thread?" + urlencode({"phone": self.phone, "after": self.last_id,
                                                         "state": self.state})  # fmt: skip


def _thread(db: Session, phone: str) -> Thread:
    conversation = db.scalars(select(Conversation).filter_by(phone=phone)).one_or_none()
    messages: list[Message] = []
    if conversation is not None:
        newest = db.scalars(
            select(Message)
            .where(Message.conversation_id == conversation.id, Message.channel == "sms")
            .order_by(Message.id.desc())
            .limit(THREAD_LIMIT)
        )
        messages = list(newest)[::-1]
    tz = get_clinic(db).timezone
    bubbles = [_bubble(message, tz) for message in messages]
    fingerprint = hashlib.sha256(";".join(f"{b.id}:{b.status}" for b in bubbles).encode()).hexdigest()[:16]
    return Thread(phone, bubbles, fingerprint, bubbles[-1].id if bubbles else 0)


def _bubble(message: Message, tz: str) -> Bubble:
    mine = message.direction == "inbound"
    if mine:
        status = "received"
    else:
        status = STATUS_WORDS.get(message.delivery_status) or str(message.delivery_status).replace("_", " ")
    at = message.created_at if message.created_at.tzinfo else message.created_at.replace(tzinfo=UTC)
    return Bubble(
        id=message.id,
        body=message.body,
        mine=mine,
        author=AUTHORS.get(message.author, message.author),
        status=status,
        at=at,
        time=clinic_when(at, tz),
    )


# --- pages ---------------------------------------------------------------------------------------------


def _audit(db: Session, staff: Staff, phone: Phone | None, now: datetime, *, dedupe: bool = True,
           also: list[int] | None = None) -> None:  # fmt: skip
    """The patient whose phone this is; `also` the patients named in the picker (recorded once per session)."""
    if phone is not None and phone.patient_id is not None:
        viewed(db, staff, page=PAGE, patient_ids=[phone.patient_id], now=now, dedupe=dedupe)
    if also:
        viewed(db, staff, page=PAGE, patient_ids=also, now=now, dedupe=True)


def _is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _page(request: Request, staff: Staff, db: Session, now: datetime, *, patient: int | None = None,
          number: str = "", status_code: int = 200, **extra: Any) -> HTMLResponse:  # fmt: skip
    options = _picker(db)
    error = None
    phone: Phone | None = None
    if number.strip():
        try:
            phone = _phone_of(db, _typed(db, number))
        except InvalidPhoneNumber:
            error = (
                f"“{number.strip()[:40]}” is not a phone number we can text. Type a full number with its "
                "area code, for example (312) 555-0199, or +44 20 7946 0000 with the country code."
            )
            status_code = 400
    else:
        chosen = next((o for o in options if o.id == patient), options[0] if options else None)
        if chosen is not None:
            record = db.get_one(Patient, chosen.id)
            phone = Phone(record.phone or "", record.id, record.name)
    _audit(db, staff, phone, now, dedupe=False,
           also=[o.id for o in options if phone is None or o.id != phone.patient_id])  # fmt: skip
    context: dict[str, Any] = {
        "options": options,
        "selected": phone.patient_id if phone is not None else patient,
        "number": number.strip(),
        "error": error,
        "phone": phone,
        "thread": _thread(db, phone.number) if phone is not None else None,
        "outbox": simulator_outbox_note(),
        "call_lines": [],
        "call": CallView.idle(),
        "texted": None,
        "text_error": None,
        "body": "",
        "focus": False,
    }
    context.update(extra)
    return signed_in(request, staff, "simulator.html", status_code, section=PAGE, **context)


def simulator_outbox_note() -> str:
    if uses_dev_outbox():
        return "Texts the clinic sends on its own (staff replies, reminders) go to the dev outbox, var/outbox.jsonl."
    return "Texts the clinic sends on its own go to the Twilio API this app is configured with."


@router.get("/simulator")
def simulator_page(request: Request, staff: StaffDep, db: DbDep, now: NowDep, patient: int | None = None,
                   number: str = "") -> Response:  # fmt: skip
    return _page(request, staff, db, now, patient=patient, number=number)


@router.get("/simulator/thread")
def thread_fragment(request: Request, staff: PollDep, db: DbDep, now: NowDep, phone: str = "",
                    after: int | None = None, state: str = "") -> Response:  # fmt: skip
    try:
        number = to_e164(phone)
    except InvalidPhoneNumber:
        raise HTTPException(status_code=400, detail="phone is not a phone number") from None
    thread = _thread(db, number)
    if state and state == thread.state:
        return Response(status_code=204)  # nothing new: htmx leaves the thread as it is
    _audit(db, staff, _phone_of(db, number), now)
    # What the clinic sent since the last look is read out (aria-live); the patient's own texts are not.
    fresh = [b for b in thread.bubbles if b.id > after and not b.mine] if after is not None else []
    return page(request, "_simulator_thread.html", thread=thread, announce=fresh, oob=True)


# --- texting ---------------------------------------------------------------------------------------------


def _prepare(db: Session, staff: Staff, now: datetime, raw_phone: str, *, voice: bool = False) -> tuple[Phone, str]:
    """The phone and the clinic number it calls or texts; commits, so the webhook finds no lock of ours.

    (SQLite allows one writer: the session's keep-alive is a write, and the webhook writes too.)
    """
    try:
        number = to_e164(raw_phone)
    except InvalidPhoneNumber:
        raise HTTPException(status_code=400, detail="phone is not a phone number") from None
    phone = _phone_of(db, number)
    clinic = get_clinic(db)
    _audit(db, staff, phone, now)
    db.commit()
    return phone, clinic.voice_number if voice else clinic.sms_number


@router.post("/simulator/sms")
async def send_text(request: Request, staff: StaffDep, db: DbDep, now: NowDep, phone: Field = "", body: Field = "",
                    csrf_token: Field = "") -> Response:  # fmt: skip
    require_csrf(request, staff, csrf_token)
    me, clinic_number = await run_in_threadpool(_prepare, db, staff, now, phone)
    htmx = _is_htmx(request)
    problem = None
    if not body.strip():
        problem = "Type a message first."
    elif len(body) > simulator.MAX_SMS_CHARACTERS:
        problem = f"A text can be at most {simulator.MAX_SMS_CHARACTERS} characters; this one is {len(body)}."
    if problem is not None:
        if htmx:  # htmx swaps only 2xx answers: the form shows what is wrong
            return _compose(request, staff, me, body=body, error=problem)
        return await run_in_threadpool(_page_for, request, staff, db, now, me, text_error=problem, body=body,
                                       status_code=400)  # fmt: skip
    texted = await simulator.send_text(request.app, from_phone=me.number, to_phone=clinic_number, body=body)
    if not htmx:
        return redirect(_page_url(me))
    response = _compose(request, staff, me, body="" if texted.error is None else body, texted=texted,
                        error=texted.error)  # fmt: skip
    response.headers["HX-Trigger"] = "simulator-sent"  # the thread reads the database again at once
    return response


def _compose(request: Request, staff: Staff, me: Phone, *, body: str, error: str | None = None,
             texted: simulator.Texted | None = None) -> HTMLResponse:  # fmt: skip
    return page(request, "_simulator_compose.html", phone=me, body=body, text_error=error, texted=texted,
                csrf_token=staff.session.csrf_token, focus=True)  # fmt: skip


def _page_url(me: Phone) -> str:
    if me.patient_id is not None:
        return "/console/simulator?" + urlencode({"patient": me.patient_id})
    return "/console/simulator?" + urlencode({"number": me.number})


def _page_for(request: Request, staff: Staff, db: Session, now: datetime, me: Phone, **extra: Any) -> HTMLResponse:
    if me.patient_id is not None:
        return _page(request, staff, db, now, patient=me.patient_id, **extra)
    return _page(request, staff, db, now, number=me.number, **extra)


# --- calling ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallLine:
    who: str  # clinic | caller | note
    text: str


@dataclass(frozen=True)
class CallView:
    """The call's controls: idle (a button to call), listening (say or press), transferring, ended."""

    state: str
    call_sid: str = ""
    next_url: str = ""
    started: int = 0
    listens_for: tuple[str, ...] = ()
    dialled: str = ""

    @classmethod
    def idle(cls) -> "CallView":
        return cls("idle")


def _call_view(answer: CallAnswer, *, call_sid: str, started: int) -> tuple[CallView, list[CallLine]]:
    lines = [CallLine("clinic", text) for text in answer.says]
    step: CallStep | None = answer.step
    if answer.error is not None or step is None:
        lines.append(CallLine("note", (answer.error or "No answer.") + " The call is over."))
        return CallView("ended"), lines
    if step.listen_url is not None:
        return CallView("listening", call_sid, step.listen_url, started, step.listens_for), lines
    if step.dialled is not None:
        lines.append(CallLine("note", f"Transferring to the front desk, {_shown(step.dialled)}..."))
        if step.dial_url is None:
            lines.append(CallLine("note", "Call ended."))
            return CallView("ended"), lines
        return CallView("transferring", call_sid, step.dial_url, started, dialled=_shown(step.dialled)), lines
    lines.append(CallLine("note", "The clinic hung up. Call ended." if step.hangs_up else "Call ended."))
    return CallView("ended"), lines


def _shown(number: str) -> str:
    try:
        return pretty(number)
    except phonenumbers.NumberParseException:
        return number


async def _finish(request: Request, staff: Staff, db: Session, now: datetime, me: Phone, clinic_number: str,
                  view: CallView, lines: list[CallLine], *, call_sid: str, started: int) -> Response:  # fmt: skip
    if view.state == "ended" and call_sid:
        # Twilio reports the end of every call to the status callback; so does the simulator.
        duration = max(int(time.time()) - started, 0) if started else 0
        await simulator.end_call(request.app, call_sid=call_sid, from_phone=me.number, to_phone=clinic_number,
                                 duration=duration)  # fmt: skip
    if _is_htmx(request):
        return page(request, "_simulator_call_lines.html", phone=me, call_lines=lines, call=view,
                    csrf_token=staff.session.csrf_token, focus=True)  # fmt: skip
    return await run_in_threadpool(_page_for, request, staff, db, now, me, call_lines=lines, call=view)


@router.post("/simulator/call")
async def start_call(request: Request, staff: StaffDep, db: DbDep, now: NowDep, phone: Field = "",
                     csrf_token: Field = "") -> Response:  # fmt: skip
    require_csrf(request, staff, csrf_token)
    me, clinic_number = await run_in_threadpool(_prepare, db, staff, now, phone, voice=True)
    call_sid, started = simulator.new_call_sid(), int(time.time())
    params = simulator.call_params(call_sid=call_sid, from_phone=me.number, to_phone=clinic_number, status="ringing")
    answer = await simulator.call_webhook(request.app, url=simulator.public_url(simulator.VOICE_PATH), params=params)
    view, lines = _call_view(answer, call_sid=call_sid, started=started)
    lines.insert(0, CallLine("note", f"Calling the clinic at {_shown(clinic_number)} from {me.masked}..."))
    return await _finish(request, staff, db, now, me, clinic_number, view, lines, call_sid=call_sid, started=started)


def _call_sid(raw: str) -> str:
    if not simulator.CALL_SID.match(raw):
        raise HTTPException(status_code=400, detail="call_sid is not a call SID")
    return raw


def _started(raw: str) -> int:
    return int(raw) if raw.isdigit() else 0


@router.post("/simulator/call/turn")
async def call_turn(
    request: Request,
    staff: StaffDep,
    db: DbDep,
    now: NowDep,
    phone: Field = "",
    call_sid: Field = "",
    next_url: Field = "",
    started: Field = "",
    speech: Field = "",
    digits: Field = "",
    silent: Field = "",
    dial_status: Field = "",
    csrf_token: Field = "",
) -> Response:
    """The caller's next move: words (speech), keys (digits) or silence for a <Gather>; how a <Dial> ended."""
    require_csrf(request, staff, csrf_token)
    sid = _call_sid(call_sid)
    try:
        if not next_url.strip():
            raise NotOurWebhook("no next URL")
        url = simulator.webhook_url(next_url, current=simulator.public_url(simulator.VOICE_PATH),
                                    allowed=simulator.CALL_PATHS)  # fmt: skip
    except NotOurWebhook:
        raise HTTPException(status_code=400, detail="next_url is not one of the app's voice webhooks") from None
    me, clinic_number = await run_in_threadpool(_prepare, db, staff, now, phone, voice=True)
    extra: dict[str, str] = {}
    lines: list[CallLine] = []
    if dial_status:
        if dial_status not in simulator.DIAL_STATUSES:
            raise HTTPException(status_code=400, detail="dial_status is not one Twilio sends")
        extra = {"DialCallStatus": dial_status, "DialCallSid": simulator.new_call_sid()}
        words = "answered, and the call with them ended" if dial_status == "completed" else dial_status
        lines.append(CallLine("note", f"The front desk: {words.replace('-', ' ')}."))
    elif speech.strip() and not silent:
        extra = {"SpeechResult": speech.strip(), "Confidence": simulator.TYPED_SPEECH_CONFIDENCE}
        lines.append(CallLine("caller", speech.strip()))
    elif digits.strip() and not silent:
        keys = digits.strip()
        if not all(key in "0123456789*#" for key in keys):
            return await _finish(request, staff, db, now, me, clinic_number,
                                 CallView("listening", sid, url, _started(started)),
                                 [CallLine("note", "Keys are 0 to 9, * and #. Nothing was sent.")],
                                 call_sid="", started=0)  # fmt: skip
        extra = {"Digits": keys}
        lines.append(CallLine("caller", f"(presses {keys})"))
    else:
        lines.append(CallLine("caller", "(says nothing)"))
    params = simulator.call_params(call_sid=sid, from_phone=me.number, to_phone=clinic_number, **extra)
    answer = await simulator.call_webhook(request.app, url=url, params=params)
    view, more = _call_view(answer, call_sid=sid, started=_started(started))
    return await _finish(request, staff, db, now, me, clinic_number, view, lines + more, call_sid=sid,
                         started=_started(started))  # fmt: skip


@router.post("/simulator/call/hangup")
async def hang_up(request: Request, staff: StaffDep, db: DbDep, now: NowDep, phone: Field = "", call_sid: Field = "",
                  started: Field = "", csrf_token: Field = "") -> Response:  # fmt: skip
    require_csrf(request, staff, csrf_token)
    sid = _call_sid(call_sid)
    me, clinic_number = await run_in_threadpool(_prepare, db, staff, now, phone, voice=True)
    lines = [CallLine("note", "You hung up. Call ended.")]
    return await _finish(request, staff, db, now, me, clinic_number, CallView("ended"), lines, call_sid=sid,
                         started=_started(started))  # fmt: skip
