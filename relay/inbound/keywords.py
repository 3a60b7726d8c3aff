"""The carrier keywords: STOP and friends, START, HELP, as whole messages.

These words mean the same thing at Twilio and the carriers whatever our bot
thinks, so they are recognised before the model sees the message. Only the
whole message counts ("please stop texting me" is a sentence for the bot,
"Stop." is the keyword), in any case, with surrounding spaces and trailing
punctuation allowed.
"""

import re
from dataclasses import dataclass
from typing import Literal

from relay.core.phones import pretty
from relay.models import Clinic

OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "REVOKE", "OPTOUT"})
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})
# YES opts back in only when the number is opted out; otherwise it is an ordinary answer.
OPT_IN_IF_OPTED_OUT_WORDS = frozenset({"YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})

KeywordKind = Literal["opt_out", "opt_in", "opt_in_if_opted_out", "help"]

_KINDS: dict[str, KeywordKind] = {
    **dict.fromkeys(OPT_OUT_WORDS, "opt_out"),
    **dict.fromkeys(OPT_IN_WORDS, "opt_in"),
    **dict.fromkeys(OPT_IN_IF_OPTED_OUT_WORDS, "opt_in_if_opted_out"),
    **dict.fromkeys(HELP_WORDS, "help"),
}
_TRAILING_PUNCTUATION = re.compile(r"[\s.!?,;:]+$")


@dataclass(frozen=True)
class Keyword:
    kind: KeywordKind
    word: str  # upper case, as it goes into the consent ledger's source ("sms:STOP")


def parse(body: str) -> Keyword | None:
    """The keyword this whole message is, if it is one."""
    word = _TRAILING_PUNCTUATION.sub("", body.strip()).upper()
    kind = _KINDS.get(word)
    return Keyword(kind, word) if kind else None


# Replies: GSM-7 only (no curly quotes, no emoji) and one segment where possible.


def opt_out_reply(clinic: Clinic) -> str:
    return f"You are unsubscribed from {clinic.name} texts. Reply START to resubscribe."


def opt_in_reply(clinic: Clinic) -> str:
    return f"You are resubscribed to {clinic.name} texts. Reply STOP to unsubscribe, HELP for help."


def help_reply(clinic: Clinic) -> str:
    return (
        f"{clinic.name}: call us at {pretty(clinic.voice_number)}. "
        "For emergencies call 911. Reply STOP to unsubscribe, START to resubscribe."
    )
