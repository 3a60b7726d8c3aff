"""FAQ content that admins edit; the bot answers from it on the very next message."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select

from api.deps import SessionDep, require_api_token
from relay.language.gsm import non_gsm_characters, segments
from relay.models import Faq
from relay.records import audit

router = APIRouter(prefix="/api", tags=["faqs"], dependencies=[Depends(require_api_token)])

MAX_ANSWER_SEGMENTS = 2


class FaqOut(BaseModel):
    key: str
    question: str
    examples: list[str]
    answer: str
    updated_at: datetime


class FaqIn(BaseModel):
    question: str = Field(min_length=3, max_length=300)
    examples: list[Annotated[str, Field(min_length=2, max_length=200)]] = Field(default_factory=list, max_length=50)
    answer: str = Field(min_length=2, max_length=600)

    @field_validator("question", "answer")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("answer")
    @classmethod
    def _fits_sms(cls, value: str) -> str:
        # Answers go out by SMS: keep them in the GSM-7 alphabet and short.
        if bad := non_gsm_characters(value):
            raise ValueError(f"use plain characters only (SMS alphabet); not allowed: {' '.join(bad)}")
        if segments(value) > MAX_ANSWER_SEGMENTS:
            raise ValueError(f"answer is longer than {MAX_ANSWER_SEGMENTS} SMS segments (306 characters)")
        return value


FaqKey = Annotated[str, Path(pattern=r"^[a-z0-9_]{1,64}$", description="e.g. parking")]


@router.get("/faqs", response_model=list[FaqOut], responses={401: {"description": "Missing or wrong bearer token"}})
def list_faqs(session: SessionDep) -> list[Faq]:
    return list(session.scalars(select(Faq).order_by(Faq.key)))


@router.put(
    "/faqs/{key}",
    response_model=FaqOut,
    responses={401: {"description": "Missing or wrong bearer token"}, 422: {"description": "Invalid content"}},
)
def put_faq(session: SessionDep, key: FaqKey, body: FaqIn) -> Faq:
    """Create or replace an entry; the bot uses it from the next message on."""
    faq = session.scalars(select(Faq).filter_by(key=key)).one_or_none()
    created = faq is None
    if faq is None:
        faq = Faq(key=key)
        session.add(faq)
    faq.question, faq.examples, faq.answer = body.question, list(body.examples), body.answer
    session.flush()
    audit.record(session, actor="api", action="faq.created" if created else "faq.updated", details={"key": key})
    return faq
