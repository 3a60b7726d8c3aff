"""Words for the ear: dates, times, numbers and phone numbers as a phone call says them.

A text reads "Thu, Dec 3 at 10:00 AM" and "(312) 555-0100" well; a
text-to-speech voice reads them badly ("Thu", "ten colon zero zero", "three
hundred twelve"). The voice channel says "Thursday, December third at ten A M"
and "3 1 2, 5 5 5, 0 1 0 0" (one digit at a time, the way people read a number
to someone who writes it down).

`speakable` is the last step before a `<Say>`: a safety net for text that did
not come from a voice variation of the domain (FAQ answers and prep notes from
the database, addresses).

Spanish, as SPANISH.md says it: "el lunes treinta de noviembre a las nueve de
la mañana" (every accent kept: speech is not SMS), "de la tarde" after noon,
"de la noche" from 7 p. m.; "primero" for the 1st, as Spanish speakers in the
Americas say it.
"""

import re
from datetime import date, datetime, time

from relay.language import spanish
from relay.language.languages import Language
from relay.language.timefmt import local

_UNITS = "zero one two three four five six seven eight nine".split()
_TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty", 6: "sixty", 7: "seventy", 8: "eighty", 9: "ninety"}
_ORDINAL_UNITS = "zeroth first second third fourth fifth sixth seventh eighth ninth".split()
_ORDINAL_TEENS = (
    "tenth eleventh twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth".split()
)
_ORDINAL_TENS = {2: "twentieth", 3: "thirtieth"}

DAY_NAMES = {"Mon": "Monday", "Tue": "Tuesday", "Wed": "Wednesday", "Thu": "Thursday", "Fri": "Friday",
             "Sat": "Saturday", "Sun": "Sunday"}  # fmt: skip
MONTH_NAMES = {"Jan": "January", "Feb": "February", "Mar": "March", "Apr": "April", "May": "May", "Jun": "June",
               "Jul": "July", "Aug": "August", "Sep": "September", "Oct": "October", "Nov": "November",
               "Dec": "December"}  # fmt: skip


def number_words(n: int) -> str:
    """0-99 in words: 7 -> 'seven', 45 -> 'forty-five'."""
    if not 0 <= n <= 99:
        raise ValueError(f"{n} is out of range")
    if n < 10:
        return _UNITS[n]
    if n < 20:
        return _TEENS[n - 10]
    tens, unit = divmod(n, 10)
    return _TENS[tens] + (f"-{_UNITS[unit]}" if unit else "")


def ordinal_words(n: int) -> str:
    """1-31 as an ordinal: 3 -> 'third', 23 -> 'twenty-third'."""
    if not 1 <= n <= 39:
        raise ValueError(f"{n} is out of range")
    if n < 10:
        return _ORDINAL_UNITS[n]
    if n < 20:
        return _ORDINAL_TEENS[n - 10]
    tens, unit = divmod(n, 10)
    return _TENS[tens] + f"-{_ORDINAL_UNITS[unit]}" if unit else _ORDINAL_TENS[tens]


def format_clock_spoken(moment: time, language: str = Language.EN) -> str:
    """'ten A M', 'one thirty P M', 'nine oh five A M'; Spanish 'diez de la mañana', 'una y media de la tarde'."""
    if language == Language.ES:
        return _clock_spoken_es(moment)
    hour = number_words(moment.hour % 12 or 12)
    if moment.minute == 0:
        minutes = ""
    elif moment.minute < 10:
        minutes = f" oh {number_words(moment.minute)}"
    else:
        minutes = f" {number_words(moment.minute)}"
    return f"{hour}{minutes} {'A M' if moment.hour < 12 else 'P M'}"


def format_day_spoken(day: date, language: str = Language.EN, *, article: bool = True) -> str:
    """'Monday, November twenty-third'; Spanish 'el lunes veintitrés de noviembre' (without 'el' if not `article`)."""
    if language == Language.ES:
        said = f"{spanish.WEEKDAYS[day.weekday()]} {spanish.day_words(day.day)} de {spanish.MONTHS[day.month - 1]}"
        return f"el {said}" if article else said
    return f"{day:%A}, {day:%B} {ordinal_words(day.day)}"


def format_when_spoken(dt: datetime, tz: str, language: str = Language.EN, *, article: bool = True) -> str:
    """'Thursday, December third at ten A M' in the given zone: format_when for the ear.

    Spanish, as SPANISH.md says it: 'el jueves tres de diciembre a las diez de la
    mañana'. The article comes with it (a voice line reads "su cita es {when}");
    `article=False` leaves it out for a sentence that has its own ("del {when}").
    """
    moment = local(dt, tz)
    if language == Language.ES:
        day = format_day_spoken(moment.date(), language, article=article)
        return f"{day} a {_article(moment.time())} {_clock_spoken_es(moment.time())}"
    return f"{format_day_spoken(moment.date())} at {format_clock_spoken(moment.time())}"


def _article(moment: time) -> str:
    return "la" if moment.hour % 12 == 1 else "las"


def _clock_spoken_es(moment: time) -> str:
    """'nueve de la mañana', 'una y media de la tarde', 'doce del mediodía', 'siete y cuarto de la noche'."""
    hour = moment.hour % 12 or 12
    hour_words = "una" if hour == 1 else spanish.number_words(hour)
    minutes = {0: "", 15: " y cuarto", 30: " y media"}.get(moment.minute)
    if minutes is None:
        minutes = " y " + spanish.number_words(moment.minute)
    if moment.hour < 6:
        period = "de la madrugada"
    elif moment.hour < 12:
        period = "de la mañana"
    elif moment == time(12, 0):
        period = "del mediodía"
    elif moment.hour < 19:
        period = "de la tarde"
    else:
        period = "de la noche"
    return f"{hour_words}{minutes} {period}"


def spoken_phone(number: str) -> str:
    """A phone number one digit at a time, grouped as it is written: '3 1 2, 5 5 5, 0 1 0 0'."""
    digits = re.sub(r"\D", "", number)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]  # the US country code is not part of how people say a local number
    groups = [digits[:3], digits[3:6], digits[6:]] if len(digits) == 10 else [digits]
    return ", ".join(" ".join(group) for group in groups if group)


def spoken_options(labels: list[str], language: str = Language.EN) -> str:
    """Numbered choices for the keypad or the voice: 'press or say 1 for A, 2 for B, or 3 for C'.

    Spanish: 'marque o diga 1 para A, 2 para B o 3 para C' (no comma before "o").
    """
    if language == Language.ES:
        choices = [f"{n} para {label}" for n, label in enumerate(labels, start=1)]
        return "marque o diga " + ", ".join(choices[:-1]) + (" o " if len(choices) > 1 else "") + choices[-1]
    choices = [f"{n} for {label}" for n, label in enumerate(labels, start=1)]
    return "press or say " + ", ".join(choices[:-1]) + (", or " if len(choices) > 1 else "") + choices[-1]


# --- the safety net ----------------------------------------------------------

_DAY = "|".join(DAY_NAMES)
_MONTH = "|".join(MONTH_NAMES)
_CLOCK = r"(?P<hour>\d{1,2}):(?P<minute>\d{2}) ?(?P<ampm>AM|PM)"
# What relay.language.timefmt writes: "Thu, Dec 3 at 10:00 AM", "Mon, Nov 23", "3:00 PM".
_WRITTEN_DAY = re.compile(rf"\b(?P<dow>{_DAY}), (?P<month>{_MONTH}) (?P<day>\d{{1,2}})\b")
_WRITTEN_CLOCK = re.compile(rf"\b{_CLOCK}")
# US numbers as staff and timefmt write them; not already-spoken digits.
_PHONE = re.compile(r"(?<![\d-])(?:\+?1[ .-]?)?\(?\b\d{3}\)?[ .-]?\d{3}[ .-]\d{4}\b|\+1\d{10}\b")
_SHORT_NUMBERS = re.compile(r"\b(911|988)\b")
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
# "Reply VIDEO and we will check", "; reply to ask for a video visit": instructions for a text.
_REPLY_CLAUSE = re.compile(
    r"(?:^|(?<=[.;!?]))\s*[^.;!?]*\b(?:reply|text us|texting us)\b[^.;!?]*[.;!?]?", re.IGNORECASE
)
# "Responda C para confirmar", "escríbanos por aquí": the same instructions in Spanish.
_REPLY_CLAUSE_ES = re.compile(
    r"(?:^|(?<=[.;!?]))\s*[^.;!?]*\b(?:responda|conteste|escr[ií]banos|env[ií]enos un (?:texto|mensaje))\b"
    r"[^.;!?]*[.;!?]?",
    re.IGNORECASE,
)


# What timefmt writes in Spanish: "viernes 4 de diciembre", "3:00 p. m." (also "p.m.", "pm" from staff).
_WEEKDAY_ES = {spanish.fold(day): day for day in spanish.WEEKDAYS}
_MONTH_ES = "|".join(spanish.MONTHS)
_WRITTEN_DAY_ES = re.compile(
    rf"\b(?P<dow>{'|'.join(spanish.WEEKDAYS + tuple(_WEEKDAY_ES))}) (?P<day>\d{{1,2}}) de (?P<month>{_MONTH_ES})\b"
)
_WRITTEN_CLOCK_ES = re.compile(r"\b(?P<hour>\d{1,2}):(?P<minute>\d{2}) ?(?P<ap>[ap])\. ?m\.(?!\w)|"
                               r"\b(?P<hour2>\d{1,2}):(?P<minute2>\d{2}) ?(?P<ap2>[ap])m\b")  # fmt: skip
# Words an SMS writes without their accent (SPANISH.md) that a voice must stress right.
_SPOKEN_ACCENTS = {
    "dia": "día", "dias": "días", "proxima": "próxima", "proximo": "próximo", "despues": "después",
    "sabado": "sábado", "miercoles": "miércoles",
}  # fmt: skip
_UNACCENTED = re.compile(rf"\b({'|'.join(_SPOKEN_ACCENTS)})\b")


def _respell_times_es(text: str) -> str:
    def day(match: re.Match) -> str:
        weekday = _WEEKDAY_ES.get(spanish.fold(match["dow"]), match["dow"])
        number = int(match["day"])
        if not 1 <= number <= 31:
            return match[0]
        return f"{weekday} {spanish.day_words(number)} de {match['month']}"

    def clock(match: re.Match) -> str:
        hour, minute = int(match["hour"] or match["hour2"]), int(match["minute"] or match["minute2"])
        if not 1 <= hour <= 12 or minute > 59:
            return match[0]
        afternoon = (match["ap"] or match["ap2"]) == "p"
        said = _clock_spoken_es(time(hour % 12 + (12 if afternoon else 0), minute))
        # The period of "p. m." also ends the sentence when another one follows. At the very end
        # it is left out: a label ("después de las 3:00 p. m.") goes into a sentence of its own.
        ends_sentence = match["ap"] and re.match(r"\s+[A-ZÁÉÍÓÚÑ¿¡]", match.string[match.end() :])
        return said + "." if ends_sentence else said

    spoken = _WRITTEN_CLOCK_ES.sub(clock, _WRITTEN_DAY_ES.sub(day, text))
    return _UNACCENTED.sub(lambda m: _SPOKEN_ACCENTS[m[1]], spoken)


def respell_times(text: str, language: str = Language.EN) -> str:
    """Rewrite written dates and clock times ('Fri, Dec 4', '3:00 PM') into spoken ones.

    Spanish: 'el viernes 4 de diciembre a las 3:00 p. m.' -> 'el viernes cuatro de
    diciembre a las tres de la tarde', in place: the article is the sentence's own.
    """
    if language == Language.ES:
        return _respell_times_es(text)

    def day(match: re.Match) -> str:
        return f"{DAY_NAMES[match['dow']]}, {MONTH_NAMES[match['month']]} {ordinal_words(int(match['day']))}"

    def clock(match: re.Match) -> str:
        hour, minute = int(match["hour"]), int(match["minute"])
        if not 1 <= hour <= 12 or minute > 59:
            return match[0]
        return format_clock_spoken(time(hour % 12 + (12 if match["ampm"] == "PM" else 0), minute))

    return _WRITTEN_CLOCK.sub(clock, _WRITTEN_DAY.sub(day, text))


def speakable(text: str, language: str = Language.EN) -> str:
    """Text for a `<Say>`: phone numbers digit by digit, no URLs, no 'reply ...' instructions."""
    spanish_text = language == Language.ES
    spoken = (_REPLY_CLAUSE_ES if spanish_text else _REPLY_CLAUSE).sub("", text).strip() or text
    spoken = re.sub(r";(\s+[A-Z¿¡])|;\s*$", lambda m: "." + (m[1] or ""), spoken)  # a clause went missing after it
    spoken = _URL.sub("nuestro sitio web" if spanish_text else "our website", spoken)
    spoken = _PHONE.sub(lambda m: spoken_phone(m[0]), spoken)
    spoken = _SHORT_NUMBERS.sub(lambda m: " ".join(m[1]), spoken)
    return re.sub(r"\s{2,}", " ", respell_times(spoken, language)).strip()


# --- what callers say --------------------------------------------------------

_CHOICE_WORDS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5",
    "1st": "1", "2nd": "2", "3rd": "3", "4th": "4", "5th": "5",
    "to": "2", "too": "2", "for": "4", "won": "1",  # how recognisers hear a lone number
}  # fmt: skip
_CHOICE_FILLERS = {"number", "option", "choice", "the", "please", "i", "want", "ill", "take", "id", "like", "one"}
_CHOICE_WORDS_ES = {
    "uno": "1", "una": "1", "dos": "2", "tres": "3", "cuatro": "4", "cinco": "5",
    "primero": "1", "primera": "1", "segundo": "2", "segunda": "2", "tercero": "3", "tercera": "3", "tercer": "3",
    "cuarto": "4", "cuarta": "4", "quinto": "5", "quinta": "5",
}  # fmt: skip
# Not "a": "a la una" is a time, not the first option.
_CHOICE_FILLERS_ES = {
    "el", "la", "lo", "numero", "opcion", "por", "favor", "quiero", "me", "quedo", "con", "deme", "esa", "ese",
    "de", "prefiero", "mejor", "pues", "este",
}  # fmt: skip


def spoken_choice(transcript: str, language: str = Language.EN) -> str | None:
    """'Two.', 'number two', 'the second one', 'option 3' -> '2'; None when it is not just a choice.

    Spanish: 'dos', 'la segunda', 'opción 3', 'el número uno por favor'; 'a la una' is a time, not a choice.
    """
    if language == Language.ES:
        words = re.sub(r"[^a-z0-9 ]", " ", spanish.fold(transcript)).split()
        picks = [_CHOICE_WORDS_ES.get(word, word) for word in words if word not in _CHOICE_FILLERS_ES]
        return picks[0] if len(picks) == 1 and picks[0].isdigit() and len(picks[0]) == 1 else None
    words = re.sub(r"[^a-z0-9 ]", " ", transcript.lower().replace("'", "")).split()
    if words in (["one"], ["number", "one"], ["option", "one"]):
        return "1"
    # "one" is filler in "the second one"; a lone number word is the choice.
    picks = [_CHOICE_WORDS.get(word, word) for word in words if word not in _CHOICE_FILLERS]
    if len(picks) == 1 and picks[0].isdigit() and len(picks[0]) == 1:
        return picks[0]
    return None


def keypad_text(digits: str) -> str:
    """What keypad digits mean to the bot: 8 digits are a date of birth (MMDDYYYY)."""
    if len(digits) == 8 and digits.isdigit():
        month, day, year = digits[:2], digits[2:4], digits[4:]
        if 1 <= int(month) <= 12 and 1 <= int(day) <= 31:
            # The written form the model knows best as a date of birth.
            return f"{month}/{day}/{year}"
    return digits
