"""What an FAQ entry must be before the bot answers from it: one set of rules for the JSON API and the console.

Answers go out by SMS, so they stay in the GSM-7 alphabet and within two
segments, in both languages. SPANISH.md's rule for texts applies to the Spanish
answer: GSM-7 has ñ é ü ¿ ¡ but not á í ó ú, and one of those would switch the
whole text to UCS-2 (70 characters a segment, nearly three times the cost; two
segments would then hold only 134 characters). So a Spanish answer with such a
letter is refused like an English one, and `plain_sms` offers the text
written the way SPANISH.md asks (`dia`, `mas`, `segun`).

Every message here is safe to show and names no content.
"""

import re
from dataclasses import dataclass

from relay.language.gsm import non_gsm_characters, segments

KEY_PATTERN = re.compile(r"[a-z0-9_]{1,64}")
QUESTION_LENGTH = (3, 300)
EXAMPLE_LENGTH = (2, 200)
MAX_EXAMPLES = 50
ANSWER_LENGTH = (2, 600)
MAX_ANSWER_SEGMENTS = 2

# What a keyboard or a word processor puts in that GSM-7 lacks, and the plain character a text uses instead.
_PLAIN = str.maketrans(
    {
        "á": "a", "í": "i", "ó": "o", "ú": "u", "Á": "A", "Í": "I", "Ó": "O", "Ú": "U",
        "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
        "\u2026": "...", "\u00a0": " ",
    }
)  # fmt: skip


@dataclass(frozen=True)
class FaqContent:
    """An entry's content, cleaned: stripped, examples without blank lines, no Spanish answer as None."""

    question: str
    examples: list[str]
    answer: str
    answer_es: str | None


class FaqProblems(ValueError):
    """The content cannot be saved; `by_field` says why, field by field (question, examples, answer, answer_es)."""

    def __init__(self, by_field: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {problem}" for name, problem in by_field.items()))
        self.by_field = by_field


def key_problem(key: str) -> str | None:
    if not KEY_PATTERN.fullmatch(key):
        return "Use 1 to 64 lowercase letters a-z, digits and underscores, such as parking or what_to_bring."
    return None


def _length_problem(text: str, bounds: tuple[int, int], what: str) -> str | None:
    low, high = bounds
    if len(text) < low:
        return f"{what} needs at least {low} characters." if text else f"{what} is empty: write it."
    if len(text) > high:
        return f"{what} has {len(text)} characters; at most {high} fit."
    return None


def question_problem(question: str) -> str | None:
    return _length_problem(question.strip(), QUESTION_LENGTH, "The question")


def examples_problem(examples: list[str]) -> str | None:
    if len(examples) > MAX_EXAMPLES:
        return f"{len(examples)} example questions; at most {MAX_EXAMPLES}."
    for number, example in enumerate(examples, start=1):
        if problem := _length_problem(example.strip(), EXAMPLE_LENGTH, f"Example {number}"):
            return problem
    return None


def sms_problem(text: str) -> str | None:
    """Why this text should not go out as an FAQ answer by SMS, or None (GSM-7 only, two segments at most)."""
    if bad := non_gsm_characters(text):
        shown = " ".join(repr(ch) if ch.isspace() else ch for ch in bad)
        return f"Use plain characters only (the SMS alphabet, GSM-7); not allowed: {shown}"
    if segments(text) > MAX_ANSWER_SEGMENTS:
        return f"Longer than {MAX_ANSWER_SEGMENTS} SMS segments (306 characters): shorten it."
    return None


def answer_problem(answer: str, what: str = "The answer") -> str | None:
    answer = answer.strip()
    return _length_problem(answer, ANSWER_LENGTH, what) or sms_problem(answer)


def split_examples(text: str) -> list[str]:
    """Example questions as an admin types them, one a line; blank lines are no example."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def checked(*, question: str, examples: list[str], answer: str, answer_es: str | None = None) -> FaqContent:
    """The content, cleaned, or FaqProblems naming every field that is wrong (all at once, not the first)."""
    examples = [example.strip() for example in examples if example.strip()]
    spanish = (answer_es or "").strip()
    problems = {
        "question": question_problem(question),
        "examples": examples_problem(examples),
        "answer": answer_problem(answer),
        "answer_es": answer_problem(spanish, "The Spanish answer") if spanish else None,
    }
    found = {name: problem for name, problem in problems.items() if problem}
    if found:
        raise FaqProblems(found)
    return FaqContent(question=question.strip(), examples=examples, answer=answer.strip(), answer_es=spanish or None)


def plain_sms(text: str) -> str:
    """The text with the usual non-GSM-7 characters written plainly (á -> a, curly quotes -> straight ones);
    what SPANISH.md asks of a Spanish text. Other characters (emoji) are left for the writer to remove."""
    return text.translate(_PLAIN)
