"""The staff's handoff queue: list, reply by SMS from the clinic number, resolve."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.orm import Session

from api.deps import SessionDep, require_api_token
from relay.messaging import handoffs
from relay.messaging.sms_sender import SmsSendError
from relay.models import Handoff, HandoffPriority, HandoffStatus

router = APIRouter(prefix="/api", tags=["handoffs"], dependencies=[Depends(require_api_token)])

# The API token is shared, not per person; staff accounts come with the console.
API_ACTOR = "api"


class HandoffOut(BaseModel):
    id: int
    status: HandoffStatus
    priority: HandoffPriority
    reason: str
    opened_at: datetime
    resolved_at: datetime | None
    conversation_id: str = Field(description="The conversation's public id")
    patient_mrn: str | None = Field(description="Null when the number is not a known patient's")
    last_message_at: datetime | None = Field(description="The conversation's latest message, either direction")


class ReplyIn(BaseModel):
    body: str = Field(
        min_length=1, max_length=1600, description="The text to send: 1 to 1600 characters, not blank (else 422)"
    )

    @field_validator("body")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("body is blank")
        return value


class ReplyOut(BaseModel):
    message_id: int
    handoff_id: int
    conversation_id: str
    twilio_sid: str | None
    delivery_status: str | None
    created_at: datetime


class Problem(BaseModel):
    detail: str


def handoff_out(handoff: Handoff) -> HandoffOut:
    conversation = handoff.conversation
    return HandoffOut(
        id=handoff.id,
        status=handoff.status,
        priority=handoff.priority,
        reason=handoff.reason,
        opened_at=handoff.opened_at,
        resolved_at=handoff.resolved_at,
        conversation_id=conversation.public_id,
        patient_mrn=conversation.patient.mrn if conversation.patient else None,
        last_message_at=conversation.last_message_at,
    )


def _get(session: Session, handoff_id: int) -> Handoff:
    handoff = session.get(Handoff, handoff_id)
    if handoff is None:
        raise HTTPException(status_code=404, detail=f"no handoff with id {handoff_id}")
    return handoff


_UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Missing or wrong bearer token"}
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "No such handoff"}}
HandoffId = Annotated[int, Path(description="The handoff's id")]


@router.get(
    "/handoffs",
    response_model=list[HandoffOut],
    summary="The handoff queue, urgent first, then oldest first",
    responses={400: {"model": Problem, "description": "status is not open or resolved"}, **_UNAUTHORIZED},
)
def list_handoffs(
    session: SessionDep,
    status: Annotated[
        str | None,
        Query(description="All when absent", json_schema_extra={"enum": [status.value for status in HandoffStatus]}),
    ] = None,
) -> list[HandoffOut]:
    if status is not None and status not in set(HandoffStatus):
        raise HTTPException(status_code=400, detail=f"status must be one of {', '.join(HandoffStatus)}")
    return [handoff_out(h) for h in handoffs.queue(session, status=HandoffStatus(status) if status else None)]


@router.post(
    "/handoffs/{handoff_id}/reply",
    status_code=201,
    response_model=ReplyOut,
    summary="Text the patient from the clinic number",
    responses={
        **_UNAUTHORIZED,
        **_NOT_FOUND,
        409: {"model": Problem, "description": "The handoff is resolved, or the number has opted out (STOP)"},
        502: {"model": Problem, "description": "Twilio refused the message or could not be reached"},
    },
)
def reply_to_handoff(session: SessionDep, handoff_id: HandoffId, payload: ReplyIn) -> ReplyOut:
    handoff = _get(session, handoff_id)
    try:
        message = handoffs.reply(session, handoff=handoff, body=payload.body, actor=API_ACTOR)
    except (handoffs.HandoffResolved, handoffs.RecipientOptedOut) as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    except SmsSendError as exc:
        raise HTTPException(status_code=502, detail=str(exc)) from None
    return ReplyOut(
        message_id=message.id,
        handoff_id=handoff.id,
        conversation_id=handoff.conversation.public_id,
        twilio_sid=message.twilio_sid,
        delivery_status=message.delivery_status,
        created_at=message.created_at,
    )


@router.post(
    "/handoffs/{handoff_id}/resolve",
    response_model=HandoffOut,
    summary="Close the handoff and give the conversation back to the bot",
    responses={**_UNAUTHORIZED, **_NOT_FOUND, 409: {"model": Problem, "description": "Already resolved"}},
)
def resolve_handoff(session: SessionDep, handoff_id: HandoffId) -> HandoffOut:
    handoff = _get(session, handoff_id)
    try:
        handoffs.resolve(session, handoff=handoff, actor=API_ACTOR)
    except handoffs.HandoffResolved as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return handoff_out(handoff)
