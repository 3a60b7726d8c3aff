"""Phone calls from Twilio: validate, hand to the voice turn handler, answer in TwiML.

Set on the clinic's number in the Twilio Console:
- "A call comes in": POST {PUBLIC_BASE_URL}/webhooks/twilio/voice
- "Call status changes": POST {PUBLIC_BASE_URL}/webhooks/twilio/voice/status
The turn and dial URLs are written into the TwiML itself. Every turn's URL
carries its number (`?turn=N`), which Twilio signs with the rest of the URL,
so that each CallSid + turn is answered once and a retry replays the answer.

No `<Record>`, ever: calls are logged by their timing and outcome, not kept.
"""

import logging
import re
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool
from twilio.twiml.voice_response import Gather, VoiceResponse

from relay.core.db import session_scope
from relay.core.phones import InvalidPhoneNumber, mask, to_e164
from relay.core.settings import get_settings
from relay.inbound import voice_turns
from relay.inbound.voice_turns import Heard, VoiceStep
from relay.inbound.voice_words import TWILIO_LANGUAGE, words_for
from relay.language.spoken import speakable
from relay.records import calls
from webhooks.signature import TwilioFormDep

router = APIRouter(tags=["twilio"])
log = logging.getLogger("relay.webhooks.voice")

VOICE_PATH = "/webhooks/twilio/voice"
TURN_PATH = VOICE_PATH + "/turn"
DIAL_PATH = VOICE_PATH + "/dial"
STATUS_PATH = VOICE_PATH + "/status"

_CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
MAX_TURNS = 100  # a call longer than this is a loop, not a conversation

_TWIML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/xml": {}}, "description": "TwiML for the call"}
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A required field is missing or malformed"},
    403: {"description": "Missing or invalid X-Twilio-Signature"},
}


def _url(path: str) -> str:
    return get_settings().base_url + path


def render(step: VoiceStep, *, turn: int) -> Response:
    """The step as TwiML: what to say inside the next `<Gather>`, or before `<Dial>` / `<Hangup>`.

    Every `<Say>` names its language (a Spanish call's in es-US, the greeting's offer of the other
    language in that language), and the `<Gather>` listens in the call's, with its words as hints.
    """
    response = VoiceResponse()
    if step.then == "gather":
        gather = response.gather(
            input="speech dtmf",
            action=_url(f"{TURN_PATH}?turn={turn + 1}"),
            method="POST",
            speech_timeout="auto",
            action_on_empty_result=True,
            hints=words_for(step.language).hints,
            language=TWILIO_LANGUAGE[step.language],
        )
        _say(gather, step)
    else:
        _say(response, step)
        if step.then == "dial":
            dial = response.dial(
                action=_url(DIAL_PATH), method="POST", timeout=get_settings().voice_dial_timeout_seconds
            )
            dial.number(step.dial)
        else:
            response.hangup()
    return Response(content=str(response), media_type="application/xml")


def _say(verb: VoiceResponse | Gather, step: VoiceStep) -> None:
    for text, language in step.spoken:
        verb.say(speakable(text, language), language=TWILIO_LANGUAGE[language])


def _call_sid(form: dict[str, str]) -> str:
    if "CallSid" not in form:
        raise HTTPException(status_code=400, detail="missing field(s): CallSid")
    sid = form["CallSid"].strip()
    if not _CALL_SID.match(sid):
        raise HTTPException(status_code=400, detail="CallSid is not a Twilio call SID")
    return sid


def _caller(form: dict[str, str], *, required: bool) -> str | None:
    """The caller's number in E.164; None when it is withheld ("anonymous", "restricted", ...)."""
    if "From" not in form:
        if required:
            raise HTTPException(status_code=400, detail="missing field(s): From")
        return None
    try:
        return to_e164(form["From"])
    except InvalidPhoneNumber:
        # Twilio passes a withheld caller ID as a word or a placeholder number: such a
        # caller still reaches a person, without a conversation to look records up in.
        return None


@router.post(
    VOICE_PATH,
    summary="Incoming call (Twilio voice webhook)",
    response_class=Response,
    responses=_TWIML | _ERRORS,
)
async def incoming_call(form: TwilioFormDep) -> Response:
    sid = _call_sid(form)
    phone = _caller(form, required=True)
    step = await run_in_threadpool(voice_turns.start_call, call_sid=sid, phone=phone)
    return render(step, turn=0)


@router.post(
    TURN_PATH,
    summary="What the caller said or pressed (Twilio <Gather> action)",
    response_class=Response,
    responses=_TWIML | _ERRORS,
)
async def call_turn(request: Request, form: TwilioFormDep) -> Response:
    sid = _call_sid(form)
    raw_turn = request.query_params.get("turn", "")
    if not raw_turn.isdigit() or not 1 <= int(raw_turn) <= MAX_TURNS:
        raise HTTPException(status_code=400, detail=f"turn must be a number from 1 to {MAX_TURNS}")
    confidence = None
    if form.get("Confidence", "").strip():
        try:
            confidence = float(form["Confidence"])
        except ValueError:
            raise HTTPException(status_code=400, detail="Confidence is not a number") from None
        if not 0.0 <= confidence <= 1.0:
            raise HTTPException(status_code=400, detail="Confidence must be between 0 and 1")
    heard = Heard.from_gather(
        speech=form.get("SpeechResult", ""),
        confidence=confidence,
        digits=form.get("Digits", ""),
        min_confidence=get_settings().voice_min_confidence,
    )
    turn = int(raw_turn)
    # The turn blocks on Rasa and the database; keep the event loop free meanwhile.
    step = await run_in_threadpool(
        voice_turns.handle_turn, call_sid=sid, turn=turn, phone=_caller(form, required=False), heard=heard
    )
    return render(step, turn=turn)


@router.post(
    DIAL_PATH,
    summary="The transfer to the front desk ended (Twilio <Dial> action)",
    response_class=Response,
    responses=_TWIML | _ERRORS,
)
async def dial_finished(form: TwilioFormDep) -> Response:
    sid = _call_sid(form)
    if not form.get("DialCallStatus", "").strip():
        raise HTTPException(status_code=400, detail="missing field(s): DialCallStatus")
    step = await run_in_threadpool(voice_turns.dial_finished, call_sid=sid, dial_status=form["DialCallStatus"].strip())
    return render(step, turn=0)


@router.post(
    STATUS_PATH,
    summary="The call's status changed (Twilio status callback)",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "Recorded"}, **_ERRORS},
)
async def call_status(form: TwilioFormDep) -> Response:
    sid = _call_sid(form)
    status = form.get("CallStatus", "").strip()
    if not status:
        raise HTTPException(status_code=400, detail="missing field(s): CallStatus")
    duration = form.get("CallDuration", "").strip()
    if duration and not duration.isdigit():
        raise HTTPException(status_code=400, detail="CallDuration is not a number of seconds")

    def record() -> None:
        with session_scope() as session:
            calls.record_status(
                session, call_sid=sid, status=status, duration_seconds=int(duration) if duration else None
            )

    await run_in_threadpool(record)
    log.debug("status %s for call %s from %s", status, sid, mask(form.get("From")))
    return Response(status_code=204)
