"""A Spanish request for a time, rewritten in the English words the scheduler already reads.

"mañana después de las 3" -> "tomorrow after 3", "el martes x la tarde" ->
"tuesday afternoon", "el 14 a las 9" -> "the 14th at 9", "lo antes posible"
-> "asap". One reader of time (relay.scheduling.time_windows) then applies the
same rules to both languages, so "next Tuesday" and "el próximo martes" can
never drift apart.

Why not dateparser's Spanish: it reads "mañana por la mañana" as two
tomorrows, "pasado mañana" as tomorrow, "el 14" as nothing and "04/12" as
April 12 or December 4 depending on the call; and "mañana" is both "tomorrow"
and "morning", which only the words around it decide.

Read as patients text: with or without accents, "x" for "por", "q" for
"que", "d" for "de", "dsp" for "después", "sab"/"mie" for the days; English
words left as they are, so Spanglish ("el monday en la tarde") works too.
Numeric dates are day first ("4/12" is 4 December); when the first number
cannot be a day-and-month reading ("12/14"), the month-first one is taken.
"""

import re
from collections.abc import Callable, Iterable

from relay.language.spanish import fold, number_words

_DAYS = {
    "lunes": "monday", "lun": "monday",
    "martes": "tuesday", "mar": "tuesday",
    "miercoles": "wednesday", "mierc": "wednesday", "mier": "wednesday", "mie": "wednesday",
    "jueves": "thursday", "juev": "thursday", "jue": "thursday",
    "viernes": "friday", "vier": "friday", "vie": "friday",
    "sabado": "saturday", "sab": "saturday",
    "domingo": "sunday", "dom": "sunday",
}  # fmt: skip
_MONTHS = {
    "enero": "january", "ene": "january", "febrero": "february", "feb": "february",
    "marzo": "march", "mar": "march", "abril": "april", "abr": "april", "mayo": "may", "may": "may",
    "junio": "june", "jun": "june", "julio": "july", "jul": "july", "agosto": "august", "ago": "august",
    "septiembre": "september", "setiembre": "september", "sept": "september", "sep": "september", "set": "september",
    "octubre": "october", "oct": "october", "noviembre": "november", "nov": "november",
    "diciembre": "december", "dic": "december",
}  # fmt: skip
_ENGLISH_MONTHS = "january february march april may june july august september october november december".split()
# Numbers said in words, 2-31 ("uno"/"una" only where they cannot be "a": see _ONE).
_NUMBERS = {fold(number_words(n)): n for n in range(2, 32)} | {"veinte y uno": 21, "diez y seis": 16}


def _alternation(words: Iterable[str]) -> str:
    return "|".join(sorted(words, key=len, reverse=True))  # longest first: "miercoles" before "mie"


_DAY = rf"(?:{_alternation(_DAYS)})"
_MONTH = rf"(?:{_alternation(_MONTHS)})"
# After a day number, "mar" is March ("14 de mar"); alone it is Tuesday, as texts abbreviate it.
_MONTH_AFTER_NAME = rf"(?:{_alternation(m for m in _MONTHS if m != 'mar')})"
# A clock time once the words around it are gone: "3", "10:30", "9am", "noon".
_T = r"(?:\d{1,2}(?::\d{2})?(?:am|pm)?|noon)\b"
_LA = r"(?:las?\s+)?"

Rule = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]


def _r(pattern: str, replacement: str | Callable[[re.Match[str]], str]) -> Rule:
    return re.compile(pattern), replacement


def _clock_period(match: re.Match[str]) -> str:
    """'3 de la tarde' -> '3pm'; '12 de la mañana' is noon, not midnight."""
    clock, period = match[1], match[2]
    if period in ("manana", "madrugada"):
        return clock if clock.split(":")[0] == "12" else f"{clock}am"
    return f"{clock}pm"


def _quarter_to(match: re.Match[str]) -> str:
    hour = int(match[1])
    return f"{(hour - 2) % 12 + 1}:45"


def _in_units(match: re.Match[str]) -> str:
    count = {"un": 1, "una": 1}.get(match[1]) or _NUMBERS.get(match[1]) or int(match[1])
    unit = {"d": "day", "s": "week", "m": "month"}[match[2][0]]
    return f"in {count} {unit}{'s' if count != 1 else ''}"


def _numeric_date(match: re.Match[str]) -> str:
    """'4/12' -> 'december 4' (day first); '12/14' -> 'december 14' (no 14th month: month first)."""
    first, second = int(match[1]), int(match[2])
    year = f" {'20' + match[3] if len(match[3] or '') == 2 else match[3]}" if match[3] else ""
    if 1 <= second <= 12 and 1 <= first <= 31:
        return f"{_ENGLISH_MONTHS[second - 1]} {first}{year}"
    if 1 <= first <= 12 and 1 <= second <= 31:
        return f"{_ENGLISH_MONTHS[first - 1]} {second}{year}"
    return match[0]


def _day_of_month(match: re.Match[str]) -> str:
    day = 1 if match[2] == "primero" else int(match[2])
    return f"{_MONTHS[match[3]]} {day}{' ' + match[4] if match[4] else ''}"


_RULES: list[Rule] = [
    # How texts are typed: "x la tarde", "la semana q viene", "dsp d las 3", "mñn", "prox".
    _r(r"\bx\b", "por"),
    _r(r"\bq\b", "que"),
    _r(r"\bd\b", "de"),
    _r(r"\b(?:dsp|dps|dsps|desp|dspues)\b", "despues"),
    _r(r"\b(?:mnn|mna|mnna)\b", "manana"),
    _r(r"\bprox\b", "proximo"),
    _r(r"\bsig\b", "siguiente"),
    _r(r"\bsem\b", "semana"),
    _r(r"\bfinde\b", "fin de semana"),
    # As soon as possible, before its words ("la proxima", "temprano") are read as days and times.
    _r(
        r"\blo\s+(?:mas\s+)?(?:antes|pronto|rapido|temprano)\b"
        r"(?:\s+(?:posible|que\s+(?:se\s+)?pueda|que\s+tengan?|que\s+haya))?",
        "asap",
    ),
    _r(r"\bcuanto\s+antes\b|\bahorita\b|\bahora\s+mismo\b|\bya\s+mismo\b", "asap"),
    _r(
        r"\b(?:la\s+)?(?:primera|proxima|siguiente)\s+(?:cita\s+|hora\s+|fecha\s+)?disponible\b"
        r"|\b(?:el\s+)?(?:primer|proximo|siguiente)\s+(?:espacio|horario|hueco|turno|dia)\s+disponible\b",
        "first available",
    ),
    _r(r"\bcuando\s+sea\b|\bcuando\s+(?:usted\s+)?(?:pueda|quiera)\b|\ba\s+cualquier\s+hora\b", "whenever"),
    _r(r"\bcualquier\s+dia\b", "whenever"),
    # Numbers in words: "a las tres", "dentro de dos semanas", "a la una".
    _r(rf"\b({_alternation(_NUMBERS)})\b", lambda m: str(_NUMBERS[m[1]])),
    _r(r"\b(las?|el|dentro\s+de|en)\s+(?:una|uno|un)\b", r"\1 1"),
    _r(r"\b(\d{1,2})\s+y\s+media\b", r"\1:30"),
    _r(r"\b(\d{1,2})\s+y\s+cuarto\b", r"\1:15"),
    _r(r"\b(\d{1,2})\s+menos\s+cuarto\b", _quarter_to),
    _r(r"\b(las?\s+\d{1,2})\s+y\s+([1-5]\d)\b", r"\1:\2"),
    _r(r"\b(las?\s+\d{1,2}(?::\d{2})?)\s*(?:horas|hrs?|h)\b", r"\1"),
    _r(r"\b(\d{1,2}:\d{2})\s*(?:horas|hrs?|h)\b", r"\1"),
    _r(r"\bmedio\s*dia\b", "noon"),
    _r(r"\b(\d{1,2}(?::\d{2})?)\s+del\s+noon\b", r"\1"),
    # "a las 3 de la tarde" is 3 PM; "el 3 por la tarde" is the 3rd, in the afternoon.
    _r(
        r"(?<!\bel )(?<!\bdia )\b(\d{1,2}(?::\d{2})?)\s+(?:de|en|por)\s+la\s+(manana|madrugada|tarde|noche)\b",
        _clock_period,
    ),
    # Bounds of the day.
    _r(rf"\b(?:entre|de|desde)\s+{_LA}({_T})\s+(?:y|a|hasta)\s+{_LA}({_T})", r"between \1 and \2"),
    _r(rf"\b(?:despues|luego|mas\s+tarde)\s+del?\s+{_LA}(?={_T})", "after "),
    _r(rf"\b(?:desde|a\s+partir\s+del?)\s+{_LA}(?={_T})", "after "),
    _r(rf"\bantes\s+del?\s+{_LA}(?={_T})", "before "),
    _r(rf"\b(?:hasta|a\s+mas\s+tardar(?:\s+a)?)\s+{_LA}(?={_T})", "before "),
    _r(rf"\b(?:a\s+eso\s+de|como\s+a|como\s+de|alrededor\s+de|tipo|cerca\s+de)\s+{_LA}(?={_T})", "around "),
    _r(rf"\b(?:a|para)\s+las?\s+(?={_T})|\b(?:al|a)\s+(?=noon\b)", "at "),
    _r(r"\blas?\s+(?=\d{1,2}(?::\d{2})?(?:am|pm)?\b)", "at "),
    # Parts of the day. "mañana" is "morning" after "por/en la", "tomorrow" elsewhere.
    _r(r"\b(?:a\s+)?primera\s+hora\b|\b(?:bien\s+|muy\s+)?temprano\b|\btempranito\b", "morning"),
    _r(r"\besta\s+manana\b", "this morning"),
    _r(r"\besta\s+tarde\b", "this afternoon"),
    _r(r"\besta\s+noche\b", "tonight"),
    _r(r"\b(?:por|en|de|a|durante)\s+la\s+manana\b", "morning"),
    _r(r"\b(?:por|en|de|a|durante)\s+la\s+tarde\b", "afternoon"),
    _r(r"\b(?:por|en|de|a|durante)\s+la\s+noche\b", "evening"),
    _r(r"\b(?:por|en|de|a|durante)\s+las\s+mananas\b|\bmananas\b", "mornings"),
    _r(r"\b(?:por|en|de|a|durante)\s+las\s+tardes\b", "afternoons"),
    _r(r"\b(?:por|en|de|a|durante)\s+las\s+noches\b", "evenings"),
    _r(rf"\b(hoy|manana|{_DAY})\s+tarde\b", r"\1 afternoon"),
    _r(rf"\b(hoy|manana|{_DAY})\s+noche\b", r"\1 evening"),
    _r(r"\bpasado\s+manana\b", "day after tomorrow"),
    _r(r"\bmanana\b", "tomorrow"),
    _r(r"\bhoy\b", "today"),
    # Weeks: the weekend first, or "fin de semana que viene" would be read as "semana que viene".
    _r(
        r"\b(?:el\s+)?(?:proxim[oa]|siguiente)\s+fin\s+de\s+semana\b"
        r"|\b(?:el\s+)?fin\s+de\s+semana\s+(?:que\s+viene|proxim[oa]|siguiente|entrante)\b",
        "next weekend",
    ),
    _r(r"\b(?:este|el)\s+fin\s+de\s+semana\b|\bfin\s+de\s+semana\b", "this weekend"),
    _r(
        r"\b(?:la\s+)?(?:proxima|proximo|siguiente|otra)\s+semana\b"
        r"|\b(?:la\s+)?semana\s+(?:que\s+viene|proxima|siguiente|entrante)\b",
        "next week",
    ),
    _r(r"\besta\s+(?:misma\s+)?semana\b", "this week"),
    _r(r"\b(?:en|dentro\s+de)\s+(un|una|\d{1,2})\s+(dias?|semanas?|mes(?:es)?)\b", _in_units),
    # Dates: "el 14 de diciembre", "14 dic", "diciembre 14", "4/12" (day first), "el 14", "el martes 14".
    _r(
        rf"\b(el\s+)?(?:dia\s+)?(\d{{1,2}}|primero)\s+(?:de\s+)?({_MONTH})\b(?:\s+(?:de|del)?\s*(\d{{4}})\b)?",
        _day_of_month,
    ),
    _r(rf"\b({_MONTH_AFTER_NAME})\s+(\d{{1,2}})\b", lambda m: f"{_MONTHS[m[1]]} {m[2]}"),
    _r(r"(?<![\d:/])(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?(?![\d:/])", _numeric_date),
    _r(
        r"\b(?:el\s+(?:dia\s+)?|dia\s+)(\d{1,2}|primero)\b(?!\s*(?::\d|am\b|pm\b))",
        lambda m: f"the {1 if m[1] == 'primero' else m[1]}th",
    ),
    _r(rf"\b({_DAY})\s+(\d{{1,2}})\b(?!\s*(?::\d|am\b|pm\b))", r"\1 the \2th"),
    # Weekdays: "el próximo martes", "el martes que viene", "este martes", "los martes".
    _r(rf"\b(?:el\s+|este\s+)?(?:proxim[oa]|siguiente)\s+({_DAY})\b", r"next \1"),
    _r(rf"\b(?:el\s+)?({_DAY})\s+(?:que\s+viene|proxim[oa]|siguiente|entrante)\b", r"next \1"),
    _r(rf"\beste\s+({_DAY})\b", r"this \1"),
    _r(rf"\b({_DAY})\b", lambda m: _DAYS[m[1]]),
]


def as_english(text: str) -> str:
    """The request in the scheduler's English words; anything not about time is left as it was (folded)."""
    text = fold(text)
    text = re.sub(r"(\d)\s*([ap])\s*\.?\s*m\b\.?", r"\1\2m", text)  # "9 a. m.", "9 a.m.", "9am"
    text = re.sub(r"[^a-z0-9:/\- ]", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return re.sub(r"\s+", " ", text).strip()
