"""Spanish requests for a time, rewritten in the English words the scheduler reads.

The windows themselves are tested in tests/relay/scheduling/test_time_windows_es.py;
these pin the rewriting, where the traps of Spanish are ("mañana", "de la tarde", "4/12").
"""

import pytest

from relay.language.spanish_times import as_english


@pytest.mark.parametrize(
    "spanish, english",
    [
        ("mañana", "tomorrow"),
        ("por la mañana", "morning"),
        ("mañana por la mañana", "tomorrow morning"),
        ("mañana temprano", "tomorrow morning"),
        ("pasado mañana", "day after tomorrow"),
        ("el martes x la tarde", "el tuesday afternoon"),
        ("manana despues de las 3", "tomorrow after 3"),
        ("a las 3 de la tarde", "at 3pm"),
        ("a las 10 de la mañana", "at 10am"),
        ("el 3 por la tarde", "the 3th afternoon"),  # the 3rd, in the afternoon: not 3 PM
        ("el 14 a las 9", "the 14th at 9"),
        ("el 14 de diciembre", "december 14"),
        ("el 14 de mar", "march 14"),  # after a day number "mar" is March ...
        ("el mar en la tarde", "el tuesday afternoon"),  # ... alone it is Tuesday
        ("4/12", "december 4"),  # day first
        ("12/14", "december 14"),  # no 14th month: month first
        ("entre las 2 y las 4", "between 2 and 4"),
        ("de 9 a 11", "between 9 and 11"),
        ("al mediodía", "at noon"),
        ("antes del mediodia", "before noon"),
        ("a las tres y media", "at 3:30"),
        ("a la una", "at 1"),
        ("a las 15 hrs", "at 15"),
        ("lo antes posible", "asap"),
        ("lo más pronto posible", "asap"),
        ("cuanto antes", "asap"),
        ("la próxima semana", "next week"),
        ("la semana q viene", "next week"),
        ("el fin de semana que viene", "next weekend"),
        ("el próximo martes", "next tuesday"),
        ("el martes que viene", "next tuesday"),
        ("este viernes", "this friday"),
        ("en dos semanas", "in 2 weeks"),
        ("en una semana", "in 1 week"),
        ("esta noche", "tonight"),
        ("el monday en la tarde", "el monday afternoon"),
        ("sab", "saturday"),
        ("mie", "wednesday"),
        ("desde las 2 hasta las 4", "between 2 and 4"),
        ("a las 10 menos cuarto", "at 9:45"),
        ("a las 3 y 15", "at 3:15"),
        ("hasta las 11", "before 11"),
        ("el dia 14", "the 14th"),
        ("el lunes 14", "el monday the 14th"),
        ("dentro de una semana", "in 1 week"),
        ("en 3 días", "in 3 days"),
        ("la siguiente semana", "next week"),
        ("el primer espacio disponible", "first available"),
        ("cualquier día", "whenever"),
        ("mñn x la tarde", "tomorrow afternoon"),
        ("el finde", "this weekend"),
    ],
)
def test_spanish_is_rewritten_in_the_schedulers_words(spanish, english):
    assert as_english(spanish) == english
