"""Twilio's message status callbacks: delivery state for what we sent, only moving forward."""

import logging

from fastapi import APIRouter, HTTPException, Response
from starlette.concurrency import run_in_threadpool

from relay.core.db import session_scope
from relay.models import utcnow
from relay.outreach.delivery import record_status
from webhooks.signature import TwilioFormDep

router = APIRouter(tags=["twilio"])
log = logging.getLogger("relay.webhooks.status")

REQUIRED_FIELDS = ("MessageSid", "MessageStatus")


def _apply(sid: str, status: str, error_code: int | None) -> None:
    with session_scope() as session:
        record_status(session, sid=sid, status=status, error_code=error_code, now=utcnow())


@router.post(
    "/webhooks/twilio/status",
    summary="Message status callback (Twilio StatusCallback)",
    status_code=204,
    response_class=Response,
    responses={
        204: {"description": "Recorded, or ignored (unknown SID, stale status): Twilio needs no retry"},
        400: {"description": "A required field is missing or malformed"},
        403: {"description": "Missing or invalid X-Twilio-Signature"},
    },
)
async def message_status(form: TwilioFormDep) -> Response:
    missing = [name for name in REQUIRED_FIELDS if not form.get(name, "").strip()]
    if missing:
        raise HTTPException(status_code=400, detail=f"missing field(s): {', '.join(missing)}")
    sid = form["MessageSid"].strip()
    if len(sid) > 64:
        raise HTTPException(status_code=400, detail="MessageSid is too long")
    raw_code = form.get("ErrorCode", "").strip()
    try:
        error_code = int(raw_code) if raw_code else None
    except ValueError:
        raise HTTPException(status_code=400, detail="ErrorCode is not a number") from None
    await run_in_threadpool(_apply, sid, form["MessageStatus"], error_code)
    return Response(status_code=204)
