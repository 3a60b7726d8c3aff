"""Inbound SMS from Twilio: validate, normalise, hand to the turn handler, answer in TwiML."""

import asyncio
import logging

from fastapi import APIRouter, HTTPException, Response
from starlette.concurrency import run_in_threadpool
from twilio.twiml.messaging_response import MessagingResponse

from relay.core.phones import InvalidPhoneNumber, to_e164
from relay.core.settings import get_settings
from relay.inbound import late_replies, turns
from webhooks.signature import TwilioFormDep

router = APIRouter(tags=["twilio"])
log = logging.getLogger("relay.webhooks.sms")

REQUIRED_FIELDS = ("MessageSid", "From", "Body")


def _twiml(replies: list[str]) -> Response:
    response = MessagingResponse()
    for text in replies:
        response.message(text)
    return Response(content=str(response), media_type="application/xml")


@router.post(
    "/webhooks/twilio/sms",
    summary="Inbound SMS (Twilio messaging webhook)",
    response_class=Response,
    responses={
        200: {
            "content": {"application/xml": {}},
            "description": (
                "TwiML with the bot's reply; none for a keyword Twilio answers (SMS_KEYWORD_REPLIES), "
                "or when the turn outlived SMS_TURN_DEADLINE_SECONDS (the reply follows through the REST API)"
            ),
        },
        400: {"description": "A required field is missing or malformed"},
        403: {"description": "Missing or invalid X-Twilio-Signature"},
    },
)
async def inbound_sms(form: TwilioFormDep) -> Response:
    missing = [name for name in REQUIRED_FIELDS if name not in form]
    if missing:
        raise HTTPException(status_code=400, detail=f"missing field(s): {', '.join(missing)}")
    sid = form["MessageSid"].strip()
    if not sid or len(sid) > 64:
        raise HTTPException(status_code=400, detail="MessageSid is empty or too long")
    try:
        phone = to_e164(form["From"])
    except InvalidPhoneNumber as exc:
        raise HTTPException(status_code=400, detail=f"From is not a phone number ({exc})") from None
    # The turn blocks on Rasa and the database; keep the event loop free meanwhile.
    # OptOutType comes only from a Messaging Service with Advanced Opt-Out: a keyword Twilio has answered.
    handover = late_replies.Handover()
    turn = asyncio.ensure_future(
        run_in_threadpool(
            turns.handle_inbound,
            sid=sid,
            phone=phone,
            body=form["Body"],
            channel="sms",
            twilio_keyword_type=form.get("OptOutType"),
            handover=handover,
        )
    )
    try:
        # shield: at the deadline the turn goes on (and sends its replies itself); only the wait ends.
        result = await asyncio.wait_for(asyncio.shield(turn), timeout=get_settings().sms_turn_deadline_seconds)
    except TimeoutError:
        if handover.webhook_gives_up():
            log.warning("turn for sid=%s past the deadline: answering empty, the reply follows by REST", sid)
            _still_running.add(turn)
            turn.add_done_callback(_finished_late)
            return _twiml([])
        result = await turn  # ready at the very moment the deadline passed: answer inline
    return _twiml(result.replies)


# Turns that outlived the webhook's deadline, kept referenced until they end (asyncio keeps only weak ones).
_still_running: set[asyncio.Future] = set()


def _finished_late(turn: asyncio.Future) -> None:
    _still_running.discard(turn)
    if not turn.cancelled() and turn.exception() is not None:
        log.error("a turn past the deadline failed", exc_info=turn.exception())
