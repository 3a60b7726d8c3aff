"""Spanish words for dates and times: folding, the SMS spelling, numbers both ways."""

import pytest

from relay.language.gsm import is_gsm7
from relay.language.spanish import day_words, fold, number_words, sms_spelling, spoken_numbers_to_digits


def test_fold_drops_every_accent_for_comparing():
    assert fold("Mañana MIÉRCOLES sábado después") == "manana miercoles sabado despues"


def test_sms_spelling_keeps_only_what_gsm7_has():
    assert sms_spelling("sábado, miércoles, mañana, próxima, día, según, pingüino") == (
        "sabado, miércoles, mañana, proxima, dia, segun, pingüino"
    )
    assert is_gsm7(sms_spelling("¿Qué día le queda mejor? ¡Gracias! Ú Á Í Ó"))


@pytest.mark.parametrize(
    "n, words",
    [(0, "cero"), (1, "uno"), (11, "once"), (16, "dieciséis"), (21, "veintiuno"), (22, "veintidós"),
     (23, "veintitrés"), (30, "treinta"), (31, "treinta y uno"), (45, "cuarenta y cinco"), (59, "cincuenta y nueve")],
)  # fmt: skip
def test_number_words(n, words):
    assert number_words(n) == words


def test_the_first_of_the_month_is_primero():
    assert day_words(1) == "primero"
    assert day_words(2) == "dos"


@pytest.mark.parametrize(
    "said, digits",
    [
        ("cuatro de diciembre de mil novecientos sesenta y ocho", "4 de diciembre de 1968"),
        ("el treinta y uno de diciembre de mil novecientos noventa y nueve", "el 31 de diciembre de 1999"),
        ("primero de enero de dos mil uno", "1 de enero de 2001"),
        ("veintidós de marzo de dos mil", "22 de marzo de 2000"),
        ("diez y seis de mayo del setenta", "16 de mayo del 70"),
        ("diecinueve sesenta y ocho", "1968"),
        ("cero cuatro uno dos mil novecientos sesenta y ocho", "0412 1968"),
        ("uno dos cero cuatro uno nueve seis ocho", "12041968"),
        ("cuatro doce mil novecientos sesenta y ocho", "4 12 1968"),
        ("Veintitrés de Abril", "23 de abril"),
    ],
)
def test_spoken_spanish_numbers_become_digits(said, digits):
    assert spoken_numbers_to_digits(said) == digits
