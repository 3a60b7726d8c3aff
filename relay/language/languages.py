"""Which language a patient is written to: one decision for every reply, message and template.

Patients' records carry whatever the EHR stored ("es", "es-MX", "ES_us",
"spa" ...). Relay has words in English and Spanish; a record in any other
language gets English rather than a guess.
"""

from enum import StrEnum


class Language(StrEnum):
    EN = "en"
    ES = "es"


DEFAULT_LANGUAGE = Language.EN
# By code (ISO 639-1, and the 639-2 codes HL7 feeds use), read once: the planner asks for every patient.
_BY_CODE: dict[str, Language] = {language.value: language for language in Language} | {
    "eng": Language.EN,
    "spa": Language.ES,
}


def language_of(stored: str | None) -> Language:
    """The language we have words in for a stored code: "es", "es-MX", "es_US" are Spanish; others English."""
    code = (stored or "").strip().replace("_", "-").split("-")[0].lower()
    return _BY_CODE.get(code, DEFAULT_LANGUAGE)
