"""Conversations as a table: what the patient says, what the reply must (and must not) say, and what
must be true in the database afterwards. The test modules list them and drive each (`replies`, `answers`) through the
real webhook, the trained model and the action server."""

from collections.abc import Callable, Iterator
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


def replies(conversation: Talk, texter) -> Iterator[tuple[Turn, str]]:
    """A conversation by text: each turn is one SMS through the webhook; yields the turn and the reply."""
    patient = texter(conversation.phone)
    for step in conversation.turns:
        yield step, patient.send(step.says)


def answers(conversation: Talk, caller) -> Iterator[tuple[Turn, str, str]]:
    """A conversation by voice: the call arrives, then each turn is what the caller says or presses; yields the
    turn, what the caller heard and the TwiML document."""
    phone = caller(conversation.phone)
    for step in conversation.turns:
        if step.how == "ring":
            answer = phone.dial_in()
        elif step.how == "press":
            answer = phone.press(step.says)
        else:
            answer = phone.say(step.says)
        yield step, answer.said, answer.xml


def misses(step: Turn, reply: str, twiml: str = "") -> list[str]:
    """What the reply lacks or says against the turn's expectations (empty: the turn went as it must)."""
    lowered = reply.lower()
    found = [f"missing {wanted!r}" for wanted in step.has if wanted.lower() not in lowered]
    found += [f"should not say {unwanted!r}" for unwanted in step.lacks if unwanted.lower() in lowered]
    if step.any_of and not any(option.lower() in lowered for option in step.any_of):
        found.append(f"none of {step.any_of}")
    found += [f"no {wanted!r} in the TwiML" for wanted in step.twiml_has if wanted not in twiml]
    return found


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
