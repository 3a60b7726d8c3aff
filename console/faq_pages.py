"""The FAQ editor (admins): the entries the bot answers from, edited with a live preview as SMS and as speech.

The bot reads the entries from the database on every message (relay.records.faq),
so a saved edit counts from the next message on; the rules an answer must meet
are the API's (relay.records.faq_rules). Each change is audited with the key only.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from console.deps import AdminDep, AdminOnly, DbDep, NowDep, PollDep, Staff, require_csrf
from console.display import clinic_when
from console.rendering import page, redirect, signed_in
from console.sms_meter import SmsMeter, measure
from relay.language.gsm import non_gsm_characters
from relay.language.spoken import speakable
from relay.models import Faq, StaffRole
from relay.records.audit import record
from relay.records.clinics import get_clinic
from relay.records.faq_rules import (
    ANSWER_LENGTH,
    EXAMPLE_LENGTH,
    MAX_ANSWER_SEGMENTS,
    MAX_EXAMPLES,
    QUESTION_LENGTH,
    FaqProblems,
    answer_problem,
    checked,
    key_problem,
    plain_sms,
    split_examples,
)

router = APIRouter(prefix="/console", include_in_schema=False)

Field = Annotated[str, Form()]

# Paths under /console/faqs/ that are pages, not entries.
RESERVED_KEYS = frozenset({"new", "preview"})

DONE = {
    "created": "Entry added. The bot answers from it from the next message on.",
    "saved": "Saved. The bot uses this version from the next message on.",
    "retired": "Retired. The bot no longer answers from this entry; restore it to bring it back.",
    "restored": "Restored. The bot answers from this entry again from the next message on.",
}

LANGUAGES = {"en": "English", "es": "Spanish"}


@dataclass(frozen=True)
class AnswerPreview:
    """One answer as a patient gets it: a text (with its meter) and the words a caller hears."""

    language: str  # "en" or "es"
    text: str
    meter: SmsMeter
    speech: str
    problem: str | None  # why saving would refuse it, or None
    suggestion: str | None  # the text in plain SMS characters, when that would fix it

    @property
    def label(self) -> str:
        return LANGUAGES[self.language]


def preview_of(text: str, language: str) -> AnswerPreview:
    text = text.strip()
    problem = answer_problem(text, f"The {LANGUAGES[language]} answer") if text else None
    plain = plain_sms(text)
    suggestion = plain if plain != text and not non_gsm_characters(plain) else None
    return AnswerPreview(language=language, text=text, meter=measure(text), speech=speakable(text) if text else "",
                         problem=problem, suggestion=suggestion)  # fmt: skip


@dataclass(frozen=True)
class FaqForm:
    """What the edit form shows: the stored entry or what was typed."""

    key: str
    question: str
    examples: str  # one a line
    answer: str
    answer_es: str

    @classmethod
    def of(cls, faq: Faq) -> "FaqForm":
        return cls(key=faq.key, question=faq.question, examples="\n".join(faq.examples), answer=faq.answer,
                   answer_es=faq.answer_es or "")  # fmt: skip


def _clinic_time(db: Session, moment: datetime, now: datetime) -> str:
    return clinic_when(moment, get_clinic(db).timezone, now=now)


def _find(db: Session, key: str) -> Faq | None:
    return db.scalars(select(Faq).filter_by(key=key)).one_or_none()


def _list_page(request: Request, staff: Staff, db: Session, now: datetime, status_code: int = 200,
               missing: str | None = None) -> HTMLResponse:  # fmt: skip
    entries = list(db.scalars(select(Faq).order_by(Faq.key)))
    updated = {faq.id: _clinic_time(db, faq.updated_at, now) for faq in entries}
    return signed_in(request, staff, "faqs.html", status_code, section="faqs", entries=entries, updated=updated,
                     missing=missing)  # fmt: skip


def _form_page(request: Request, staff: Staff, db: Session, now: datetime, form: FaqForm, *, faq: Faq | None,
               status_code: int = 200, errors: dict[str, str] | None = None,
               done: str | None = None) -> HTMLResponse:  # fmt: skip
    return signed_in(
        request, staff, "faq_edit.html", status_code, section="faqs",
        form=form, faq=faq, creating=faq is None, errors=errors or {}, done=DONE.get(done or ""),
        updated=_clinic_time(db, faq.updated_at, now) if faq is not None else None,
        previews=[preview_of(form.answer, "en"), preview_of(form.answer_es, "es")],
        rules={"question": QUESTION_LENGTH, "example": EXAMPLE_LENGTH, "max_examples": MAX_EXAMPLES,
               "answer": ANSWER_LENGTH, "segments": MAX_ANSWER_SEGMENTS},
    )  # fmt: skip


# --- the list ------------------------------------------------------------------------------------


@router.get("/faqs")
def list_faqs(request: Request, staff: AdminDep, db: DbDep, now: NowDep) -> Response:
    return _list_page(request, staff, db, now)


# --- the live preview (before /faqs/{key}, which would take "preview" for a key) ---------------


@router.post("/faqs/preview")
def preview(
    request: Request, staff: PollDep, answer: Field = "", answer_es: Field = "", language: Field = "en",
    csrf_token: Field = "",
) -> Response:  # fmt: skip
    """What the page asks while an admin types: the answer in one language as a text and as speech."""
    if staff.user.role != StaffRole.ADMIN:
        raise AdminOnly
    require_csrf(request, staff, csrf_token)
    language = language if language in LANGUAGES else "en"
    shown = preview_of(answer_es if language == "es" else answer, language)
    return page(request, "_faq_preview.html", preview=shown, oob=True)


# --- a new entry ---------------------------------------------------------------------------------


@router.get("/faqs/new")
def new_faq(request: Request, staff: AdminDep, db: DbDep, now: NowDep) -> Response:
    empty = FaqForm(key="", question="", examples="", answer="", answer_es="")
    return _form_page(request, staff, db, now, empty, faq=None)


@router.post("/faqs")
def create_faq(
    request: Request, staff: AdminDep, db: DbDep, now: NowDep, key: Field = "", question: Field = "",
    examples: Field = "", answer: Field = "", answer_es: Field = "", csrf_token: Field = "",
) -> Response:  # fmt: skip
    require_csrf(request, staff, csrf_token)
    key = key.strip()
    form = FaqForm(key=key, question=question, examples=examples, answer=answer, answer_es=answer_es)
    errors: dict[str, str] = {}
    if problem := key_problem(key):
        errors["key"] = problem
    elif key in RESERVED_KEYS:
        errors["key"] = f"{key} names a page of the editor; choose another key."
    elif _find(db, key) is not None:
        errors["key"] = f"The key {key} is taken by another entry; choose another, or edit that entry."
    try:
        content = checked(question=question, examples=split_examples(examples), answer=answer, answer_es=answer_es)
    except FaqProblems as problems:
        errors |= problems.by_field
    if errors:
        return _form_page(request, staff, db, now, form, faq=None, status_code=422, errors=errors)
    faq = Faq(key=key, question=content.question, examples=content.examples, answer=content.answer,
              answer_es=content.answer_es, created_at=now, updated_at=now)  # fmt: skip
    try:
        with db.begin_nested():  # another admin may have taken the key a moment ago
            db.add(faq)
            db.flush()
    except IntegrityError:
        errors["key"] = f"The key {key} was just taken by another entry; choose another."
        return _form_page(request, staff, db, now, form, faq=None, status_code=422, errors=errors)
    record(db, actor=staff.actor, action="faq.created", details={"key": key}, now=now)
    return redirect(f"/console/faqs/{key}?done=created")


# --- one entry -----------------------------------------------------------------------------------


@router.get("/faqs/{key}")
def edit_faq(request: Request, key: str, staff: AdminDep, db: DbDep, now: NowDep, done: str = "") -> Response:
    faq = _find(db, key)
    if faq is None:
        return _list_page(request, staff, db, now, 404, missing=key)
    return _form_page(request, staff, db, now, FaqForm.of(faq), faq=faq, done=done)


@router.post("/faqs/{key}")
def save_faq(
    request: Request, key: str, staff: AdminDep, db: DbDep, now: NowDep, question: Field = "", examples: Field = "",
    answer: Field = "", answer_es: Field = "", csrf_token: Field = "",
) -> Response:  # fmt: skip
    require_csrf(request, staff, csrf_token)
    faq = _find(db, key)
    if faq is None:
        return _list_page(request, staff, db, now, 404, missing=key)
    try:
        content = checked(question=question, examples=split_examples(examples), answer=answer, answer_es=answer_es)
    except FaqProblems as problems:
        form = FaqForm(key=key, question=question, examples=examples, answer=answer, answer_es=answer_es)
        return _form_page(request, staff, db, now, form, faq=faq, status_code=422, errors=problems.by_field)
    faq.question, faq.examples, faq.answer, faq.answer_es = (content.question, content.examples, content.answer,
                                                             content.answer_es)  # fmt: skip
    faq.updated_at = now
    db.flush()
    record(db, actor=staff.actor, action="faq.updated", details={"key": key}, now=now)
    return redirect(f"/console/faqs/{key}?done=saved")


@router.post("/faqs/{key}/retire")
def retire_faq(request: Request, key: str, staff: AdminDep, db: DbDep, now: NowDep, csrf_token: Field = "") -> Response:
    return _set_retired(request, key, staff, db, now, csrf_token, retire=True)


@router.post("/faqs/{key}/restore")
def restore_faq(request: Request, key: str, staff: AdminDep, db: DbDep, now: NowDep, csrf_token: Field = ""
                ) -> Response:  # fmt: skip
    return _set_retired(request, key, staff, db, now, csrf_token, retire=False)


def _set_retired(request: Request, key: str, staff: Staff, db: Session, now: datetime, csrf_token: str, *,
                 retire: bool) -> Response:  # fmt: skip
    require_csrf(request, staff, csrf_token)
    faq = _find(db, key)
    if faq is None:
        return _list_page(request, staff, db, now, 404, missing=key)
    done = "retired" if retire else "restored"
    if (faq.retired_at is not None) != retire:  # a second click changes nothing and writes no second event
        faq.retired_at = now if retire else None
        faq.updated_at = now
        db.flush()
        record(db, actor=staff.actor, action=f"faq.{done}", details={"key": key}, now=now)
    return redirect(f"/console/faqs/{key}?done={done}")
