"""Specialties in the patient's words: their Spanish names, and what patients call them.

The directory (the EHR, the demo clinic) names a specialty in English and in
its own way ("cardiology", "imaging (MRI)", "behavioral health"). A patient
says "the heart doctor", "my skin appointment", "el cardiólogo", "la
resonancia". Each `Specialty` gathers the directory's names for one field of
medicine, what it is called in Spanish, and the everyday words for it in both
languages, folded (lower case, no accents: relay.language.spanish.fold) the
way patients' words are compared.

Everyday words stay specific: "doctor", "visit", "test" or "back" name no
specialty, and a word here picks a referral out of a whole sentence ("I need
to cancel my skin appointment").
"""

import re
from dataclasses import dataclass

from relay.language.languages import Language, language_of
from relay.language.spanish import fold, sms_spelling


@dataclass(frozen=True)
class Specialty:
    names: tuple[str, ...]  # words of the directory's names for it, folded: any one of them identifies it
    spanish: str  # its Spanish name, as the voice says it (accents kept)
    words: tuple[str, ...]  # what patients call it, English and Spanish, folded


SPECIALTIES = (
    Specialty(
        names=("cardiology", "cardiovascular", "cardiac"),
        spanish="cardiología",
        words=(
            "cardiology", "cardiologist", "cardio", "cardiac", "heart",
            "cardiologia", "cardiologo", "cardiologa", "corazon", "cardiaco",
        ),
    ),
    Specialty(
        names=("dermatology",),
        spanish="dermatología",
        words=(
            "dermatology", "dermatologist", "derm", "derma", "skin", "rash",
            "dermatologia", "dermatologo", "dermatologa", "piel", "sarpullido",
        ),
    ),
    Specialty(
        names=("orthopedics", "orthopaedics", "orthopedic", "orthopaedic", "orthopedic surgery"),
        spanish="ortopedia",
        words=(
            "orthopedics", "orthopaedics", "orthopedic", "orthopaedic", "orthopedist", "ortho", "bone", "knee",
            "joint", "hip",
            "ortopedia", "ortopedista", "ortopedico", "ortopedica", "traumatologo", "traumatologa", "traumatologia",
            "hueso", "huesos", "rodilla", "rodillas", "articulacion", "articulaciones", "cadera",
        ),
    ),
    Specialty(
        names=("radiology", "imaging", "mri"),
        spanish="radiología",
        words=(
            "radiology", "radiologist", "imaging", "mri", "scan", "x ray", "xray", "ct", "cat scan", "ultrasound",
            "radiologia", "radiologo", "imagen", "imagenes", "resonancia", "resonancia magnetica", "radiografia",
            "radiografias", "rayos x", "tomografia", "ultrasonido",
        ),
    ),
    Specialty(
        names=("endocrinology", "endocrine", "diabetes"),
        spanish="endocrinología",
        words=(
            "endocrinology", "endocrinologist", "endocrine", "endo", "hormone", "gland", "thyroid", "diabetes",
            "endocrinologia", "endocrinologo", "endocrinologa", "hormona", "hormonas", "glandula", "glandulas",
            "tiroides",
        ),
    ),
    Specialty(
        names=("psychiatry", "behavioral health", "behavioural health", "mental health", "psychology", "counseling"),
        spanish="psiquiatría",
        words=(
            "psychiatry", "psychiatrist", "psych", "psychology", "psychologist", "behavioral health",
            "behavioural health", "mental health", "therapy", "therapist", "counseling", "counselling", "counselor",
            "psiquiatria", "psiquiatra", "psicologia", "psicologo", "psicologa", "salud mental", "terapia",
            "terapeuta", "consejeria", "consejero", "consejera", "salud conductual",
        ),
    ),
)  # fmt: skip

# Directory names whose Spanish is not simply their field's: the demo clinic's, and common variants.
_SPANISH_NAMES = {
    "imaging": "imágenes",
    "imaging (mri)": "imágenes (resonancia magnética)",
    "diagnostic imaging": "imágenes diagnósticas",
    "behavioral health": "salud conductual",
    "behavioural health": "salud conductual",
    "mental health": "salud mental",
    "psychology": "psicología",
    "counseling": "consejería",
    "orthopedic surgery": "cirugía ortopédica",
}


# Words of a directory's specialty name that name no specialty by themselves ("behavioral health").
_NOT_TELLING = {"health", "care", "medicine", "and", "of", "the", "surgery", "general", "clinic", "services"}


def words_of(text: str) -> list[str]:
    """The words of a text as patients' words are compared: folded, without punctuation ('X-ray' -> x, ray)."""
    return re.findall(r"[a-z0-9]+", fold(text))


def _has_phrase(words: list[str], phrase: str) -> bool:
    wanted = phrase.split()
    return any(words[i : i + len(wanted)] == wanted for i in range(len(words) - len(wanted) + 1))


def specialty_of(directory_name: str) -> Specialty | None:
    """The field of medicine a directory's specialty name belongs to, if it is one we have words for."""
    words = words_of(directory_name)
    return next((s for s in SPECIALTIES if any(_has_phrase(words, name) for name in s.names)), None)


def specialty_words(directory_name: str) -> tuple[str, ...]:
    """Every word or phrase (folded) a patient may use for this specialty: its own name's words and everyday ones."""
    specialty = specialty_of(directory_name)
    own = tuple(dict.fromkeys(w for w in words_of(directory_name) if w not in _NOT_TELLING and len(w) > 1))
    return own + (specialty.words if specialty else ()) + ((fold(specialty.spanish),) if specialty else ())


def specialty_name(directory_name: str, language: str = Language.EN, *, spoken: bool = False) -> str:
    """The specialty as the patient reads or hears it: the directory's words in English, Spanish in Spanish.

    A text drops the accents GSM-7 lacks ("cardiologia"); a call keeps them
    ("cardiología"). A specialty we have no Spanish for keeps its English name.
    """
    if language_of(language) != Language.ES:
        return directory_name
    specialty = specialty_of(directory_name)
    key = " ".join(directory_name.lower().split())
    spanish = _SPANISH_NAMES.get(key) or (specialty.spanish if specialty else directory_name)
    return spanish if spoken else sms_spelling(spanish)
