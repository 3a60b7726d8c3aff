"""FAQ content that admins edit; the bot answers from it on the very next message."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select

from api.deps import SessionDep, require_api_token
from relay.models import Faq
from relay.records import audit
from relay.records.faq_rules import (
    ANSWER_LENGTH,
    EXAMPLE_LENGTH,
    KEY_PATTERN,
    MAX_EXAMPLES,
    QUESTION_LENGTH,
    sms_problem,
)

router = APIRouter(prefix="/api", tags=["faqs"], dependencies=[Depends(require_api_token)])


class FaqOut(BaseModel):
    key: str
    question: str
    examples: list[str]
    answer: str
    answer_es: str | None = Field(description="The Spanish answer; null while none is written (English is used)")
    retired: bool = Field(description="Retired in the console: kept, but the bot no longer answers from it")
    updated_at: datetime


class FaqIn(BaseModel):
    """The same rules as the console's FAQ editor (relay.records.faq_rules)."""

    question: str = Field(min_length=QUESTION_LENGTH[0], max_length=QUESTION_LENGTH[1])
    examples: list[Annotated[str, Field(min_length=EXAMPLE_LENGTH[0], max_length=EXAMPLE_LENGTH[1])]] = Field(
        default_factory=list, max_length=MAX_EXAMPLES
    )
    answer: str = Field(min_length=ANSWER_LENGTH[0], max_length=ANSWER_LENGTH[1])
    answer_es: str | None = Field(
        default=None, min_length=ANSWER_LENGTH[0], max_length=ANSWER_LENGTH[1],
        description="Spanish answer; absent or null keeps none (the English answer is used)",
    )  # fmt: skip

    @field_validator("question", "answer", "answer_es")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() if value is not None else None

    @field_validator("answer", "answer_es")
    @classmethod
    def _fits_sms(cls, value: str | None) -> str | None:
        # Answers go out by SMS: GSM-7 alphabet, two segments at most.
        if value is not None and (problem := sms_problem(value)):
            raise ValueError(problem)
        return value


FaqKey = Annotated[str, Path(pattern=f"^{KEY_PATTERN.pattern}$", description="e.g. parking")]


@router.get("/faqs", response_model=list[FaqOut], responses={401: {"description": "Missing or wrong bearer token"}})
def list_faqs(session: SessionDep) -> list[FaqOut]:
    return [_out(faq) for faq in session.scalars(select(Faq).order_by(Faq.key))]


def _out(faq: Faq) -> FaqOut:
    return FaqOut(key=faq.key, question=faq.question, examples=faq.examples, answer=faq.answer,
                  answer_es=faq.answer_es, retired=faq.retired_at is not None, updated_at=faq.updated_at)  # fmt: skip


@router.put(
    "/faqs/{key}",
    response_model=FaqOut,
    responses={401: {"description": "Missing or wrong bearer token"}, 422: {"description": "Invalid content"}},
)
def put_faq(session: SessionDep, key: FaqKey, body: FaqIn) -> FaqOut:
    """Create or replace an entry; the bot uses it from the next message on."""
    faq = session.scalars(select(Faq).filter_by(key=key)).one_or_none()
    created = faq is None
    if faq is None:
        faq = Faq(key=key)
        session.add(faq)
    faq.question, faq.examples, faq.answer = body.question, list(body.examples), body.answer
    faq.answer_es = body.answer_es or None
    session.flush()
    audit.record(session, actor="api", action="faq.created" if created else "faq.updated", details={"key": key})
    return _out(faq)
