"""Which referral the patient means: numbers, everyday words for specialties, doctors and facilities, two languages.

Pure: the referrals are unsaved model objects built from the demo clinic's own
directory (../shared/demo/clinic.yaml), so every specialty the demo has is here.
"""

import pytest

from relay.language.gsm import is_gsm7
from relay.language.specialties import specialty_name, specialty_of
from relay.models import Referral, Specialist
from relay.referrals.choosing import choice_label, choice_number, choice_options, pick_referral

# The demo clinic's directory: (name, specialty, facility).
DIRECTORY = {
    "okafor": ("Dr. Amara Okafor", "cardiology", "Lakeside Heart Center"),
    "park": ("Dr. Lena Park", "dermatology", "Northshore Dermatology"),
    "silva": ("Dr. Marco Silva", "orthopedics", "West Loop Orthopedics"),
    "raman": ("Dr. Priya Raman", "endocrinology", "Riverside Endocrine Clinic"),
    "imaging": ("Northside Imaging", "imaging (MRI)", "Northside Imaging"),
    "ellis": ("Dr. Sam Ellis", "behavioral health", "Riverside Behavioral Health"),
}


def referral(key: str) -> Referral:
    name, specialty, facility = DIRECTORY[key]
    return Referral(external_id=key, specialist=Specialist(key=key, name=name, specialty=specialty, facility=facility))


def referrals(*keys: str) -> list[Referral]:
    return [referral(key) for key in keys]


ALL = tuple(DIRECTORY)
KEVIN = ("okafor", "park")  # the demo patient with two open referrals


def picked(answer: str, keys: tuple[str, ...] = ALL, **kwargs) -> str | None:
    chosen = pick_referral(answer, referrals(*keys), **kwargs)
    return chosen.external_id if chosen is not None else None


# --- numbers -----------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "2", "2.", "#2", "2)", " 2 ", "number 2", "Number two", "option 2", "the second one", "the 2nd one", "2nd",
        "second", "two", "Two.", "I'll take the second one please", "I mean number 2", "I mean number 2.",
        "el segundo", "la segunda", "la 2", "el 2", "dos", "la dos", "número dos", "opción 2", "la 2da",
        "me quedo con la segunda", "el número 2 por favor",
    ],
)  # fmt: skip
def test_the_second_by_number_in_both_languages(answer):
    assert picked(answer, KEVIN) == "park"


@pytest.mark.parametrize(
    "answer",
    ["1", "one", "number one", "the first one", "first", "uno", "el primero", "la primera", "la uno", "la 1"],
)
def test_the_first_by_number(answer):
    assert picked(answer, KEVIN) == "okafor"


@pytest.mark.parametrize(("answer", "key"), [("3", "silva"), ("the third", "silva"), ("cinco", "imaging"),
                                             ("the last one", "ellis"), ("la ultima", "ellis")])  # fmt: skip
def test_further_down_a_longer_list(answer, key):
    assert picked(answer) == key


@pytest.mark.parametrize(
    "answer",
    [
        "3", "7", "0", "three", "tres",  # not on a list of two
        "1 or 2?", "uno o dos",  # both
        "at 2", "the one at 2", "2pm", "2 pm", "2 p. m.", "10:30", "2/14", "in 2 weeks", "a las 2", "a la 1",
        "a la una", "el 2 de diciembre", "", "   ", "?",
    ],
)  # fmt: skip
def test_numbers_that_are_no_choice_pick_nothing(answer):
    assert picked(answer, KEVIN) is None


def test_numbers_can_be_ignored_for_the_request_text():
    assert picked("can we do tuesday after 2", KEVIN, numbers=False) is None
    assert picked("2", KEVIN, numbers=False) is None
    assert picked("the second one", KEVIN, numbers=False) is None
    assert picked("can we move the skin one to tuesday after 1", KEVIN, numbers=False) == "park"


def test_a_number_and_a_name_that_disagree_pick_nothing():
    assert picked("2, the heart one", KEVIN) is None
    assert picked("1 - dermatology", KEVIN) is None
    assert picked("2, the skin one", KEVIN) == "park"
    assert picked("number 1 with dr okafor", KEVIN) == "okafor"


# --- names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "key"),
    [
        # the issue's own examples
        ("the dermatology one", "park"), ("Dr. Park", "park"), ("the heart doctor", "okafor"),
        ("my skin appointment", "park"),
        # cardiology
        ("cardiology", "okafor"), ("Cardiology!", "okafor"), ("the cardiologist", "okafor"), ("cardio", "okafor"),
        ("el corazón", "okafor"), ("el corazon", "okafor"), ("el cardiólogo", "okafor"), ("la cardióloga", "okafor"),
        ("CARDIOLOGIA", "okafor"),
        # dermatology
        ("derm", "park"), ("the rash one", "park"), ("la de la piel", "park"), ("la dermatóloga", "park"),
        ("dermatologo", "park"), ("dermatología", "park"),
        # orthopedics
        ("ortho", "silva"), ("my knee", "silva"), ("the bone doctor", "silva"), ("joints", "silva"),
        ("el de la rodilla", "silva"), ("hueso", "silva"), ("ortopedia", "silva"), ("orthopedist", "silva"),
        # imaging
        ("the MRI", "imaging"), ("my mri", "imaging"), ("scan", "imaging"), ("the x-ray", "imaging"),
        ("xray", "imaging"), ("la resonancia", "imaging"), ("resonancia magnética", "imaging"),
        ("la radiografía", "imaging"), ("imagen", "imaging"), ("imaging", "imaging"), ("radiology", "imaging"),
        # endocrinology
        ("endo", "raman"), ("hormones", "raman"), ("the thyroid doctor", "raman"), ("la glándula", "raman"),
        ("endocrinólogo", "raman"), ("tiroides", "raman"),
        # behavioral health
        ("therapy", "ellis"), ("counseling", "ellis"), ("mental health", "ellis"), ("terapia", "ellis"),
        ("el psicólogo", "ellis"), ("salud mental", "ellis"), ("psychiatrist", "ellis"), ("behavioral", "ellis"),
        # the doctor, with or without a title, last or full name
        ("Park", "park"), ("dr. park", "park"), ("Dra. Park", "park"), ("doctora Park", "park"),
        ("Dr Park's", "park"), ("the one with Lena Park", "park"), ("Dr. Lena", "park"), ("Okafor", "okafor"),
        ("doctor okafor", "okafor"), ("Amara Okafor", "okafor"), ("silva", "silva"), ("Raman", "raman"),
        ("ellis", "ellis"), ("Dr. Sam Ellis", "ellis"),
        # the facility, whole or by its telling word
        ("Lakeside Heart Center", "okafor"), ("lakeside", "okafor"), ("Northshore", "park"),
        ("west loop", "silva"), ("Northside Imaging", "imaging"), ("northside", "imaging"),
        ("Riverside Endocrine Clinic", "raman"), ("Riverside Behavioral Health", "ellis"),
    ],
)  # fmt: skip
def test_by_name_among_all_demo_specialties(answer, key):
    assert picked(answer) == key


@pytest.mark.parametrize(
    "answer",
    [
        "parking", "Parker", "sparkle",  # "park" only as a whole word
        "the doctor", "my appointment", "the visit", "Dr.", "la cita", "back", "test",
        "Riverside",  # two facilities
        "the heart one, not the skin one",  # two specialties
        "hear", "skinny", "carding", "endorse", "scandal", "mrs",
    ],
)  # fmt: skip
def test_words_that_name_no_single_referral(answer):
    assert picked(answer) is None


def test_park_is_a_whole_word():
    assert picked("parking garage", KEVIN) is None
    assert picked("Dr. Parker", KEVIN) is None
    assert picked("is it the park one", KEVIN) == "park"


def test_the_more_specific_name_wins_between_two_of_one_specialty():
    smith = Referral(
        external_id="smith",
        specialist=Specialist(key="smith", name="Dr. John Smith", specialty="cardiology", facility="Mercy Hospital"),
    )
    both = [referral("okafor"), smith]
    assert pick_referral("cardiology with Dr. Smith", both) is smith
    assert pick_referral("the heart one", both) is None  # two cardiology referrals: ask again
    assert pick_referral("okafor", both).external_id == "okafor"


def test_two_referrals_to_one_specialist_need_the_number():
    twice = [referral("okafor"), referral("okafor")]
    assert pick_referral("Dr. Okafor", twice) is None
    assert pick_referral("2", twice) is twice[1]


def test_a_single_referral_is_picked_only_when_named():
    assert picked("1", ("park",)) == "park"
    assert picked("skin", ("park",)) == "park"
    assert picked("heart", ("park",)) is None
    assert pick_referral("1", []) is None


def test_a_directory_with_unknown_specialty_still_matches_its_own_words():
    podiatry = Referral(
        external_id="foot",
        specialist=Specialist(key="lee", name="Dr. Ana Lee, DPM", specialty="podiatry", facility="Foot Care Center"),
    )
    both = [referral("okafor"), podiatry]
    assert pick_referral("podiatry", both) is podiatry
    assert pick_referral("dr lee", both) is podiatry
    assert pick_referral("Foot Care", both) is podiatry


# --- choice_number: an answer that is only a choice (offered times) ----------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("1", 1), ("2", 2), ("3", 3), ("option 2", 2), ("#3", 3), ("the second one", 2), ("the 2nd one", 2),
        ("la segunda", 2), ("opción 3", 3), ("el número uno por favor", 1), ("tres", 3), ("one", 1),
        ("4", None), ("0", None), ("at 2", None), ("2pm", None), ("1:30", None), ("the 3rd", None),
        ("tuesday", None), ("the 1:30 one", None), ("a la una", None), ("el primero de diciembre", None), ("", None),
    ],
)  # fmt: skip
def test_choice_number(answer, expected):
    assert choice_number(answer, 3) == expected


# --- how the choices are listed ------------------------------------------------


def test_options_in_english():
    assert choice_options(referrals(*KEVIN)) == "1) cardiology with Dr. Amara Okafor, 2) dermatology with Dr. Lena Park"
    assert choice_options(referrals(*KEVIN), spoken=True) == (
        "press or say 1 for cardiology with Dr. Amara Okafor, or 2 for dermatology with Dr. Lena Park"
    )


def test_options_in_spanish_sms_are_gsm7():
    options = choice_options(referrals(*ALL), language="es")
    assert options.startswith("1) cardiologia con Dr. Amara Okafor, 2) dermatologia con Dr. Lena Park, 3) ortopedia")
    assert "4) endocrinologia con Dr. Priya Raman" in options
    assert "5) imagenes (resonancia magnética) con Northside Imaging" in options
    assert "6) salud conductual con Dr. Sam Ellis" in options
    assert is_gsm7(options)


def test_options_in_spanish_on_a_call_keep_their_accents():
    assert choice_options(referrals(*KEVIN), spoken=True, language="es") == (
        "marque o diga 1 para cardiología con Dr. Amara Okafor o 2 para dermatología con Dr. Lena Park"
    )


def test_a_spanish_option_names_the_referral_the_patient_can_answer_with():
    # What the list says in Spanish is also understood back.
    for key in ALL:
        label = choice_label(referral(key), "es").split(" con ")[0]
        assert picked(label) == key, label


@pytest.mark.parametrize(
    ("directory", "sms", "spoken"),
    [
        ("cardiology", "cardiologia", "cardiología"),
        ("dermatology", "dermatologia", "dermatología"),
        ("orthopedics", "ortopedia", "ortopedia"),
        ("endocrinology", "endocrinologia", "endocrinología"),
        ("imaging (MRI)", "imagenes (resonancia magnética)", "imágenes (resonancia magnética)"),
        ("radiology", "radiologia", "radiología"),
        ("behavioral health", "salud conductual", "salud conductual"),
        ("psychiatry", "psiquiatria", "psiquiatría"),
        ("Cardiology", "cardiologia", "cardiología"),
        ("podiatry", "podiatry", "podiatry"),  # no Spanish: the directory's English
    ],
)
def test_spanish_specialty_names(directory, sms, spoken):
    assert specialty_name(directory, "es") == sms
    assert specialty_name(directory, "es", spoken=True) == spoken
    assert specialty_name(directory, "en") == directory
    assert is_gsm7(sms)


def test_directory_names_are_recognised_by_field():
    assert specialty_of("Imaging (MRI)") is specialty_of("radiology")
    assert specialty_of("Behavioral Health") is specialty_of("psychiatry")
    assert specialty_of("Orthopaedic Surgery") is specialty_of("orthopedics")
    assert specialty_of("podiatry") is None
