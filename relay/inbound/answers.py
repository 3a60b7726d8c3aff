"""Short answers to yes/no questions, as patients text them, in English and Spanish."""

import re

from relay.language.spanish import fold

_YES = {
    "yes",
    "y",
    "yeah",
    "yep",
    "yup",
    "ya",
    "sure",
    "ok",
    "okay",
    "correct",
    "si",
    "confirm",
    "please do",
    "do it",
    "yes please",
    # Spanish, compared without accents ("sí" -> "si").
    "claro",
    "dale",
    "esta bien",
    "de acuerdo",
    "si por favor",
    "por favor",
    "si claro",
    "correcto",
}
_NO = {
    "no",
    "n",
    "nope",
    "nah",
    "dont",
    "don't",
    "do not",
    "keep it",
    "never mind",
    "nevermind",
    "not now",
    "no thanks",
    "no thank you",
    "no gracias",
    "mejor no",
    "ahorita no",
    "todavia no",
    "no por favor",
}


def yes_or_no(text: str, intent: str | None = None) -> bool | None:
    """True for yes, False for no, None when the message is neither.

    The intent the model saw (affirm/deny) counts first; plain words decide
    when the model filed a short answer under something else.
    """
    if intent == "affirm":
        return True
    if intent == "deny":
        return False
    words = re.sub(r"[^a-z' ]", " ", fold(text)).split()
    phrase = " ".join(words)
    if phrase in _YES or (words and words[0] in {"yes", "yeah", "yep", "sure", "si", "claro"}):
        return True
    if phrase in _NO or (words and words[0] in {"no", "nope", "nah"}):
        return False
    return None
