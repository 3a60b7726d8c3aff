"""Conversations and messages: the record of everything said with a number."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from relay.models import Conversation, Message, Patient, utcnow


def find_or_open(
    session: Session, *, phone: str, now: datetime | None = None, patient: Patient | None = None
) -> Conversation:
    """The conversation with this E.164 number, opened on first contact.

    `patient` is the patient with this number when the caller already has it
    (otherwise it is looked up). Two first messages from one number can race;
    the unique phone column lets one insert win and the other reads the
    winner's row.
    """
    # With its patient: every caller reads it (the patient's language, who is texting).
    with_patient = select(Conversation).filter_by(phone=phone).options(joinedload(Conversation.patient))
    conversation = session.scalars(with_patient).one_or_none()
    if conversation is not None:
        return conversation
    if patient is None:
        patient = session.scalars(select(Patient).filter_by(phone=phone)).one_or_none()
    conversation = Conversation(phone=phone, patient=patient)
    try:
        with session.begin_nested():
            session.add(conversation)
    except IntegrityError:
        conversation = session.scalars(with_patient).one()
    return conversation


def by_public_id(session: Session, public_id: str) -> Conversation | None:
    return session.scalars(select(Conversation).filter_by(public_id=public_id)).one_or_none()


def record_message(
    session: Session,
    *,
    conversation: Conversation,
    direction: str,
    channel: str,
    author: str,
    body: str,
    twilio_sid: str | None = None,
    in_reply_to: Message | None = None,
    delivery_status: str | None = None,
    now: datetime | None = None,
    flush: bool = True,
) -> Message:
    """Store one message. `flush=False` leaves the INSERT to the caller's next flush (a batch of them)."""
    now = now or utcnow()
    message = Message(
        conversation=conversation,
        direction=direction,
        channel=channel,
        author=author,
        body=body,
        twilio_sid=twilio_sid,
        delivery_status=delivery_status,
        in_reply_to_id=in_reply_to.id if in_reply_to else None,
        created_at=now,
    )
    session.add(message)
    conversation.last_message_at = now
    if flush:
        session.flush()
    return message


def replies_to(session: Session, inbound: Message) -> list[Message]:
    return list(session.scalars(select(Message).filter_by(in_reply_to_id=inbound.id).order_by(Message.id)))


def history(session: Session, *, phone: str) -> list[Message]:
    """Every message with this number, oldest first."""
    return list(
        session.scalars(
            select(Message)
            .join(Conversation)
            .where(Conversation.phone == phone)
            .order_by(Message.created_at, Message.id)
        )
    )
