"""Spanish words that dates and times are made of: names, numbers, and the two spellings of a text.

Patients write Spanish with or without accents ("miércoles", "miercoles",
"mañana", "manana"), so what they write is read with every accent folded away
(`fold`). What we send follows SPANISH.md: GSM-7 has ñ, é and ü but not á, í,
ó, ú, so a text drops those accents (`sms_spelling`) and the voice keeps them.
"""

import re
import unicodedata

# 0 = Monday. Written for the ear (accents kept); timefmt writes the SMS spelling.
WEEKDAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
MONTHS = (
    "enero", "febrero", "marzo", "abril", "mayo", "junio",
    "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre",
)  # fmt: skip

_NO_GSM_ACCENTS = str.maketrans("áíóúÁÍÓÚ", "aiouAIOU")


def fold(text: str) -> str:
    """Lower case, without any accent or tilde: how patients' words are compared ('Mañana' -> 'manana')."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def sms_spelling(text: str) -> str:
    """Text for an SMS: á í ó ú lose their accent (not in GSM-7); ñ, é, ü stay (SPANISH.md)."""
    return text.translate(_NO_GSM_ACCENTS)


# --- numbers, for the ear ----------------------------------------------------

_UNITS = "cero uno dos tres cuatro cinco seis siete ocho nueve".split()
_TEENS = "diez once doce trece catorce quince dieciséis diecisiete dieciocho diecinueve".split()
_TWENTIES = (
    "veinte veintiuno veintidós veintitrés veinticuatro veinticinco veintiséis veintisiete veintiocho veintinueve"
).split()
_TENS = {3: "treinta", 4: "cuarenta", 5: "cincuenta", 6: "sesenta", 7: "setenta", 8: "ochenta", 9: "noventa"}


def number_words(n: int) -> str:
    """0-99 in Spanish words: 16 -> 'dieciséis', 45 -> 'cuarenta y cinco'."""
    if not 0 <= n <= 99:
        raise ValueError(f"{n} is out of range")
    if n < 10:
        return _UNITS[n]
    if n < 20:
        return _TEENS[n - 10]
    if n < 30:
        return _TWENTIES[n - 20]
    tens, unit = divmod(n, 10)
    return _TENS[tens] + (f" y {_UNITS[unit]}" if unit else "")


def day_words(day: int) -> str:
    """A day of the month as it is said: 'primero' for the 1st (the American usage), else the number."""
    return "primero" if day == 1 else number_words(day)


# --- numbers, from what a caller said ----------------------------------------------

# Folded spellings (no accents), as the speech recogniser or the patient writes them.
_WORD_VALUES = {w: n for n, w in enumerate(fold(" ".join(_UNITS + _TEENS + _TWENTIES)).split())} | {
    "un": 1, "una": 1, "veintiun": 21, "veintiuna": 21,
    "treinta": 30, "cuarenta": 40, "cincuenta": 50, "sesenta": 60, "setenta": 70, "ochenta": 80, "noventa": 90,
}  # fmt: skip
_HUNDREDS = {
    "cien": 100, "ciento": 100, "doscientos": 200, "trescientos": 300, "cuatrocientos": 400, "quinientos": 500,
    "seiscientos": 600, "setecientos": 700, "ochocientos": 800, "novecientos": 900,
}  # fmt: skip
_ORDINALS = {"primero": 1, "primer": 1, "1ro": 1, "1ero": 1}


def _below_hundred(words: list[str], i: int) -> tuple[int, int] | None:
    """'sesenta y ocho', 'diez y seis', 'doce', 'veintiuno' at words[i]: (value, words used)."""
    value = _WORD_VALUES.get(words[i]) if i < len(words) else None
    if value is None:
        return None
    after_y = words[i + 2] if i + 2 < len(words) and words[i + 1] == "y" else ""
    unit = _WORD_VALUES.get(after_y, 0)
    if value % 10 == 0 and value >= 10 and 1 <= unit <= 9:  # "sesenta y ocho", "diez y seis"
        return value + unit, 3
    return value, 1


def _year(words: list[str], i: int) -> tuple[int, int] | None:
    """'mil novecientos sesenta y ocho', 'dos mil uno', and the English way: 'diecinueve sesenta y ocho'."""
    j = i
    if words[j] == "dos" and j + 1 < len(words) and words[j + 1] == "mil":
        value, j = 2000, j + 2
    elif words[j] == "mil":
        value, j = 1000, j + 1
        if j < len(words) and words[j] in _HUNDREDS:
            value, j = value + _HUNDREDS[words[j]], j + 1
    else:
        century = _below_hundred(words, j)
        if century is None or century[0] not in (19, 20):
            return None
        rest = _below_hundred(words, j + century[1])
        if rest is None or rest[0] < 10:
            return None
        return century[0] * 100 + rest[0], century[1] + rest[1]
    rest = _below_hundred(words, j)
    if rest is not None:
        value, j = value + rest[0], j + rest[1]
    return value, j - i


def spoken_numbers_to_digits(text: str) -> str:
    """'cuatro de diciembre de mil novecientos sesenta y ocho' -> '4 de diciembre de 1968' (folded text).

    Words that are not numbers stay. Digits said one at a time are joined when
    they make a whole DDMM or DDMMYYYY ('cero cuatro uno dos' -> '0412').
    """
    words = re.sub(r"[^a-z0-9/ ]", " ", fold(text).replace("-", " ")).split()
    out: list[str] = []
    singles: list[str] = []

    def flush() -> None:
        out.extend(["".join(singles)] if len(singles) in (4, 8) else singles)
        singles.clear()

    i = 0
    while i < len(words):
        word = words[i]
        if word in _ORDINALS:
            flush()
            out.append(str(_ORDINALS[word]))
            i += 1
            continue
        # "cero cuatro uno dos mil ...": a digit that completes a DDMM run is not the "dos" of "dos mil".
        completes_run = len(singles) in (3, 7) and word in _UNITS
        found = None if completes_run else _year(words, i)
        if found is None and word in _UNITS and not (i + 1 < len(words) and words[i + 1] == "y"):
            singles.append(str(_WORD_VALUES[word]))
            i += 1
            continue
        flush()
        found = found or _below_hundred(words, i)
        if found is None:
            out.append(word)
            i += 1
        else:
            out.append(str(found[0]))
            i += found[1]
    flush()
    return " ".join(out)
