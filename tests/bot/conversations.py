"""Conversations as a table: what the patient says, what the reply must (and must not) say, and what
must be true in the database afterwards. The test modules list them; `run` drives one through the
real webhook, the trained model and the action server."""

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from relay.core.db import session_scope
from relay.models import Appointment, AuditEvent, Conversation, Handoff, Patient


@dataclass(frozen=True)
class Turn:
    says: str
    has: tuple[str, ...] = ()  # every one of these, case-insensitively
    lacks: tuple[str, ...] = ()  # none of these
    any_of: tuple[str, ...] = ()  # at least one of these
    how: str = "text"  # by voice: "ring" (the call arrives), "say" or "press"
    twiml_has: tuple[str, ...] = ()  # by voice: in the TwiML document itself ('language="es-US"')


def turn(says: str, *has: str, lacks: tuple[str, ...] = (), any_of: tuple[str, ...] = ()) -> Turn:
    return Turn(says, tuple(has), lacks, any_of)


def ring(*has: str, lacks: tuple[str, ...] = (), twiml_has: tuple[str, ...] = ()) -> Turn:
    """The call arrives: what the greeting must say."""
    return Turn("", tuple(has), lacks, how="ring", twiml_has=twiml_has)


def say(
    speech: str, *has: str, lacks: tuple[str, ...] = (), any_of: tuple[str, ...] = (), twiml_has: tuple[str, ...] = ()
) -> Turn:
    return Turn(speech, tuple(has), lacks, any_of, how="say", twiml_has=twiml_has)


def press(digits: str, *has: str, lacks: tuple[str, ...] = (), twiml_has: tuple[str, ...] = ()) -> Turn:
    return Turn(digits, tuple(has), lacks, how="press", twiml_has=twiml_has)


@dataclass(frozen=True)
class Talk:
    title: str
    phone: str
    turns: tuple[Turn, ...]
    then: tuple[Callable[[], None], ...] = field(default=())  # database checks after the last turn

    def __str__(self) -> str:
        return self.title


def talk(title: str, phone: str, *turns: Turn, then: tuple[Callable[[], None], ...] = ()) -> Talk:
    return Talk(title, phone, tuple(turns), then)


def run(conversation: Talk, texter) -> None:
    """A conversation by text: each turn is one SMS through the webhook."""
    patient = texter(conversation.phone)
    for n, step in enumerate(conversation.turns, start=1):
        _check(conversation, n, step, patient.send(step.says))
    for check in conversation.then:
        check()


def run_call(conversation: Talk, caller) -> None:
    """A conversation by voice: the call arrives, then each turn is what the caller says or presses."""
    phone = caller(conversation.phone)
    for n, step in enumerate(conversation.turns, start=1):
        if step.how == "ring":
            answer = phone.dial_in()
        elif step.how == "press":
            answer = phone.press(step.says)
        else:
            answer = phone.say(step.says)
        _check(conversation, n, step, answer.said)
        for wanted in step.twiml_has:
            assert wanted in answer.xml, f"{conversation.title}, turn {n}: no {wanted!r} in {answer.xml}"
    for check in conversation.then:
        check()


def _check(conversation: Talk, n: int, step: Turn, reply: str) -> None:
    where = f"{conversation.title}, turn {n} ({step.says!r}) got {reply!r}"
    lowered = reply.lower()
    for wanted in step.has:
        assert wanted.lower() in lowered, f"{where}: missing {wanted!r}"
    for unwanted in step.lacks:
        assert unwanted.lower() not in lowered, f"{where}: should not say {unwanted!r}"
    if step.any_of:
        assert any(option.lower() in lowered for option in step.any_of), f"{where}: none of {step.any_of}"


# --- database checks ----------------------------------------------------------------------


def appointment_is(external_id: str, *statuses: str) -> Callable[[], None]:
    def check() -> None:
        with session_scope() as session:
            appointment = session.scalars(select(Appointment).filter_by(external_id=external_id)).one()
            assert appointment.status in statuses, f"{external_id} is {appointment.status}, not {statuses}"

    return check


def handoff_reasons_are(phone: str, *reasons: str) -> Callable[[], None]:
    def check() -> None:
        with session_scope() as session:
            conversation = session.scalars(select(Conversation).filter_by(phone=phone)).one()
            handoffs = session.scalars(select(Handoff).filter_by(conversation_id=conversation.id))
            found = sorted(handoff.reason for handoff in handoffs)
            assert found == sorted(reasons), f"handoffs {found}, expected {sorted(reasons)}"

    return check


def patient_language_is(phone: str, language: str, *, changed: bool) -> Callable[[], None]:
    """The language on the patient's record, and whether a change to it was audited."""

    def check() -> None:
        with session_scope() as session:
            patient = session.scalars(select(Patient).filter_by(phone=phone)).one()
            assert patient.language == language, f"language {patient.language}, expected {language}"
            audited = session.scalars(
                select(AuditEvent).filter_by(action="patient.language_changed", patient_id=patient.id)
            ).first()
            assert (audited is not None) == changed

    return check
