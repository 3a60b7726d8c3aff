"""How a referral is named to its patient, in each language (never by its clinical reason)."""

from relay.language.languages import Language
from relay.models import Referral

_KINDS = {
    Language.EN: {
        "self": "self-referral",
        "emergency": "urgent referral",
        "second_opinion": "second-opinion referral",
        "follow_up": "follow-up referral",
    },
    Language.ES: {
        "self": "solicitud de cita",
        "emergency": "referido urgente",
        "second_opinion": "referido para una segunda opinion",
        "follow_up": "referido de seguimiento",
    },
}
_FROM_PROVIDER = {Language.EN: "referral from {name}", Language.ES: "referido de {name}"}
_PLAIN = {Language.EN: "referral", Language.ES: "referido"}


def referral_kind(referral: Referral, language: Language = Language.EN) -> str:
    """'referral from Dr. Lee', 'second-opinion referral', 'referido urgente': the referral by its type."""
    if referral.type == "provider" and referral.referring_provider is not None:
        return _FROM_PROVIDER[language].format(name=referral.referring_provider.name)
    return _KINDS[language].get(referral.type, _PLAIN[language])
