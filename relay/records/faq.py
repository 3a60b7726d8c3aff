"""FAQ answers from the database, so an admin's edit counts on the next message.

Rasa's ResponseSelector recognises the topics it was trained on; entries added
or reworded since the last training are found by matching the message against
each entry's stored question and examples. A weak match is no answer: the bot
says it does not know rather than guess.
"""

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay.language.spanish import sms_spelling
from relay.models import Faq

# A near-restatement of a stored question or example beats the trained model.
STRONG_MATCH = 0.72
# Below this, the stored entries say nothing about the message.
WEAK_MATCH = 0.45
# The model's topic is trusted from this confidence on, if the message shares
# at least a little with that entry's wording (the model is confident about
# everything, including questions it has never seen the like of).
SELECTOR_CONFIDENCE = 0.5
SELECTOR_SUPPORT = 0.3
# The stored wording is English, so a Spanish message cannot lend the model's
# topic that support; in Spanish the model is trusted only when both it and the
# intent classifier are sure (both trained on Spanish examples of each topic).
SPANISH_SELECTOR_CONFIDENCE = 0.9
SPANISH_INTENT_CONFIDENCE = 0.7

_STOPWORDS = frozenset(
    "a an the i im i'm me my u you your ur do does did is are am be can could will would should "
    "to of for on in at it its this that there what whats how when where which who pls please "
    "thx thanks hi hey need want get have has".split()
)


@dataclass(frozen=True)
class FaqMatch:
    faq: Faq
    score: float


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _content_words(text: str) -> frozenset[str]:
    # A crude stem (drop a plural s) is enough for short questions.
    return frozenset(w[:-1] if len(w) > 3 and w.endswith("s") else w for w in _words(text) if w not in _STOPWORDS)


def similarity(message: str, phrase: str) -> float:
    """0..1: shared content words, blended with character-level likeness (for typos)."""
    a, b = _content_words(message), _content_words(phrase)
    overlap = len(a & b) / len(a | b) if a and b else 0.0
    likeness = SequenceMatcher(None, " ".join(_words(message)), " ".join(_words(phrase))).ratio()
    return 0.6 * overlap + 0.4 * likeness


def _score(message: str, faq: Faq) -> float:
    return max(similarity(message, phrase) for phrase in [faq.question, *faq.examples])


def live_entries(session: Session) -> list[Faq]:
    """The entries the bot answers from: every one not retired."""
    return list(session.scalars(select(Faq).where(Faq.retired_at.is_(None)).order_by(Faq.key)))


# Before the English answer to a Spanish speaker while no Spanish one is written: they know what
# they are reading (é is GSM-7: it goes out by text as it is).
ENGLISH_ANSWER_MARK_ES = "(en inglés)"


def answer_in(faq: Faq, language: str, *, spoken: bool = False) -> str:
    """The answer in the patient's language; English, marked as such, while no Spanish answer is written.

    Admins write Spanish with its accents. A call says them; a text loses á í ó ú as every Spanish
    text does, since one of them would make the whole SMS UCS-2 (70 characters a segment, not 160).
    """
    if language != "es":
        return faq.answer
    if faq.answer_es:
        return faq.answer_es if spoken else sms_spelling(faq.answer_es)
    return f"{ENGLISH_ANSWER_MARK_ES} {faq.answer}"


def best_match(session: Session, message: str) -> FaqMatch | None:
    best: FaqMatch | None = None
    for faq in live_entries(session):
        score = _score(message, faq)
        if best is None or score > best.score:
            best = FaqMatch(faq, score)
    return best


def answer_for(
    session: Session,
    *,
    message: str,
    selected_key: str | None,
    selector_confidence: float,
    language: str = "en",
    intent_confidence: float = 0.0,
) -> Faq | None:
    """The entry to answer with, or None when no entry really fits."""
    match = best_match(session, message)
    if match and match.score >= STRONG_MATCH:
        return match.faq
    if selected_key and selector_confidence >= SELECTOR_CONFIDENCE:
        selected = session.scalars(select(Faq).filter_by(key=selected_key, retired_at=None)).one_or_none()
        if selected is not None and _score(message, selected) >= SELECTOR_SUPPORT:
            return selected
        trusted_in_spanish = (
            language == "es"
            and selector_confidence >= SPANISH_SELECTOR_CONFIDENCE
            and intent_confidence >= SPANISH_INTENT_CONFIDENCE
        )
        if selected is not None and trusted_in_spanish:
            return selected
    if match and match.score >= WEAK_MATCH:
        return match.faq
    return None
