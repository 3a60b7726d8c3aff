"""One inbound message, from the webhook to the bot's reply, exactly once.

The inbound row is committed before Rasa is called, so the patient's message
is never lost, whatever happens next; its unique Twilio SID makes a retried
or doubled webhook a replay of the first one's reply.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from relay import conversations, rasa_client
from relay.db import session_scope
from relay.handoffs import open_handoff
from relay.models import Message, utcnow
from relay.phones import mask
from relay.settings import get_settings

log = logging.getLogger("relay.turns")

RASA_DOWN_REPLY = (
    "Sorry, I can't answer right now. A team member will follow up with you soon. "
    "For emergencies call 911."
)


@dataclass(frozen=True)
class TurnResult:
    replies: list[str]
    duplicate: bool = False


def handle_inbound(*, sid: str, phone: str, body: str, channel: str, now: datetime | None = None) -> TurnResult:
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
            inbound_id, sender = inbound.id, conversation.public_id
    except IntegrityError:
        log.info("duplicate inbound sid=%s from=%s: replaying", sid, mask(phone))
        return TurnResult(_replay(sid), duplicate=True)

    try:
        texts = [m["text"] for m in rasa_client.send_message(sender=sender, text=body, channel=channel) if m.get("text")]
        if not texts:
            # Every turn of ours ends in a reply; none means the action server failed.
            raise rasa_client.RasaUnavailable("empty reply")
        rasa_failed = False
    except rasa_client.RasaUnavailable as exc:
        log.warning("rasa unavailable (%s) for conversation=%s", exc, sender)
        texts, rasa_failed = [RASA_DOWN_REPLY], True

    reply = "\n\n".join(texts)
    with session_scope() as session:
        inbound = session.get(Message, inbound_id)
        if rasa_failed:
            open_handoff(
                session, conversation=inbound.conversation, reason="rasa_unavailable", priority="normal", now=now
            )
        if reply:
            conversations.record_message(
                session,
                conversation=inbound.conversation,
                direction="outbound",
                channel=channel,
                author="system" if rasa_failed else "bot",
                body=reply,
                in_reply_to=inbound,
            )
        inbound.processed_at = utcnow()
    return TurnResult([reply] if reply else [])


def _replay(sid: str) -> list[str]:
    """The reply already given to this SID, waiting for it if the first copy is still in flight."""
    deadline = time.monotonic() + get_settings().rasa_timeout_seconds + 5
    while True:
        with session_scope() as session:
            inbound = session.scalars(select(Message).filter_by(twilio_sid=sid)).one()
            if inbound.processed_at is not None or time.monotonic() > deadline:
                return [m.body for m in conversations.replies_to(session, inbound)]
        time.sleep(0.1)
