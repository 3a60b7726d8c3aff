"""The carrier keywords: STOP and friends, START, HELP, as whole messages, in English and Spanish.

These words mean the same thing at Twilio and the carriers whatever our bot
thinks, so they are recognised before the model sees the message. Only the
whole message counts ("please stop texting me" and "cancelar mi cita" are
sentences for the bot, "Stop." and "¡Alto!" are keywords), in any case, with
surrounding spaces, a leading ¡ or ¿, trailing punctuation and accents allowed.

Who answers a keyword (Relay or Twilio) is the SMS_KEYWORD_REPLIES setting;
what is recorded never depends on it (docs/keywords.md).
"""

import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Literal

from relay.core.phones import pretty
from relay.language.languages import Language
from relay.models import Clinic

# Twilio's standard English keywords: on a long code or toll-free number Twilio
# answers every one of them itself (and blocks or unblocks the number) unless
# Advanced Opt-Out on a Messaging Service says otherwise.
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "REVOKE", "OPTOUT"})
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})
# YES opts back in only when the number is opted out; otherwise it is an ordinary answer.
OPT_IN_IF_OPTED_OUT_WORDS = frozenset({"YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})
TWILIO_DEFAULT_WORDS = OPT_OUT_WORDS | OPT_IN_WORDS | OPT_IN_IF_OPTED_OUT_WORDS | HELP_WORDS

# Spanish opt-outs (issue 13). Twilio knows them only where Advanced Opt-Out lists
# them, so without it Relay is the only one who hears them, and answers.
SPANISH_OPT_OUT_WORDS = frozenset({"ALTO", "PARAR", "BAJA", "CANCELAR"})
# A lone CANCEL is an opt-out, but the patient may have meant the appointment.
CANCEL_WORDS = frozenset({"CANCEL", "CANCELAR"})

KeywordKind = Literal["opt_out", "opt_in", "opt_in_if_opted_out", "help"]

_KINDS: dict[str, KeywordKind] = {
    **dict.fromkeys(OPT_OUT_WORDS | SPANISH_OPT_OUT_WORDS, "opt_out"),
    **dict.fromkeys(OPT_IN_WORDS, "opt_in"),
    **dict.fromkeys(OPT_IN_IF_OPTED_OUT_WORDS, "opt_in_if_opted_out"),
    **dict.fromkeys(HELP_WORDS, "help"),
}
# Twilio's OptOutType parameter (sent only with Advanced Opt-Out): how Twilio read the message.
_TWILIO_TYPES: dict[str, KeywordKind] = {"STOP": "opt_out", "START": "opt_in", "HELP": "help"}
_LEADING_PUNCTUATION = re.compile(r"^[\s¡¿]+")
_TRAILING_PUNCTUATION = re.compile(r"[\s.!?,;:]+$")
_MAX_WORD = 60  # the ledger's source column is 64 characters, "sms:" included


@dataclass(frozen=True)
class Keyword:
    kind: KeywordKind
    word: str  # upper case, without accents, as it goes into the consent ledger's source ("sms:STOP")
    language: Language = Language.EN  # the language of the word itself
    flagged_by_twilio: bool = False  # the webhook carried OptOutType: Twilio's Advanced Opt-Out handled it

    @property
    def answered_by_twilio(self) -> bool:
        """Does Twilio answer this keyword itself, when Twilio is left to answer keywords?

        Twilio's standard English words always; any other word only where
        Advanced Opt-Out recognised it, which the webhook says with OptOutType.
        """
        return self.flagged_by_twilio or self.word in TWILIO_DEFAULT_WORDS


def parse(body: str) -> Keyword | None:
    """The keyword this whole message is, if it is one."""
    word = _normalise(body)
    kind = _KINDS.get(word)
    if kind is None:
        return None
    return Keyword(kind, word, Language.ES if word in SPANISH_OPT_OUT_WORDS else Language.EN)


def recognise(body: str, *, twilio_type: str | None = None) -> Keyword | None:
    """The keyword of an inbound text, by our word lists and by Twilio's OptOutType when it sent one.

    OptOutType comes only from a Messaging Service with Advanced Opt-Out; there
    it marks a keyword Twilio has answered (and, for STOP, blocked the number
    on), possibly one of the service's own words that our lists lack, which
    must reach the ledger all the same.
    """
    keyword = parse(body)
    kind = _TWILIO_TYPES.get((twilio_type or "").strip().upper())
    if kind is None:
        return keyword
    if keyword is not None:
        return replace(keyword, flagged_by_twilio=True)
    word = _normalise(body)[:_MAX_WORD] or (twilio_type or "").strip().upper()
    return Keyword(kind, word, flagged_by_twilio=True)


def _normalise(body: str) -> str:
    text = _TRAILING_PUNCTUATION.sub("", _LEADING_PUNCTUATION.sub("", body))
    without_accents = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return without_accents.upper()


# Replies: GSM-7 only (no curly quotes, no emoji, and in Spanish no á í ó ú:
# see SPANISH.md) and one segment where possible. The keywords they name stay
# START, STOP and HELP in Spanish too: those are the words Twilio and the
# carriers act on for every number, whatever its configuration.


def opt_out_reply(clinic: Clinic, language: Language = Language.EN, *, word: str = "STOP") -> str:
    if language is Language.ES:
        text = f"{clinic.name}: ya no le enviaremos mensajes de texto. Responda START para volver a recibirlos."
        if word in CANCEL_WORDS:
            text += f" Para cancelar una cita, llame al {pretty(clinic.voice_number)}."
        return text
    text = f"You are unsubscribed from {clinic.name} texts. Reply START to resubscribe."
    if word in CANCEL_WORDS:
        text += f" To cancel an appointment, call {pretty(clinic.voice_number)}."
    return text


def opt_in_reply(clinic: Clinic, language: Language = Language.EN) -> str:
    if language is Language.ES:
        return (
            f"{clinic.name}: volvera a recibir nuestros mensajes de texto. "
            "Responda STOP para dejar de recibirlos o HELP para ayuda."
        )
    return f"You are resubscribed to {clinic.name} texts. Reply STOP to unsubscribe, HELP for help."


def help_reply(clinic: Clinic, language: Language = Language.EN) -> str:
    if language is Language.ES:
        return (
            f"{clinic.name}: llamenos al {pretty(clinic.voice_number)}. Emergencias: llame al 911. "
            "Responda STOP para no recibir mas mensajes, START para volver a recibirlos."
        )
    return (
        f"{clinic.name}: call us at {pretty(clinic.voice_number)}. "
        "For emergencies call 911. Reply STOP to unsubscribe, START to resubscribe."
    )
