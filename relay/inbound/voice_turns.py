"""One turn of a phone call, from Twilio's webhook to what the caller hears next, exactly once.

The voice twin of relay.inbound.turns. A call is a Call row; each webhook in it is a
CallTurn (turn 0: the call arrives; turn N: the Nth `<Gather>` result). The
turn is claimed (committed) before anything else, and its unique (call, turn)
makes a retried webhook a replay of the first answer. What the caller says is
an inbound Message of the patient's conversation (channel "voice"), next to
their texts, so staff read one timeline.

Each answer is a VoiceStep: what to say, then listen again (gather), put the
caller through to the front desk (dial) or end the call (hangup). Before the
model, in this order:
1. keypad 0: a person, at once;
2. emergencies (relay.inbound.safety): hang up and dial 911 / 988, urgent handoff, and
   the front desk for a caller who stays on the line; works with Rasa down;
3. silence or speech heard with low confidence: asked again once (with the
   keypad as the alternative), put through on the second miss in a row;
4. an open handoff: staff have the conversation, so the caller gets a person;
5. otherwise Rasa's `voice` channel, with a short timeout: Twilio hangs up on
   a webhook after 15 s, so a slow turn promises a call back instead.
After the model: a handoff opened during the turn (a request for a person,
the verification lock, an insurance problem...) puts the caller through too.

The SMS steps that are not here: carrier keywords (STOP, HELP...) are texts
to Twilio's messaging service, and replies to our outreach answer a text.
"""

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from relay.core.db import session_scope
from relay.core.settings import get_settings
from relay.identity.dob import parse_dob
from relay.inbound import rasa_client, safety
from relay.language.spoken import keypad_text, spoken_choice
from relay.messaging.handoffs import open_handoff, open_handoff_for
from relay.models import Call, CallOutcome, CallTurn, Conversation, HandoffPriority, Message, utcnow
from relay.records import calls, conversations
from relay.records.clinics import get_clinic

log = logging.getLogger("relay.inbound.voice_turns")

GREETING = (
    "Thank you for calling {clinic}. If this is a medical emergency, hang up and dial 911. "
    "To talk to a person at any time, press 0.",
    "I am the clinic's automated assistant. I can tell you where your referral stands, and confirm, "
    "reschedule or cancel an appointment. How can I help you today?",
)
HELD_BY_STAFF = (
    "Thank you for calling {clinic}. A member of our team is looking after your request. "
    "Please hold while I connect you."
)
WITHHELD_NUMBER = (
    "Thank you for calling {clinic}. Your number is withheld, so I cannot look up your records. "
    "Please hold while I connect you with our team."
)
CONNECTING = "Please hold while I connect you with our team."
HOLD = "Please hold."
NOT_HEARD = "Sorry, I did not hear anything."
NOT_CAUGHT = "Sorry, I did not catch that."
KEYPAD_HINT = "You can also use your phone's keypad, or press 0 to talk to a person."
ANYTHING_ELSE = "Is there anything else I can help you with? If you are done, you can hang up."
STILL_NOT_UNDERSTOOD = "Sorry, I still could not understand. Please hold while I connect you with our team."
RASA_DOWN = "Sorry, I cannot look that up right now. Please hold while I connect you with our team."
RASA_SLOW = (
    "Sorry, I could not look that up in time. A member of our team will call you back soon. "
    "If this is an emergency, hang up and dial 911. Goodbye."
)
NO_ANSWER = (
    "Sorry, no one on our team could take your call right now. We will call you back as soon as we can. "
    "If this is an emergency, hang up and dial 911. Goodbye."
)
NO_ANSWER_WITHHELD = (
    "Sorry, no one on our team could take your call right now. Please call again during our office hours. "
    "If this is an emergency, hang up and dial 911. Goodbye."
)
EMERGENCY = {
    "medical": (
        "If this is a medical emergency, hang up now and dial 911. Do not wait on this line. "
        "Our team has been alerted. If you cannot hang up and call, stay on the line and I will connect you."
    ),
    "mental_health": (
        "You are not alone. Please hang up and call or text 988, the Suicide and Crisis Lifeline, at any time. "
        "If you are in immediate danger, hang up and dial 911. Our team has been alerted. "
        "If you stay on the line, I will connect you with our team."
    ),
}
# The front desk's answer to a transfer, kept as a turn of its own so a repeated callback replays it.
DIAL_TURN = -1
# Keypad 0: a person, as on every clinic phone line.
OPERATOR_DIGIT = "0"
# Rasa's voice variations may carry {"custom": {"call": ...}}: what the call does after them.
CALL_CONTROLS = ("end", "transfer")
MISSES = ("silence", "unclear")


@dataclass(frozen=True)
class VoiceStep:
    """What the caller hears, and then: "gather" (listen), "dial" (front desk) or "hangup"."""

    says: list[str]
    then: str = "gather"
    dial: str | None = None
    author: str = field(default="system", compare=False)
    outcome: CallOutcome | None = field(default=None, compare=False)

    def as_reply(self) -> dict:
        return {"says": self.says, "then": self.then, "dial": self.dial}

    @classmethod
    def from_reply(cls, reply: dict) -> "VoiceStep":
        return cls(says=list(reply["says"]), then=reply["then"], dial=reply.get("dial"))


@dataclass(frozen=True)
class Heard:
    """What Twilio's `<Gather>` got from the caller."""

    kind: str  # speech | dtmf | silence | unclear
    text: str = ""
    confidence: float | None = None

    @classmethod
    def from_gather(cls, *, speech: str, confidence: float | None, digits: str, min_confidence: float) -> "Heard":
        speech, digits = speech.strip(), digits.strip()
        if digits:
            return cls("dtmf", digits)
        if not speech:
            return cls("silence")
        if confidence is not None and confidence < min_confidence:
            return cls("unclear", speech, confidence)
        return cls("speech", speech, confidence)

    @property
    def missed(self) -> bool:
        return self.kind in MISSES

    def for_rasa(self) -> str:
        """The message the bot gets: keypad digits as text ('09/03/1957', '2'), 'number two' as '2', and a
        date of birth said in words ('October twenty seventh two thousand one') as the model knows dates."""
        if self.kind == "dtmf":
            return keypad_text(self.text)
        if choice := spoken_choice(self.text):
            return choice
        # Only a date in the past parses as a birth date, so "next Friday the 4th" is left alone.
        born = parse_dob(self.text, utcnow().date())
        return f"{born:%m/%d/%Y}" if born else self.text


def start_call(*, call_sid: str, phone: str | None, now: datetime | None = None) -> VoiceStep:
    """Turn 0: the call arrives. Greet (or put straight through), and listen."""
    now = now or utcnow()
    turn_id = _claim(call_sid=call_sid, turn=0, phone=phone, heard=Heard("call"), now=now)
    if turn_id is None:
        return _replay(call_sid, 0)
    with session_scope() as session:
        record = session.get_one(CallTurn, turn_id)
        call, clinic = record.call, get_clinic(session)
        if call.conversation is None:
            step = _transfer(WITHHELD_NUMBER.format(clinic=clinic.name), number=clinic.front_desk_number)
        elif open_handoff_for(session, conversation=call.conversation) is not None:
            step = _transfer(HELD_BY_STAFF.format(clinic=clinic.name), number=clinic.front_desk_number)
        else:
            step = VoiceStep(says=[GREETING[0].format(clinic=clinic.name), GREETING[1]])
        _answer(session, record=record, step=step, now=now)
    log.info("call %s started (conversation=%s)", call_sid, "yes" if phone else "withheld number")
    return step


def handle_turn(*, call_sid: str, turn: int, phone: str | None, heard: Heard, now: datetime | None = None) -> VoiceStep:
    """Turn N: what the caller said or pressed, answered once."""
    now = now or utcnow()
    turn_id = _claim(call_sid=call_sid, turn=turn, phone=phone, heard=heard, now=now)
    if turn_id is None:
        log.info("duplicate turn %s of call %s: replaying", turn, call_sid)
        return _replay(call_sid, turn)

    with session_scope() as session:
        record = session.get_one(CallTurn, turn_id)
        conversation = record.call.conversation
        if conversation is None:  # a withheld number: nothing to look up, so a person takes the call
            transfer = _transfer(CONNECTING, number=get_clinic(session).front_desk_number)
            _answer(session, record=record, step=transfer, now=now)
            return transfer
        answered = _before_rasa(session, record=record, conversation=conversation, heard=heard, now=now)
        if answered is not None:
            _answer(session, record=record, step=answered, now=now)
            return answered
        sender, conversation_id = conversation.public_id, conversation.id

    settings = get_settings()
    try:
        messages = rasa_client.send_message(
            sender=sender, text=heard.for_rasa(), channel="voice", timeout=settings.voice_rasa_timeout_seconds
        )
        texts = [m["text"] for m in messages if m.get("text")]
        controls = {m["custom"].get("call") for m in messages if isinstance(m.get("custom"), dict)} & set(CALL_CONTROLS)
        if not texts:
            raise rasa_client.RasaUnavailable("empty reply")  # every turn of ours ends in a reply
        failure = None
    except rasa_client.RasaTimeout:
        log.warning("rasa too slow for call %s turn %s: promising a call back", call_sid, turn)
        failure = "voice_rasa_timeout"
    except rasa_client.RasaUnavailable as exc:
        log.warning("rasa unavailable (%s) for call %s turn %s", exc, call_sid, turn)
        failure = "rasa_unavailable"

    with session_scope() as session:
        record = session.get_one(CallTurn, turn_id)
        conversation, clinic = session.get_one(Conversation, conversation_id), get_clinic(session)
        if failure is not None:
            open_handoff(session, conversation=conversation, reason=failure, priority=HandoffPriority.NORMAL, now=now)
            if failure == "voice_rasa_timeout":
                step = VoiceStep(says=[RASA_SLOW], then="hangup", outcome=CallOutcome.CALLBACK)
            else:
                step = _transfer(RASA_DOWN, number=clinic.front_desk_number)
        elif open_handoff_for(session, conversation=conversation) is not None or "transfer" in controls:
            step = _transfer(*texts, HOLD, number=clinic.front_desk_number, author="bot")
        elif "end" in controls:
            step = VoiceStep(says=texts, then="hangup", author="bot", outcome=CallOutcome.COMPLETED_BY_BOT)
        else:
            step = VoiceStep(says=texts, author="bot")
        _answer(session, record=record, step=step, now=now)
    return step


def dial_finished(*, call_sid: str, dial_status: str, now: datetime | None = None) -> VoiceStep:
    """The front desk's `<Dial>` ended: done if they answered, else a promised call back."""
    now = now or utcnow()
    turn_id = _claim(call_sid=call_sid, turn=DIAL_TURN, phone=None, heard=Heard("dial"), now=now)
    if turn_id is None:
        return _replay(call_sid, DIAL_TURN)
    with session_scope() as session:
        record = session.get_one(CallTurn, turn_id)
        call = record.call
        if dial_status in ("completed", "answered"):
            step = VoiceStep(says=[], then="hangup")
        elif call.conversation is None:
            step = VoiceStep(says=[NO_ANSWER_WITHHELD], then="hangup")
        else:
            open_handoff(session, conversation=call.conversation, reason="voice_transfer_unanswered", now=now)
            step = VoiceStep(says=[NO_ANSWER], then="hangup", outcome=CallOutcome.TRANSFER_UNANSWERED)
            log.info("call %s: front desk did not answer (%s); call back promised", call_sid, dial_status)
        _answer(session, record=record, step=step, now=now)
    return step


# --- the steps -------------------------------------------------------------------


def _before_rasa(
    session: Session, *, record: CallTurn, conversation: Conversation, heard: Heard, now: datetime
) -> VoiceStep | None:
    """The answer when the turn is handled without the model; None to ask Rasa."""
    call = record.call
    clinic = get_clinic(session)

    if heard.kind == "dtmf" and heard.text == OPERATOR_DIGIT:
        open_handoff(
            session, conversation=conversation, reason="patient_request", priority=HandoffPriority.NORMAL, now=now
        )
        return _transfer(CONNECTING, number=clinic.front_desk_number)

    # Unclear speech counts too: a false alarm costs a look by staff, a miss can cost a life.
    category = safety.match(heard.text) if heard.kind in ("speech", "unclear") else None
    if category is not None:
        handoff = safety.hand_emergency_to_staff(session, conversation=conversation, category=category, now=now)
        log.warning("emergency (%s) on call %s: urgent handoff %s", category, call.call_sid, handoff.id)
        return _transfer(EMERGENCY[category], number=clinic.front_desk_number, outcome=CallOutcome.EMERGENCY)

    if heard.missed:
        previous = calls.get_turn(session, call=call, turn=record.turn - 1)
        if previous is not None and previous.input in MISSES:
            open_handoff(session, conversation=conversation, reason="voice_not_understood", now=now)
            return _transfer(STILL_NOT_UNDERSTOOD, number=clinic.front_desk_number)
        return VoiceStep(says=_reprompt(heard, previous))

    if open_handoff_for(session, conversation=conversation) is not None:
        # Staff have the conversation (opened by text, or by the console during the call).
        return _transfer(CONNECTING, number=clinic.front_desk_number)
    return None


def _reprompt(heard: Heard, previous: CallTurn | None) -> list[str]:
    """Once more: the question asked last (not all that came before it), and the keypad as the way round
    the speech recogniser."""
    sorry = NOT_HEARD if heard.kind == "silence" else NOT_CAUGHT
    said = (previous.reply or {}).get("says") if previous is not None else None
    sentences = re.split(r"(?<=[.?!])\s+", said[-1]) if said else []
    asking = [n for n, sentence in enumerate(sentences) if _asks(sentence)]
    # After a plain answer (no question in it), ask whether there is more.
    again = " ".join(sentences[asking[0] :]) if asking else ANYTHING_ELSE
    hint = [] if "keypad" in again.lower() else [KEYPAD_HINT]
    return [f"{sorry} {again}", *hint]


def _asks(sentence: str) -> bool:
    lowered = sentence.lower()
    return "?" in sentence or any(
        words in lowered for words in ("please say", "say or press", "press or say", "tell me")
    )


def _transfer(
    *says: str, number: str, author: str = "system", outcome: CallOutcome = CallOutcome.TRANSFERRED
) -> VoiceStep:
    return VoiceStep(says=list(says), then="dial", dial=number, author=author, outcome=outcome)


# --- bookkeeping -----------------------------------------------------------------


def _claim(*, call_sid: str, turn: int, phone: str | None, heard: Heard, now: datetime) -> int | None:
    """Commit the turn (and the caller's words) before answering it; None when it was already claimed."""
    with session_scope() as session:
        call = calls.find_or_open(session, call_sid=call_sid, phone=phone, now=now)
        record = calls.claim_turn(session, call=call, turn=turn, heard=heard.kind, confidence=heard.confidence, now=now)
        if record is None:
            return None
        if heard.text and call.conversation is not None:
            inbound = conversations.record_message(
                session, conversation=call.conversation, direction="inbound", channel="voice", author="patient",
                body=heard.text, twilio_sid=f"{call_sid}:{turn}", now=now,
            )  # fmt: skip
            record.message_id = inbound.id
        session.flush()
        return record.id


def _answer(session: Session, *, record: CallTurn, step: VoiceStep, now: datetime) -> None:
    """Keep what the caller heard in the conversation, and the step for replays."""
    call: Call = record.call
    if step.says and call.conversation is not None:
        conversations.record_message(
            session, conversation=call.conversation, direction="outbound", channel="voice", author=step.author,
            body="\n\n".join(step.says),
            in_reply_to=session.get(Message, record.message_id) if record.message_id else None, now=now,
        )  # fmt: skip
    if step.outcome is not None:
        calls.set_outcome(call, step.outcome)
    record.reply = step.as_reply()
    record.answered_at = utcnow()


def _replay(call_sid: str, turn: int) -> VoiceStep:
    """The answer already given to this turn, waiting for it while the first copy is still in flight."""
    deadline = time.monotonic() + get_settings().voice_rasa_timeout_seconds + 3
    while True:
        with session_scope() as session:
            call = calls.by_sid(session, call_sid)
            record = calls.get_turn(session, call=call, turn=turn) if call else None
            if record is not None and record.reply is not None:
                return VoiceStep.from_reply(record.reply)
        if time.monotonic() > deadline:
            return VoiceStep(says=[NOT_CAUGHT + " Could you say that again?"])
        time.sleep(0.1)
