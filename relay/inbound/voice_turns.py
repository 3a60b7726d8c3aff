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

The call's language is the patient's on record (English for a withheld or
unknown number), read again at every turn: the bot's change_language action
stores a new one during a Rasa turn, and the answer to that turn is already
said in it. The greeting offers the other language in that language's voice
("Para español, oprima 2 o diga español."); right after it (turn 1) the offered
key reaches the bot as "español" / "English", so the bot's own path switches
and stores it. The words are relay.inbound.voice_words.

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
from relay.identity.dob import dob_as_text, dob_candidates, parse_dob
from relay.inbound import rasa_client, safety
from relay.inbound.voice_words import ENGLISH, VoiceWords, words_for
from relay.language.detect import detect_language, language_metadata
from relay.language.languages import Language, language_of
from relay.language.spanish import fold
from relay.language.spoken import keypad_text, spoken_choice
from relay.messaging.handoffs import open_handoff, open_handoff_for
from relay.models import Call, CallOutcome, CallTurn, Conversation, HandoffPriority, Message, utcnow
from relay.records import calls, conversations
from relay.records.clinics import get_clinic

log = logging.getLogger("relay.inbound.voice_turns")

# The English apologies by their old names: the bench tells them from answers.
RASA_DOWN = ENGLISH.rasa_down
RASA_SLOW = ENGLISH.rasa_slow
# The front desk's answer to a transfer, kept as a turn of its own so a repeated callback replays it.
DIAL_TURN = -1
# Keypad 0: a person, as on every clinic phone line.
OPERATOR_DIGIT = "0"
# Rasa's voice variations may carry {"custom": {"call": ...}}: what the call does after them.
CALL_CONTROLS = ("end", "transfer")
MISSES = ("silence", "unclear")


# Spanish ways to ask for an answer, compared without accents ("dígame" -> "digame").
_ASKS_ES = re.compile(r"\b(diga|digame|oprima|marque|cuenteme)\b")


@dataclass(frozen=True)
class VoiceStep:
    """What the caller hears, and then: "gather" (listen), "dial" (front desk) or "hangup".

    `language` is the call's: what the `<Gather>` listens for, and what every saying is spoken in,
    unless `say_languages` (one per saying, or none at all) gives a saying its own: the offer of
    Spanish in an English greeting is said by a Spanish voice.
    """

    says: list[str]
    then: str = "gather"
    dial: str | None = None
    language: Language = Language.EN
    say_languages: list[Language] = field(default_factory=list)
    author: str = field(default="system", compare=False)
    outcome: CallOutcome | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.say_languages and len(self.say_languages) != len(self.says):
            raise ValueError("say_languages names a language for every saying, or for none")

    @property
    def spoken(self) -> list[tuple[str, Language]]:
        """Each saying with the language it is said in."""
        return list(zip(self.says, self.say_languages or [self.language] * len(self.says), strict=True))

    def as_reply(self) -> dict:
        reply: dict = {"says": self.says, "then": self.then, "dial": self.dial, "language": self.language.value}
        if self.say_languages:
            reply["say_languages"] = [language.value for language in self.say_languages]
        return reply

    @classmethod
    def from_reply(cls, reply: dict) -> "VoiceStep":
        # A reply stored before calls had a language has none: it was English.
        return cls(
            says=list(reply["says"]),
            then=reply["then"],
            dial=reply.get("dial"),
            language=language_of(reply.get("language")),
            say_languages=[language_of(code) for code in reply.get("say_languages") or []],
        )


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

    def for_rasa(self, language: Language = Language.EN) -> str:
        """The message the bot gets: keypad digits as text ('09/03/1957', '2'), 'number two' ('dos') as '2',
        and a date of birth said in words ('October twenty seventh two thousand one') as the model knows dates."""
        if self.kind == "dtmf":
            return keypad_text(self.text)
        if choice := spoken_choice(self.text, language):
            return choice
        # Only a date in the past parses as a birth date, so "next Friday the 4th" is left alone.
        today = utcnow().date()
        if language is Language.ES:
            # Written so that verification reads back the same one or two readings (docs/spanish.md).
            candidates = dob_candidates(self.text, today, language)
            return dob_as_text(candidates) if candidates else self.text
        born = parse_dob(self.text, today)
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
        language = _record_language(call.conversation)
        words = words_for(language)
        if call.conversation is None:
            step = _transfer(
                words.withheld_number.format(clinic=clinic.name), language=language, number=clinic.front_desk_number
            )
        elif open_handoff_for(session, conversation=call.conversation) is not None:
            step = _transfer(
                words.held_by_staff.format(clinic=clinic.name), language=language, number=clinic.front_desk_number
            )
        else:
            step = _greeting(language, clinic=clinic.name)
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
            transfer = _transfer(ENGLISH.connecting, language=Language.EN, number=get_clinic(session).front_desk_number)
            _answer(session, record=record, step=transfer, now=now)
            return transfer
        language = _record_language(conversation)
        answered = _before_rasa(
            session, record=record, conversation=conversation, heard=heard, language=language, now=now
        )
        if answered is not None:
            _answer(session, record=record, step=answered, now=now)
            return answered
        sender, conversation_id = conversation.public_id, conversation.id

    settings = get_settings()
    said = _language_request(heard, turn=turn, language=language) or heard.for_rasa(language)
    try:
        messages = rasa_client.send_message(
            sender=sender,
            text=said,
            channel="voice",
            timeout=settings.voice_rasa_timeout_seconds,
            metadata=language_metadata(said, record=language),
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
        # Read again: the bot's change_language action may have stored another language during the turn.
        language = _record_language(conversation)
        words = words_for(language)
        if failure is not None:
            open_handoff(session, conversation=conversation, reason=failure, priority=HandoffPriority.NORMAL, now=now)
            if failure == "voice_rasa_timeout":
                step = VoiceStep(says=[words.rasa_slow], then="hangup", language=language, outcome=CallOutcome.CALLBACK)
            else:
                step = _transfer(words.rasa_down, language=language, number=clinic.front_desk_number)
        else:
            spoken_in = _bot_language(texts, record=language)
            if open_handoff_for(session, conversation=conversation) is not None or "transfer" in controls:
                step = _transfer(
                    *texts, words_for(spoken_in).hold, language=spoken_in, number=clinic.front_desk_number,
                    author="bot",
                )  # fmt: skip
            elif "end" in controls:
                step = VoiceStep(
                    says=texts, then="hangup", language=spoken_in, author="bot", outcome=CallOutcome.COMPLETED_BY_BOT
                )
            else:
                step = VoiceStep(says=texts, language=spoken_in, author="bot")
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
        language = _record_language(call.conversation)
        words = words_for(language)
        if dial_status in ("completed", "answered"):
            step = VoiceStep(says=[], then="hangup", language=language)
        elif call.conversation is None:
            step = VoiceStep(says=[words.no_answer_withheld], then="hangup", language=language)
        else:
            open_handoff(session, conversation=call.conversation, reason="voice_transfer_unanswered", now=now)
            step = VoiceStep(
                says=[words.no_answer], then="hangup", language=language, outcome=CallOutcome.TRANSFER_UNANSWERED
            )
            log.info("call %s: front desk did not answer (%s); call back promised", call_sid, dial_status)
        _answer(session, record=record, step=step, now=now)
    return step


# --- the steps -------------------------------------------------------------------


def _greeting(language: Language, *, clinic: str) -> VoiceStep:
    """Welcome, the emergency number and keypad 0, then the other language offered in its own voice."""
    words = words_for(language)
    other = Language.ES if language is Language.EN else Language.EN
    welcome, question = words.greeting
    return VoiceStep(
        says=[welcome.format(clinic=clinic), words.other_language_offer, question],
        language=language,
        say_languages=[language, other, language],
    )


def _language_request(heard: Heard, *, turn: int, language: Language) -> str | None:
    """The greeting's offer taken on the keypad (2 for Spanish, 1 for English), as the words the bot switches on.

    Only right after the greeting: later, digits are answers (a choice, a date of birth)."""
    words = words_for(language)
    if turn == 1 and heard.kind == "dtmf" and heard.text == words.other_language_digit:
        return words.other_language_request
    return None


def _before_rasa(
    session: Session,
    *,
    record: CallTurn,
    conversation: Conversation,
    heard: Heard,
    language: Language,
    now: datetime,
) -> VoiceStep | None:
    """The answer when the turn is handled without the model; None to ask Rasa."""
    call = record.call
    clinic = get_clinic(session)
    words = words_for(language)

    if heard.kind == "dtmf" and heard.text == OPERATOR_DIGIT:
        open_handoff(
            session, conversation=conversation, reason="patient_request", priority=HandoffPriority.NORMAL, now=now
        )
        return _transfer(words.connecting, language=language, number=clinic.front_desk_number)

    # Unclear speech counts too: a false alarm costs a look by staff, a miss can cost a life.
    category = safety.match(heard.text) if heard.kind in ("speech", "unclear") else None
    if category is not None:
        handoff = safety.hand_emergency_to_staff(session, conversation=conversation, category=category, now=now)
        log.warning("emergency (%s) on call %s: urgent handoff %s", category, call.call_sid, handoff.id)
        return _transfer(
            words.emergency[category], language=language, number=clinic.front_desk_number,
            outcome=CallOutcome.EMERGENCY,
        )  # fmt: skip

    if heard.missed:
        previous = calls.get_turn(session, call=call, turn=record.turn - 1)
        if previous is not None and previous.input in MISSES:
            open_handoff(session, conversation=conversation, reason="voice_not_understood", now=now)
            return _transfer(words.still_not_understood, language=language, number=clinic.front_desk_number)
        return VoiceStep(says=_reprompt(heard, previous, words=words, language=language), language=language)

    if open_handoff_for(session, conversation=conversation) is not None:
        # Staff have the conversation (opened by text, or by the console during the call).
        return _transfer(words.connecting, language=language, number=clinic.front_desk_number)
    return None


def _reprompt(heard: Heard, previous: CallTurn | None, *, words: VoiceWords, language: Language) -> list[str]:
    """Once more: the question asked last (not all that came before it), and the keypad as the way round
    the speech recogniser. Only what was said in the call's language is repeated (not the greeting's
    offer of the other one)."""
    sorry = words.not_heard if heard.kind == "silence" else words.not_caught
    asked = VoiceStep.from_reply(previous.reply) if previous is not None and previous.reply else None
    said = [text for text, spoken_in in asked.spoken if spoken_in is language] if asked else []
    sentences = re.split(r"(?<=[.?!])\s+", said[-1]) if said else []
    asking = [n for n, sentence in enumerate(sentences) if _asks(sentence)]
    # After a plain answer (no question in it), ask whether there is more.
    again = " ".join(sentences[asking[0] :]) if asking else words.anything_else
    hint = [] if _mentions_keypad(again) else [words.keypad_hint]
    return [f"{sorry} {again}", *hint]


def _asks(sentence: str) -> bool:
    lowered = sentence.lower()
    return (
        "?" in sentence
        or "¿" in sentence
        or any(words in lowered for words in ("please say", "say or press", "press or say", "tell me"))
        or _ASKS_ES.search(fold(sentence)) is not None
    )


def _mentions_keypad(sentence: str) -> bool:
    folded = fold(sentence)
    return "keypad" in folded or "teclado" in folded


def _bot_language(texts: list[str], *, record: Language) -> Language:
    """The language the bot's words are in: the record's, unless they are clearly in the other one.

    The bot answers in its `language` slot, which starts from the record but also follows a caller
    who speaks the other language; a Spanish sentence said by an English voice is lost on everyone."""
    return detect_language(" ".join(texts), current=record)


def _transfer(
    *says: str,
    language: Language,
    number: str,
    author: str = "system",
    outcome: CallOutcome = CallOutcome.TRANSFERRED,
) -> VoiceStep:
    return VoiceStep(says=list(says), then="dial", dial=number, language=language, author=author, outcome=outcome)


def _record_language(conversation: Conversation | None) -> Language:
    """The caller's language on record; English for a withheld number or a caller without a record."""
    patient = conversation.patient if conversation is not None else None
    return language_of(patient.language) if patient is not None else Language.EN


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
            language = _record_language(call.conversation if call else None)
        if time.monotonic() > deadline:
            words = words_for(language)
            return VoiceStep(says=[f"{words.not_caught} {words.say_again}"], language=language)
        time.sleep(0.1)
