"""What Spanish-speaking patients ask for, as windows: the same rules as English, said back in Spanish.

Fixed `now`s in the clinic's zone (America/Chicago); every bound is exact.
"""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from relay.language.gsm import is_gsm7
from relay.scheduling.time_windows import parse_time_request

TZ = "America/Chicago"
CHI = ZoneInfo(TZ)

MONDAY_MORNING = datetime(2026, 11, 30, 9, 15, tzinfo=CHI)
FRIDAY_EVENING = datetime(2026, 12, 4, 18, 30, tzinfo=CHI)
SUNDAY = datetime(2026, 12, 6, 11, 0, tzinfo=CHI)
BEFORE_FALL_BACK = datetime(2026, 10, 31, 10, 0, tzinfo=CHI)  # DST ends Sun Nov 1


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CHI).astimezone(UTC)


def window(text: str, now: datetime):
    result = parse_time_request(text, now=now, tz=TZ, language="es")
    assert result is not None, f"{text!r} was not understood"
    return result


# (now, text, start, end, preferred): "now" means the window starts at now.
CASES = [
    # Monday 09:15
    (MONDAY_MORNING, "el martes por la tarde", local(2026, 12, 1, 12), local(2026, 12, 1, 17), None),
    (MONDAY_MORNING, "el martes en la tarde", local(2026, 12, 1, 12), local(2026, 12, 1, 17), None),
    (MONDAY_MORNING, "el martes x la tarde", local(2026, 12, 1, 12), local(2026, 12, 1, 17), None),
    (MONDAY_MORNING, "martes tarde", local(2026, 12, 1, 12), local(2026, 12, 1, 17), None),
    (MONDAY_MORNING, "el monday en la tarde", local(2026, 11, 30, 12), local(2026, 11, 30, 17), None),
    (MONDAY_MORNING, "mañana después de las 3", local(2026, 12, 1, 15), local(2026, 12, 2), None),
    (MONDAY_MORNING, "manana despues de las 3", local(2026, 12, 1, 15), local(2026, 12, 2), None),
    (MONDAY_MORNING, "Mañana dsp d las 3", local(2026, 12, 1, 15), local(2026, 12, 2), None),
    (MONDAY_MORNING, "mañana a partir de las 3", local(2026, 12, 1, 15), local(2026, 12, 2), None),
    (MONDAY_MORNING, "mañana por la mañana", local(2026, 12, 1, 8), local(2026, 12, 1, 12), None),
    (MONDAY_MORNING, "manana en la manana", local(2026, 12, 1, 8), local(2026, 12, 1, 12), None),
    (MONDAY_MORNING, "mañana temprano", local(2026, 12, 1, 8), local(2026, 12, 1, 12), None),
    (MONDAY_MORNING, "pasado mañana", local(2026, 12, 2), local(2026, 12, 3), None),
    (MONDAY_MORNING, "hoy", "now", local(2026, 12, 1), None),
    (MONDAY_MORNING, "esta tarde", local(2026, 11, 30, 12), local(2026, 11, 30, 17), None),
    (MONDAY_MORNING, "la próxima semana", local(2026, 12, 7), local(2026, 12, 14), None),
    (MONDAY_MORNING, "la semana que viene", local(2026, 12, 7), local(2026, 12, 14), None),
    (MONDAY_MORNING, "la semana q viene", local(2026, 12, 7), local(2026, 12, 14), None),
    (MONDAY_MORNING, "la proxima semana por la mañana", local(2026, 12, 7, 8), local(2026, 12, 13, 12), None),
    (MONDAY_MORNING, "este viernes", local(2026, 12, 4), local(2026, 12, 5), None),
    (MONDAY_MORNING, "el próximo martes", local(2026, 12, 1), local(2026, 12, 2), None),
    (MONDAY_MORNING, "el martes que viene", local(2026, 12, 1), local(2026, 12, 2), None),
    (MONDAY_MORNING, "el martes de la semana que viene", local(2026, 12, 8), local(2026, 12, 9), None),
    (MONDAY_MORNING, "el 14", local(2026, 12, 14), local(2026, 12, 15), None),
    (MONDAY_MORNING, "el 14 de diciembre", local(2026, 12, 14), local(2026, 12, 15), None),
    (MONDAY_MORNING, "el 14 a las 9", local(2026, 12, 14), local(2026, 12, 15), local(2026, 12, 14, 9)),
    (MONDAY_MORNING, "el lunes 14 a las 9", local(2026, 12, 14), local(2026, 12, 15), local(2026, 12, 14, 9)),
    (MONDAY_MORNING, "el primero de enero", local(2027, 1, 1), local(2027, 1, 2), None),
    (MONDAY_MORNING, "el 4/12", local(2026, 12, 4), local(2026, 12, 5), None),  # day first
    (MONDAY_MORNING, "a las 9", local(2026, 12, 1), local(2026, 12, 2), local(2026, 12, 1, 9)),  # 9:00 has passed
    (MONDAY_MORNING, "a las 3 de la tarde", "now", local(2026, 12, 1), local(2026, 11, 30, 15)),
    (MONDAY_MORNING, "mañana a las tres y media", local(2026, 12, 1), local(2026, 12, 2), local(2026, 12, 1, 15, 30)),
    (
        MONDAY_MORNING,
        "¿Puede ser el miércoles a las 10:30 a. m.?",
        local(2026, 12, 2),
        local(2026, 12, 3),
        local(2026, 12, 2, 10, 30),
    ),
    (MONDAY_MORNING, "el viernes a la una", local(2026, 12, 4), local(2026, 12, 5), local(2026, 12, 4, 13)),
    (MONDAY_MORNING, "al mediodía", "now", local(2026, 12, 1), local(2026, 11, 30, 12)),
    (MONDAY_MORNING, "antes de las 11", "now", local(2026, 12, 13, 11), None),
    (MONDAY_MORNING, "el viernes antes de las 11", local(2026, 12, 4), local(2026, 12, 4, 11), None),
    (MONDAY_MORNING, "por la tarde", local(2026, 11, 30, 12), local(2026, 12, 13, 17), None),
    (MONDAY_MORNING, "por la noche", local(2026, 11, 30, 17), local(2026, 12, 13, 20), None),
    (MONDAY_MORNING, "el jueves por la noche", local(2026, 12, 3, 17), local(2026, 12, 3, 20), None),
    (MONDAY_MORNING, "temprano", "now", local(2026, 12, 13, 12), None),
    (MONDAY_MORNING, "entre las 2 y las 4", local(2026, 11, 30, 14), local(2026, 12, 13, 16), None),
    (MONDAY_MORNING, "el mie de 2 a 4", local(2026, 12, 2, 14), local(2026, 12, 2, 16), None),
    (MONDAY_MORNING, "el sab", local(2026, 12, 5), local(2026, 12, 6), None),
    (MONDAY_MORNING, "sábado", local(2026, 12, 5), local(2026, 12, 6), None),
    (MONDAY_MORNING, "en dos semanas", local(2026, 12, 14), local(2026, 12, 15), None),
    (MONDAY_MORNING, "q tal el viernes temprano", local(2026, 12, 4, 8), local(2026, 12, 4, 12), None),
    (MONDAY_MORNING, "next martes after 3", local(2026, 12, 1, 15), local(2026, 12, 2), None),  # Spanglish
    (MONDAY_MORNING, "tmrw en la mañana", local(2026, 12, 1, 8), local(2026, 12, 1, 12), None),
    # Friday 18:30: today is over
    (FRIDAY_EVENING, "el viernes", local(2026, 12, 11), local(2026, 12, 12), None),
    (FRIDAY_EVENING, "mañana después de las 3", local(2026, 12, 5, 15), local(2026, 12, 6), None),
    (FRIDAY_EVENING, "esta noche", "now", local(2026, 12, 4, 20), None),
    (FRIDAY_EVENING, "hoy en la noche", "now", local(2026, 12, 4, 20), None),
    # Sunday 11:00
    (SUNDAY, "el próximo martes", local(2026, 12, 8), local(2026, 12, 9), None),
    (SUNDAY, "el 5", local(2027, 1, 5), local(2027, 1, 6), None),
    (SUNDAY, "el fin de semana que viene", local(2026, 12, 12), local(2026, 12, 14), None),
    # The day before DST ends: 15:00 on Sunday is standard time
    (BEFORE_FALL_BACK, "mañana después de las 3", datetime(2026, 11, 1, 21, 0, tzinfo=UTC), local(2026, 11, 2), None),
]


@pytest.mark.parametrize(
    ("now", "text", "start", "end", "preferred"), CASES, ids=[f"{c[0]:%a-%H%M}-{c[1]}" for c in CASES]
)
def test_spanish_phrase_becomes_the_window_patients_mean(now, text, start, end, preferred):
    result = window(text, now)
    expected_start = now.astimezone(UTC) if start == "now" else start
    assert (result.start.astimezone(UTC), result.end.astimezone(UTC)) == (expected_start, end)
    assert (result.preferred.astimezone(UTC) if result.preferred else None) == preferred


def test_two_weekdays_keep_only_those_days():
    result = window("el lunes o el jueves", FRIDAY_EVENING)
    assert result.days == (date(2026, 12, 7), date(2026, 12, 10))


@pytest.mark.parametrize(
    "text",
    ["lo antes posible", "Lo más pronto posible", "lo mas pronto que se pueda", "cuanto antes", "ASAP",
     "la primera cita disponible", "ahorita", "cuando sea"],
)  # fmt: skip
def test_as_soon_as_possible_is_the_next_thirty_days(text):
    result = window(text, MONDAY_MORNING)
    assert result.asap is True
    assert result.start == MONDAY_MORNING
    assert result.end.astimezone(UTC) == local(2026, 12, 30, 9, 15)
    assert result.label == "lo antes posible"


@pytest.mark.parametrize(
    "text",
    ["hola", "sí", "no gracias", "quiero cancelar", "tengo una pregunta", "mi hija tiene cita", "tengo 2 hijos",
     "C", "", "está bien", "quiero hablar con una persona"],
)  # fmt: skip
def test_spanish_without_a_time_is_not_a_window(text):
    assert parse_time_request(text, now=MONDAY_MORNING, tz=TZ, language="es") is None


@pytest.mark.parametrize(
    ("now", "text", "label"),
    [
        (MONDAY_MORNING, "el martes por la tarde", "el martes 1 de diciembre por la tarde"),
        (MONDAY_MORNING, "mañana después de las 3", "el martes 1 de diciembre después de las 3:00 p. m."),
        (MONDAY_MORNING, "el 14 a las 9", "el lunes 14 de diciembre a las 9:00 a. m."),
        (MONDAY_MORNING, "el viernes a la 1", "el viernes 4 de diciembre a la 1:00 p. m."),
        (MONDAY_MORNING, "la proxima semana por la mañana", "la proxima semana por las mañanas"),
        (MONDAY_MORNING, "la próxima semana", "la proxima semana"),
        (MONDAY_MORNING, "por la tarde", "cualquier tarde"),
        (MONDAY_MORNING, "después de las 3", "cualquier dia después de las 3:00 p. m."),
        (MONDAY_MORNING, "el sábado", "el sabado 5 de diciembre"),
        (MONDAY_MORNING, "entre las 2 y las 4", "cualquier dia entre las 2:00 p. m. y las 4:00 p. m."),
        (FRIDAY_EVENING, "el lunes o el martes", "el lunes 7 de diciembre o el martes 8 de diciembre"),
        (SUNDAY, "este fin de semana", "este fin de semana"),
        (MONDAY_MORNING, "el martes 14", "el martes 1 de diciembre o el lunes 14 de diciembre"),  # read both back
    ],
)
def test_label_says_it_back_in_spanish(now, text, label):
    assert window(text, now).label == label


def test_labels_stay_in_gsm7_without_the_accents_it_lacks():
    for now, text, *_ in CASES:
        label = window(text, now).label
        assert is_gsm7(label), (text, label)
        assert not set("áíóú") & set(label), (text, label)


def test_the_language_is_read_from_the_patients_record_code():
    assert window("el martes por la tarde", MONDAY_MORNING).label.startswith("el martes")
    es_mx = parse_time_request("el martes por la tarde", now=MONDAY_MORNING, tz=TZ, language="es-MX")
    assert es_mx is not None and es_mx.label == "el martes 1 de diciembre por la tarde"


def test_english_is_unchanged_by_default_and_in_english():
    english = parse_time_request("tuesday after 3", now=MONDAY_MORNING, tz=TZ)
    assert english is not None and english.label == "Tue, Dec 1 after 3:00 PM"
    assert parse_time_request("tuesday after 3", now=MONDAY_MORNING, tz=TZ, language="en") == english
    # English words in a Spanish conversation are read the same way, and said back in Spanish.
    spanglish = window("tuesday after 3", MONDAY_MORNING)
    assert (spanglish.start, spanglish.end) == (english.start, english.end)
    assert spanglish.label == "el martes 1 de diciembre después de las 3:00 p. m."


def test_a_weekday_that_matches_the_date_only_describes_it():
    # English too: "monday the 14th" is one day, since the 14th is a Monday.
    english = parse_time_request("monday the 14th", now=MONDAY_MORNING, tz=TZ)
    assert english is not None
    assert (english.start.astimezone(UTC), english.end.astimezone(UTC)) == (local(2026, 12, 14), local(2026, 12, 15))
    assert window("el lunes 14", MONDAY_MORNING).days is None
