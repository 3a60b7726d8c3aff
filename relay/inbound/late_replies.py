"""Replies that missed the webhook's deadline, sent through Twilio's REST API instead: once, and in order.

Twilio waits 15 s for a webhook's answer and then gives up on it; a burst
beyond what the bot can answer in that time would lose answers. So the SMS
webhook waits for a turn only until SMS_TURN_DEADLINE_SECONDS (well under 15 s)
and then answers with an empty TwiML; the turn goes on, and its replies go out
through the REST API when they are ready (`send`).

Exactly once: the webhook and the turn settle between them, under a lock,
which of the two delivers (`Handover`); whoever claims first decides. In
order: turns of one conversation run one at a time (`one_turn_at_a_time`), so
a later message's answer, inline or late, never overtakes an earlier one's.
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from redis.exceptions import LockError, RedisError
from sqlalchemy.orm import Session

from relay.core.phones import mask
from relay.core.redis_conn import RedisNotConfigured, get_redis
from relay.messaging.handoffs import open_handoff
from relay.messaging.sms_sender import SmsSendError, send_to_number
from relay.models import HandoffPriority, Message, utcnow
from relay.records import conversations
from relay.records.clinics import get_clinic

log = logging.getLogger("relay.inbound.late_replies")


class Handover:
    """Who delivers one turn's replies: the webhook (TwiML) or the turn itself (REST). Claimed once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._way: str | None = None

    def webhook_gives_up(self) -> bool:
        """The deadline passed. True: the turn will send its replies itself; False: they are ready, answer inline."""
        with self._lock:
            if self._way is None:
                self._way = "rest"
            return self._way == "rest"

    def turn_answers_inline(self) -> bool:
        """The replies are ready. True: the webhook still waits for them; False: send them through REST."""
        with self._lock:
            if self._way is None:
                self._way = "twiml"
            return self._way == "twiml"


def send(session: Session, *, inbound: Message, replies: list[str], author: str) -> None:
    """Send a turn's replies through the REST API, stored as the answers to `inbound`.

    A send Twilio refuses is stored as failed and opens a handoff, so that a
    person answers the patient: the turn never ends without someone replying.
    """
    conversation = inbound.conversation
    clinic_number = get_clinic(session).sms_number
    for text in replies:
        now = utcnow()
        try:
            sent = send_to_number(
                to=conversation.phone,
                from_=clinic_number,
                body=text,
                now=now,
                outbox_extra={"author": author, "conversation": conversation.public_id, "late": True},
            )
            sid, status = sent.sid, sent.status
        except SmsSendError as exc:
            log.warning("late reply to %s not sent (%s): handing to staff", mask(conversation.phone), exc)
            sid, status = None, "failed"
            open_handoff(session, conversation=conversation, reason="reply_not_sent", priority=HandoffPriority.NORMAL)
        conversations.record_message(
            session,
            conversation=conversation,
            direction="outbound",
            channel=inbound.channel,
            author=author,
            body=text,
            twilio_sid=sid,
            in_reply_to=inbound,
            delivery_status=status,
            now=now,
        )
    inbound.processed_at = utcnow()
    log.info("late reply: %d message(s) to %s through the REST API", len(replies), mask(conversation.phone))


@contextmanager
def one_turn_at_a_time(conversation_id: int, *, wait_seconds: float) -> Iterator[None]:
    """Hold this conversation's turn lock (in Redis, shared by every API process) while a turn runs.

    Waits at most `wait_seconds` for an earlier turn; after that, or without
    Redis, the turn runs anyway: an answer late or out of order beats none.
    """
    try:
        lock = get_redis().lock(
            f"relay:turn:{conversation_id}", timeout=wait_seconds + 30, blocking_timeout=wait_seconds
        )
        acquired = lock.acquire()
    except (RedisError, RedisNotConfigured) as exc:
        log.warning("turn lock unavailable (%s): answering without it", type(exc).__name__)
        lock, acquired = None, False
    if lock is not None and not acquired:
        log.warning("conversation %s: an earlier turn still runs after %.0f s; answering anyway", conversation_id,
                    wait_seconds)  # fmt: skip
    try:
        yield
    finally:
        if acquired and lock is not None:
            with suppress(LockError, RedisError):  # expired meanwhile: the next turn has it already
                lock.release()
