"""One inbound message, from the webhook to the bot's reply, exactly once.

The inbound row is committed before anything else happens, so the patient's
message is never lost, whatever happens next; its unique Twilio SID makes a
retried or doubled webhook a replay of the first one's reply.

Then, before the model, in this order:
1. carrier keywords (STOP, START, HELP, ..., and the Spanish opt-outs): they
   mean the same at Twilio whatever the bot thinks, and they work during a
   handoff too; each reaches the consent ledger, and the reply is Relay's or,
   where Twilio answers the word itself, none (SMS_KEYWORD_REPLIES);
2. emergencies (relay.inbound.safety): 911 / 988 advice and an urgent handoff, also
   during a handoff and whether Rasa runs or not;
3. an open handoff: the bot stays silent while a person has the conversation;
   the patient is told once that someone will reply;
4. a reply to the clinic's own outreach ("C", "R", a 1-5 rating), understood
   in the context of that message (relay.inbound.outreach_replies);
5. otherwise Rasa.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from relay.core.db import session_scope
from relay.core.phones import mask
from relay.core.settings import get_settings
from relay.inbound import keywords, late_replies, outreach_replies, rasa_client, safety
from relay.language.detect import detect_language, language_metadata
from relay.language.languages import Language, language_of
from relay.messaging.handoffs import acknowledge, open_handoff, open_handoff_for
from relay.models import Clinic, Conversation, HandoffPriority, Message, utcnow
from relay.records import consent, conversations
from relay.records.clinics import get_clinic
from relay.scheduling import clinic_hours

log = logging.getLogger("relay.inbound.turns")

RASA_DOWN_REPLY = (
    "Sorry, I can't answer right now. A team member will follow up with you soon. For emergencies call 911."
)
HANDOFF_ACK_REPLY = "Thanks, a member of our team will reply here soon."
# The same in Spanish, GSM-7 spelling (docs/spanish.md): for a patient whose record says Spanish or who
# writes in Spanish, as the bot would answer them.
RASA_DOWN_REPLY_ES = (
    "Disculpe, no puedo responder en este momento. Alguien de nuestro equipo le contestara pronto. "
    "En una emergencia, llame al 911."
)
HANDOFF_ACK_REPLY_ES = "Gracias, alguien de nuestro equipo le respondera por aqui pronto."


@dataclass(frozen=True)
class TurnResult:
    replies: list[str]
    duplicate: bool = False
    late: bool = False  # sent through the REST API after the webhook's deadline


def handle_inbound(
    *,
    sid: str,
    phone: str,
    body: str,
    channel: str,
    now: datetime | None = None,
    twilio_keyword_type: str | None = None,
    handover: late_replies.Handover | None = None,
) -> TurnResult:
    """Answer one inbound message; `twilio_keyword_type` is the webhook's OptOutType, when Twilio sent one.

    With a `handover` (the SMS webhook's), replies that are ready after the
    webhook gave up waiting go out through the REST API instead of the result.
    """
    now = now or utcnow()
    try:
        with session_scope() as session:
            conversation = conversations.find_or_open(session, phone=phone, now=now)
            inbound = conversations.record_message(
                session,
                conversation=conversation,
                direction="inbound",
                channel=channel,
                author="patient",
                body=body,
                twilio_sid=sid,
                now=now,
            )
            inbound_id, sender, conversation_id = inbound.id, conversation.public_id, conversation.id
            record_language = language_of(conversation.patient.language if conversation.patient else None)
    except IntegrityError:
        log.info("duplicate inbound sid=%s from=%s: replaying", sid, mask(phone))
        return TurnResult(_replay(sid), duplicate=True)

    # One turn of a conversation at a time, so that answers go out in the order they were asked.
    with late_replies.one_turn_at_a_time(conversation_id, wait_seconds=get_settings().rasa_timeout_seconds):
        with session_scope() as session:
            inbound = _inbound(session, inbound_id)
            replies = _before_rasa(session, inbound=inbound, now=now, twilio_keyword_type=twilio_keyword_type)
            if replies is not None:
                return _deliver(session, inbound=inbound, replies=replies, author="system", handover=handover)

        try:
            texts = [
                m["text"]
                for m in rasa_client.send_message(
                    sender=sender, text=body, channel=channel, metadata=language_metadata(body, record=record_language)
                )
                if m.get("text")
            ]
            if not texts:
                # Every turn of ours ends in a reply; none means the action server failed.
                raise rasa_client.RasaUnavailable("empty reply")
            rasa_failed = False
        except rasa_client.RasaUnavailable as exc:
            log.warning("rasa unavailable (%s) for conversation=%s", exc, sender)
            spanish = detect_language(body, current=record_language) is Language.ES
            texts, rasa_failed = [RASA_DOWN_REPLY_ES if spanish else RASA_DOWN_REPLY], True

        reply = "\n\n".join(texts)
        with session_scope() as session:
            inbound = _inbound(session, inbound_id)
            if rasa_failed:
                open_handoff(
                    session,
                    conversation=inbound.conversation,
                    reason="rasa_unavailable",
                    priority=HandoffPriority.NORMAL,
                    now=now,
                )
            author = "system" if rasa_failed else "bot"
            return _deliver(
                session, inbound=inbound, replies=[reply] if reply else [], author=author, handover=handover
            )


def _inbound(session: Session, inbound_id: int) -> Message:
    """The inbound message with its conversation and patient, in one query: every turn reads all three.

    (Lazy loading took three round trips, each session of a turn; on PostgreSQL
    the API's statements per turn are most of its database cost.)
    """
    options = [joinedload(Message.conversation).joinedload(Conversation.patient)]
    return session.get_one(Message, inbound_id, options=options)


def _deliver(
    session: Session, *, inbound: Message, replies: list[str], author: str, handover: late_replies.Handover | None
) -> TurnResult:
    """Store the replies for the webhook's TwiML, or send them now if the webhook gave up waiting."""
    if handover is not None and replies and not handover.turn_answers_inline():
        late_replies.send(session, inbound=inbound, replies=replies, author=author)
        return TurnResult([], late=True)
    _store_replies(session, inbound=inbound, replies=replies, author=author)
    return TurnResult(replies)


def _before_rasa(
    session: Session, *, inbound: Message, now: datetime, twilio_keyword_type: str | None = None
) -> list[str] | None:
    """The replies when the message is answered without the model (maybe none); None to ask Rasa.

    A number that opted out still gets answers here and from the bot when it
    texts us: each of those replies answers a conversation the person started,
    which an opt-out does not forbid. What it stops is the clinic texting first
    (reminders, campaigns, staff follow-ups), and those check
    consent.is_opted_out before sending. (Where the opt-out also reached
    Twilio, as a STOP to a real number does, Twilio itself blocks every
    message to the number until it texts START, UNSTOP or YES; the answers
    then simply do not go out.)
    """
    conversation, body = inbound.conversation, inbound.body
    keyword = keywords.recognise(body, twilio_type=twilio_keyword_type)
    if keyword is not None:
        replies = _keyword_replies(session, keyword=keyword, inbound=inbound, now=now)
        if replies is not None:
            return replies

    category = safety.match(body)
    if category is not None:
        handoff = safety.hand_emergency_to_staff(session, conversation=conversation, category=category, now=now)
        log.warning(
            "emergency (%s) in conversation=%s: urgent handoff %s", category, conversation.public_id, handoff.id
        )
        return [safety.reply(category, _message_language(conversation, body))]

    held_by_staff = open_handoff_for(session, conversation=conversation)
    if held_by_staff is None:
        return outreach_replies.answer(session, conversation=conversation, body=body, now=now)
    # Staff have the conversation: store the message for them and keep the bot out.
    if not acknowledge(session, handoff=held_by_staff, now=now):
        return []
    spanish = _message_language(conversation, body) is Language.ES
    reply = HANDOFF_ACK_REPLY_ES if spanish else HANDOFF_ACK_REPLY
    clinic = get_clinic(session)
    if not _clinic_open(clinic, now):
        hours = clinic_hours.display(clinic)
        reply += f" Nuestro horario: {hours}." if spanish else f" Our team is available {hours}."
    return [reply]


def _message_language(conversation: Conversation, body: str) -> Language:
    """The language to answer this message in: the one it is clearly written in, else the record's."""
    record_language = language_of(conversation.patient.language if conversation.patient else None)
    return detect_language(body, current=record_language)


def _keyword_replies(
    session: Session, *, keyword: keywords.Keyword, inbound: Message, now: datetime
) -> list[str] | None:
    """Record the keyword, then Relay's reply to it, or none where Twilio answers it itself.

    The ledger gets every opt-out and opt-in whoever answers, so a STOP always
    stops Relay's own sending (which checks consent.is_opted_out), also for a
    word Twilio does not know, such as ALTO on a number without Advanced Opt-Out.
    """
    conversation = inbound.conversation
    if keyword.kind == "opt_in_if_opted_out" and not consent.is_opted_out(session, conversation.phone):
        return None  # an ordinary "yes": the bot's to answer
    if keyword.kind != "help":
        _record(session, keyword=keyword, conversation=conversation, now=now)
    if get_settings().keyword_replier == "twilio" and keyword.answered_by_twilio:
        log.info("keyword sms:%s from=%s answered by Twilio", keyword.word, mask(conversation.phone))
        return []
    clinic = get_clinic(session)
    language = _reply_language(keyword, conversation)
    if keyword.kind == "help":
        return [keywords.help_reply(clinic, language)]
    if keyword.kind == "opt_out":
        return [keywords.opt_out_reply(clinic, language, word=keyword.word)]
    return [keywords.opt_in_reply(clinic, language)]


def _record(session: Session, *, keyword: keywords.Keyword, conversation: Conversation, now: datetime) -> None:
    consented = keyword.kind != "opt_out"
    consent.record_consent(
        session,
        phone=conversation.phone,
        consented=consented,
        source=f"sms:{keyword.word}",
        now=now,
        conversation_id=conversation.id,
    )
    log.info(
        "consent %s by sms:%s from=%s", "given" if consented else "withdrawn", keyword.word, mask(conversation.phone)
    )


def _reply_language(keyword: keywords.Keyword, conversation: Conversation) -> Language:
    """Spanish for a Spanish word, or for a patient whose record says Spanish; English otherwise."""
    if keyword.language is Language.ES:
        return Language.ES
    return language_of(conversation.patient.language if conversation.patient else None)


def _clinic_open(clinic: Clinic, now: datetime) -> bool:
    try:
        return clinic_hours.is_open(clinic, now)
    except ValueError:
        # Unreadable hours: say them anyway rather than promise a quick answer.
        log.warning("clinic hours %r cannot be parsed", clinic.hours)
        return False


def _store_replies(session: Session, *, inbound: Message, replies: list[str], author: str) -> None:
    for text in replies:
        conversations.record_message(
            session,
            conversation=inbound.conversation,
            direction="outbound",
            channel=inbound.channel,
            author=author,
            body=text,
            in_reply_to=inbound,
        )
    inbound.processed_at = utcnow()


def _replay(sid: str) -> list[str]:
    """The reply already given to this SID, waiting for it if the first copy is still in flight."""
    deadline = time.monotonic() + get_settings().rasa_timeout_seconds + 5
    while True:
        with session_scope() as session:
            inbound = session.scalars(select(Message).filter_by(twilio_sid=sid)).one()
            if inbound.processed_at is not None or time.monotonic() > deadline:
                return [m.body for m in conversations.replies_to(session, inbound)]
        time.sleep(0.1)
