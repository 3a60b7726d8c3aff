"""Which language a patient's text is written in, when that is clear.

Patients' texts are short ("si", "ok", "3/9/72", "cuando es mi cita"), often
without accents and sometimes mixed ("quiero cancelar mi appointment"). A
statistical language identifier needs more text than that and guesses on
"ok"; what tells English from Spanish here are the small words each language
cannot do without. So this counts marker words of each language, and the
conversation changes language only when the other one clearly wins; otherwise
it keeps the language it had (the record's, or the one the patient last wrote
in).
"""

import re

from relay.language.languages import Language
from relay.language.spanish import fold

# Compared after fold(): lower case, no accents. Words that are the same or
# common in both languages ("no", "ok", "a", "me", "doctor", "hospital") are
# in neither list. "si" is Spanish: an English "if" sentence has other markers.
_SPANISH = frozenset(
    """
    hola buenas buenos dias tardes noches gracias porfa favor xfa si claro vale dale bueno
    el la los las un una unos unas del al de que q en con por para pero porque pq xq
    mi mis su sus tu yo usted ustedes nos le les lo
    es son esta estoy estan era fue soy tengo tiene tienen tenia quiero quisiera necesito puedo
    puede pueden podria hay voy va vamos ir ser estar hacer saber gustaria
    cuando donde como cual cuales cuanto cuanta que quien porque
    cita citas doctora medico medica hora horas dia manana semana mes tarde temprano
    lunes martes miercoles jueves viernes sabado domingo
    enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre
    cancelar cancela cancelen cambiar cambio confirmar confirmo otra otro nueva nuevo
    ya tambien tmb ahora ahorita despues antes luego pronto posible
    ayuda hablar persona alguien espanol ingles entiendo
    seguro cuesta cobran estacionamiento traer llevar resultados
    """.split()
)
_ENGLISH = frozenset(
    """
    hi hello hey thanks thank please pls plz yes yeah yep sure
    the an of to in on at for with from by about and but or because
    my your his her our their i im i'm you we they it its it's this that
    is are was were am be been do does did have has had can could would will should
    want need like get got make go going come
    when where what which who how why
    appointment appt appointments referral visit doctor's today tomorrow week month morning afternoon evening
    monday tuesday wednesday thursday friday saturday sunday
    january february march april june july august september october november december
    cancel change confirm reschedule book new another
    help talk person someone english spanish understand
    insurance cost parking bring results
    """.split()
)
_WORD = re.compile(r"[a-z']+")
# Leaving the language in use takes two more marker words of the other one:
# a Spanish speaker's "yes" or "ok thanks" keeps Spanish, "hola, cuando es mi
# cita" (five Spanish markers) switches an English conversation.
_SWITCH_MARGIN = 2


def marker_counts(text: str) -> tuple[int, int]:
    """(English, Spanish) marker words in the text."""
    words = _WORD.findall(fold(text))
    return sum(word in _ENGLISH for word in words), sum(word in _SPANISH for word in words)


def written_in(text: str) -> Language | None:
    """The language the text is clearly written in, whatever the conversation's; None when it is not clear."""
    english, spanish = marker_counts(text)
    if spanish - english >= _SWITCH_MARGIN:
        return Language.ES
    if english - spanish >= _SWITCH_MARGIN:
        return Language.EN
    return None


def detect_language(text: str, *, current: Language) -> Language:
    """The language to go on in after this text: the other one only when the text clearly is in it."""
    return written_in(text) or current


# "en español", "English please", "can you text me in spanish": the language asked for.
_ASKS_SPANISH = re.compile(r"\b(espanol|spanish|castellano)\b")
_ASKS_ENGLISH = re.compile(r"\b(english|ingles)\b")


def language_asked_for(text: str) -> Language | None:
    """The language a patient asks to switch to, or None when the text names neither (or both)."""
    folded = fold(text)
    spanish, english = bool(_ASKS_SPANISH.search(folded)), bool(_ASKS_ENGLISH.search(folded))
    if spanish == english:
        return None
    return Language.ES if spanish else Language.EN


def language_metadata(text: str, *, record: Language) -> dict[str, str | None]:
    """What Rasa is told about a message's language, with the message (its metadata).

    `language`: the patient's on record, which a session starts in
    (action_session_start). `written_in`: the language the text clearly is in,
    and `asked_for`: the one it names ("en español"); bot/language_entity.py
    turns them into a `language` entity (asked_for only when the intent is
    change_language), and the `language` slot follows that entity. Decided
    here, where the marker words live, so no action server round trip is
    spent on every message to keep the slot unchanged.
    """
    asked = language_asked_for(text)
    clear = written_in(text)
    return {
        "language": record.value,
        "written_in": clear.value if clear else None,
        "asked_for": asked.value if asked else None,
    }
