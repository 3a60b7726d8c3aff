"""Which of several referrals (or offered times) the patient means, in English or Spanish.

The patient sees a numbered list ("1) cardiology with Dr. Amara Okafor, 2)
dermatology with Dr. Lena Park") and answers in their own words: "2", "the
second one", "la segunda", "dos", "the dermatology one", "Dr. Park", "the heart
doctor", "my skin appointment", "el cardiólogo". Words are compared folded
(relay.language.spanish.fold: no case, no accents) and whole: "park" is in
"Dr. Park's office" but not in "parking".

An answer that fits more than one referral, or none, picks nothing: the
caller asks again with the options. The message that started a request ("I
need to cancel my dermatology appt") is read with `numbers=False`, because
its digits and number words are times and dates ("can we do tuesday after 3",
"in two weeks"), not a choice from a list the patient has not seen yet.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

from relay.language.languages import Language, language_of
from relay.language.spanish import MONTHS, fold
from relay.language.specialties import specialty_name, specialty_words, words_of
from relay.language.spoken import spoken_options
from relay.models import Referral

# --- numbers ---------------------------------------------------------------

_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
    "primero": 1, "primera": 1, "primer": 1, "segundo": 2, "segunda": 2, "tercero": 3, "tercera": 3, "tercer": 3,
    "cuarto": 4, "cuarta": 4, "quinto": 5, "quinta": 5,
}  # fmt: skip
# "one", "uno" and "una" are left out: "the heart one", "una cita". They count only where a number is expected.
_CARDINALS = {"two": 2, "three": 3, "four": 4, "five": 5, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5}
_ONES = {"one", "uno", "una"}
_LAST = {"last", "ultimo", "ultima"}
# Words that introduce a number as a choice: "number 2", "option one", "la 2", "el uno".
_BEFORE_A_CHOICE = {"number", "no", "option", "choice", "numero", "num", "opcion", "el", "la"}
# Words around an answer that is only a choice ("I'll take the second one please", "me quedo con la 2").
_FILLERS = {
    "the", "number", "no", "option", "choice", "please", "pls", "plz", "i", "ill", "id", "want", "take", "like",
    "ok", "okay", "yes", "yeah", "lets", "go", "with", "that", "pick", "choose", "book", "it", "is", "s", "my",
    "el", "la", "lo", "numero", "num", "opcion", "por", "favor", "quiero", "me", "quedo", "con", "deme", "dame",
    "esa", "ese", "esta", "este", "de", "prefiero", "mejor", "pues", "si", "vale", "bueno", "escojo", "elijo",
}  # fmt: skip
# A digit followed by these is a time, a date or a length, not a choice: "3 pm", "2 weeks", "3 de diciembre".
_NOT_A_CHOICE_AFTER = {
    "am", "pm", "oclock", "week", "weeks", "day", "days", "month", "months", "hour", "hours", "hr", "hrs",
    "min", "mins", "minutes", "semana", "semanas", "dia", "dias", "mes", "meses", "hora", "horas", "minutos",
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
}  # fmt: skip
_MONTHS_ES = {fold(month) for month in MONTHS}
# ... and so is a digit after these: "at 2", "a las 3", "after 4".
_NOT_A_CHOICE_BEFORE = {"at", "around", "about", "after", "before", "by", "until", "las", "despues", "antes", "on"}
_DIGITS = re.compile(r"(\d{1,2})(?:st|nd|rd|th|ro|ero|er|do|da|to|ta|o|a)?")


@dataclass(frozen=True)
class _Word:
    text: str
    start: int
    end: int


def _words(folded: str) -> list[_Word]:
    return [_Word(m.group(), m.start(), m.end()) for m in re.finditer(r"[a-z0-9]+", folded)]


def _value(word: str, count: int) -> int | None:
    """The number a single word stands for as a choice: '2', '2nd', 'second', 'segunda', 'two', 'dos'."""
    if (digits := _DIGITS.fullmatch(word)) is not None:
        return int(digits[1])
    if word in _LAST:
        return count
    return _ORDINALS.get(word) or _CARDINALS.get(word)


def choice_number(answer: str, count: int) -> int | None:
    """The option (1-based) an answer that is only a choice names: '2', 'option 2', 'the second one', 'la dos'.

    None when the answer says anything else ('at 2', '2pm', 'the 14th', 'tuesday')
    or names a number that is not on the list of `count`.
    """
    rest = [w for w in words_of(answer) if w not in _FILLERS]
    if len(rest) == 2 and rest[1] in _ONES and rest[0] not in _ONES:
        rest = rest[:1]  # "the second one", "the 2nd one"
    elif len(rest) == 1 and not rest[0].isdigit() and rest[0][0].isdigit():
        return None  # "the 3rd" alone is a date as often as a choice
    if len(rest) != 1:
        return None
    value = 1 if rest[0] in _ONES else _value(rest[0], count)
    return value if value is not None and 1 <= value <= count else None


def _numbers_mentioned(answer: str, count: int) -> set[int]:
    """Every option number an answer mentions as a choice, in a longer answer too ('I mean number 2, the skin one')."""
    strict = choice_number(answer, count)
    if strict is not None:
        return {strict}
    folded = fold(answer)
    words = _words(folded)
    found: set[int] = set()
    for i, word in enumerate(words):
        before = words[i - 1].text if i > 0 else ""
        after = words[i + 1].text if i + 1 < len(words) else ""
        if word.text in _ONES:
            a_time = word.text == "una" and i > 1 and words[i - 2].text == "a"  # "a la una" is one o'clock
            listed = before in _BEFORE_A_CHOICE or {before, after} & {"or", "o"}  # "number one", "uno o dos"
            value = 1 if listed and not a_time else None
        elif word.text in _LAST:
            value = None  # "last" only as a whole answer: "the one from last week" is no choice
        else:
            value = _value(word.text, count)
        if value is None or not 1 <= value <= count:
            continue
        if word.text[0].isdigit() and _looks_like_a_time(folded, word, before, after, words, i):
            continue
        found.add(value)
    return found


def _looks_like_a_time(folded: str, word: _Word, before: str, after: str, words: list[_Word], i: int) -> bool:
    left, right = folded[max(word.start - 2, 0) : word.start], folded[word.end : word.end + 2]
    if left[-1:] in (":", "/", "$") or right[:1] in (":", "/"):
        return True  # 10:30, 12/14, $3
    if (right[:1] in ".," and right[1:].isdigit()) or (left[-1:] in ".," and left[:1].isdigit()):
        return True  # 2.5, 1,5 (but "2." ends a sentence)
    following = words[i + 2].text if i + 2 < len(words) else ""
    meridiem = after in ("a", "p") and following == "m"  # "3 p. m."
    a_date = after == "de" and following in _MONTHS_ES  # "3 de diciembre"
    one_oclock = before == "la" and i > 1 and words[i - 2].text == "a"  # "a la 1"
    return meridiem or a_date or one_oclock or after in _NOT_A_CHOICE_AFTER or before in _NOT_A_CHOICE_BEFORE


# --- names -----------------------------------------------------------------

_TITLES = {"dr", "dra", "doctor", "doctora", "doc", "mr", "mrs", "ms", "prof"}
_DEGREES = {"md", "do", "phd", "np", "pa", "rn", "dds", "dpm", "psyd", "lcsw", "fnp", "aprn", "jr", "sr", "ii", "iii"}
# Words of facility names that tell one facility from none: "Riverside Endocrine Clinic" is "riverside", "endocrine".
_GENERIC = {
    "the", "of", "and", "at", "for", "center", "centre", "clinic", "clinics", "health", "healthcare", "medical",
    "medicine", "hospital", "group", "associates", "partners", "care", "services", "institute", "office",
    "practice", "department", "dept", "specialists", "specialty", "family", "north", "south", "east", "west",
    "suite", "floor", "building", "st", "saint", "university", "general", "community", "regional", "memorial",
}  # fmt: skip


Key = tuple[str, ...]  # a word or phrase that names a referral, folded: ("park",), ("lakeside", "heart", "center")


def _person_keys(name: str) -> tuple[Key, ...] | None:
    """'Dr. Lena Park' -> (lena, park), (park,), (dr, lena) ...; None when the name is not a person's."""
    words = words_of(name)
    person = bool(words) and (words[0] in _TITLES or words[-1] in _DEGREES)
    parts = [w for w in words if w not in _TITLES and w not in _DEGREES and len(w) > 1]
    if not person or not parts:
        return None
    keys: list[Key] = [tuple(parts)]
    keys += [(surname,) for surname in parts[1:]]  # "Park"; each of "García López"
    if len(parts) == 1:
        keys.append((parts[0],))
    keys += [(title, parts[0]) for title in ("dr", "dra", "doctor", "doctora")]  # "Dr. Lena"
    return tuple(keys)


def _place_keys(name: str) -> tuple[Key, ...]:
    """'Lakeside Heart Center' -> the whole name, and each of its telling words (lakeside, heart)."""
    words = words_of(name)
    telling = [(w,) for w in words if w not in _GENERIC and len(w) > 2]
    return (tuple(words), *telling) if words else ()


def _keys(referral: Referral) -> tuple[Key, ...]:
    """Everything that names this referral: its specialist, its facility, its specialty in everyday words."""
    specialist = referral.specialist
    specialty = tuple(tuple(phrase.split()) for phrase in specialty_words(specialist.specialty))
    person = _person_keys(specialist.name)
    # An organisation ("Northside Imaging") is named the way a facility is.
    name = person if person is not None else _place_keys(specialist.name)
    return name + _place_keys(specialist.facility) + specialty


def _same_word(said: str, key: str) -> bool:
    return said == key or (len(key) > 2 and said == key + "s")  # "MRIs", "knees", "Dr. Parks"


def _occurrences(words: list[str], key: Key) -> list[int]:
    n = len(key)
    return [
        i
        for i in range(len(words) - n + 1)
        if all(_same_word(said, wanted) for said, wanted in zip(words[i : i + n], key, strict=True))
    ]


def _named(answer: str, referrals: Sequence[Referral]) -> list[Referral] | None:
    """The referrals every name in the answer fits; None when the answer names nothing.

    Each word or phrase that names something ("cardiology", "Dr. Smith",
    "heart") fits one or more referrals; the answer means those that all of
    them fit. So "cardiology with Dr. Smith" is Dr. Smith's cardiology referral
    and not Dr. Okafor's, while "the heart one, not the skin one" fits none.
    """
    words = words_of(answer)
    mentions: dict[tuple[int, int], set[int]] = {}
    for index, referral in enumerate(referrals):
        for key in _keys(referral):
            for start in _occurrences(words, key):
                mentions.setdefault((start, start + len(key)), set()).add(index)
    if not mentions:
        return None
    fitting = set.intersection(*mentions.values())
    return [referrals[i] for i in sorted(fitting)]


# --- choosing --------------------------------------------------------------


def pick_referral(answer: str, referrals: Sequence[Referral], *, numbers: bool = True) -> Referral | None:
    """The one referral the answer means, or None when it names none or more than one.

    `numbers=False` reads names only: for the message that started a request,
    whose digits are times and dates ("can we do tuesday after 3").
    """
    if not answer.strip() or not referrals:
        return None
    named = _named(answer, referrals)
    numbered = _numbers_mentioned(answer, len(referrals)) if numbers else set()
    if len(numbered) > 1:
        return None  # "1 or 2?"
    if numbered:
        chosen = referrals[numbered.pop() - 1]
        # "2, the heart one" when 2 is not the heart one: ask rather than guess.
        return chosen if named is None or chosen in named else None
    return named[0] if named is not None and len(named) == 1 else None


def choice_label(referral: Referral, language: str = Language.EN, *, spoken: bool = False) -> str:
    """'cardiology with Dr. Amara Okafor'; Spanish 'cardiologia con Dr. Amara Okafor' (a call: 'cardiología')."""
    specialist = referral.specialist
    specialty = specialty_name(specialist.specialty, language, spoken=spoken)
    joiner = "con" if language_of(language) == Language.ES else "with"
    return f"{specialty} {joiner} {specialist.name}"


def choice_options(referrals: Sequence[Referral], *, spoken: bool = False, language: str = Language.EN) -> str:
    """'1) cardiology with Dr. Amara Okafor, 2) ...'; on a call 'press or say 1 for ..., or 2 for ...'.

    Spanish: '1) cardiologia con Dr. Amara Okafor, 2) ...', on a call 'marque o diga 1 para cardiología ...'.
    """
    labels = [choice_label(r, language, spoken=spoken) for r in referrals]
    if spoken:
        return spoken_options(labels, language_of(language))
    return ", ".join(f"{n}) {label}" for n, label in enumerate(labels, start=1))
