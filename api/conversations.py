"""Conversations for staff.

GET /api/conversations?phone=...: everything said with one number, oldest first.
POST /api/conversations/{id}/unlock: lift the lock after three wrong dates of birth.
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import SessionDep, require_api_token
from relay.core.phones import InvalidPhoneNumber, to_e164
from relay.identity import verification
from relay.models import Conversation
from relay.records import conversations
from relay.records.clinics import get_clinic

router = APIRouter(prefix="/api", tags=["conversations"], dependencies=[Depends(require_api_token)])
API_ACTOR = "api"


class MessageOut(BaseModel):
    id: int
    direction: str
    channel: str
    author: str
    body: str
    delivery_status: str | None
    created_at: datetime


class ConversationOut(BaseModel):
    id: str
    phone: str
    patient_mrn: str | None
    verified: bool
    locked: bool
    needs_staff: bool
    messages: list[MessageOut]


@router.get(
    "/conversations",
    response_model=ConversationOut,
    responses={
        400: {"description": "phone is not a phone number"},
        401: {"description": "Missing or wrong bearer token"},
        404: {"description": "No conversation with that number"},
    },
)
def get_conversation(
    session: SessionDep,
    phone: Annotated[str, Query(description="Any common format; normalised to E.164", max_length=40)],
) -> ConversationOut:
    try:
        e164 = to_e164(phone, get_clinic(session).region)
    except InvalidPhoneNumber as exc:
        raise HTTPException(status_code=400, detail=f"phone is not a phone number ({exc})") from None
    conversation = session.scalars(select(Conversation).filter_by(phone=e164)).one_or_none()
    if conversation is None:
        raise HTTPException(status_code=404, detail="no conversation with that number")
    return conversation_out(session, conversation)


def conversation_out(session: Session, conversation: Conversation) -> ConversationOut:
    return ConversationOut(
        id=conversation.public_id,
        phone=conversation.phone,
        patient_mrn=conversation.patient.mrn if conversation.patient else None,
        verified=conversation.verified_at is not None,
        locked=conversation.locked_at is not None,
        needs_staff=conversation.needs_staff,
        messages=[
            MessageOut.model_validate(m, from_attributes=True)
            for m in conversations.history(session, phone=conversation.phone)
        ],
    )


@router.post(
    "/conversations/{conversation_id}/unlock",
    response_model=ConversationOut,
    summary="Let the texter try their date of birth again after a lock",
    responses={
        401: {"description": "Missing or wrong bearer token"},
        404: {"description": "No conversation with that id"},
        409: {"description": "The conversation is not locked"},
    },
)
def unlock_conversation(
    session: SessionDep,
    conversation_id: Annotated[
        str, Path(description="The conversation's id, as GET /api/conversations gives it", max_length=64)
    ],
) -> ConversationOut:
    conversation = session.scalars(select(Conversation).filter_by(public_id=conversation_id)).one_or_none()
    if conversation is None:
        raise HTTPException(status_code=404, detail="no conversation with that id")
    try:
        verification.unlock(session, conversation=conversation, actor=API_ACTOR)
    except verification.NotLocked as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return conversation_out(session, conversation)
