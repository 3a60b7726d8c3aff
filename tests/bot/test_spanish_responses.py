"""Every bot response has a Spanish variation, and it keeps the rules its English one keeps.

The domain (bot/intents/*.yml) is read with yaml alone: no Rasa, no model. A
Spanish variation is one with the condition `language == es` (Rasa's
conditional response variations). Which variation Rasa sends is modelled by
`sent`, in Rasa 3.6's order (rasa/core/nlg/generator.py, ResponseVariationFilter):
conditional + channel, then default + channel, then conditional, then default.

Each rule is a function that lists what breaks it. The real domain must give
empty lists, and the last test breaks a copy of it once per rule, so a green
run means the rules bite.
"""

import copy
import re
from collections.abc import Callable

import pytest
import yaml

from relay.core.settings import PROJECT_ROOT
from relay.inbound.keywords import HELP_WORDS, OPT_OUT_WORDS, SPANISH_OPT_OUT_WORDS
from relay.language.gsm import is_gsm7, non_gsm_characters, segments

INTENTS = PROJECT_ROOT / "bot" / "intents"
MAX_SEGMENTS = 2
Responses = dict[str, list[dict]]

# Realistic long values for every placeholder, as the actions fill them in each language
# (dates as relay.language.timefmt writes them; Spanish values in the SMS spelling).
_SAME = {
    "clinic_name": "Riverside Family Health",
    "clinic_phone": "(312) 555-0100",
    "specialist": "Dr. Amara Okafor",
    "specialist_phone": "(312) 555-0170",
    "facility": "Riverside Behavioral Health",
    "address": "1200 W Lakeshore Dr, Suite 300, Chicago, IL 60614",
    "payer": "Blue Cross Blue Shield of Illinois",
    "attempts_left": "2",
}
VALUES = {
    "en": _SAME
    | {
        "specialty": "behavioral health",
        "when": "Wed, Sep 10 at 10:30 AM",
        "received_date": "Wed, Sep 10",
        "submitted_date": "Wed, Sep 10",
        "referral_kind": "referral from Dr. Farah Iqbal",
        "bring": "your ID, insurance card and your earlier test results and reports",
        "prep": "Remove all metal objects; tell the technician about any implants or pacemaker.",
        "options": "1) behavioral health with Dr. Sam Ellis, 2) cardiology with Dr. Amara Okafor, "
        "3) endocrinology with Dr. Priya Raman",
        "window": "Mon, Sep 8 or Tue, Sep 9",
        "numbers": "1, 2 or 3",
    },
    "es": _SAME
    | {
        "specialty": "imagenes (resonancia magnética)",  # relay.language.specialties, the longest
        "when": "miércoles 10 de septiembre a las 10:30 a. m.",
        "received_date": "miércoles 10 de septiembre",
        "submitted_date": "miércoles 10 de septiembre",
        "referral_kind": "referido para una segunda opinion",
        "bring": "su identificacion, su tarjeta del seguro y sus resultados e informes anteriores",
        "prep": "Quitese todos los objetos de metal; avise al técnico si tiene implantes o marcapasos.",
        "options": "1) salud conductual con Dr. Sam Ellis, 2) cardiologia con Dr. Amara Okafor, "
        "3) endocrinologia con Dr. Priya Raman",
        "window": "el lunes 8 de septiembre o el martes 9 de septiembre",
        "numbers": "1, 2 o 3",
    },
}
# {options} in the slot offers is three times, one a line.
SLOT_OPTIONS = {
    "en": "1) Wed, Sep 10 at 10:30 AM\n2) Thu, Sep 11 at 11:45 AM\n3) Fri, Sep 12 at 12:15 PM",
    "es": "1) miércoles 10 de septiembre a las 10:30 a. m.\n2) jueves 11 de septiembre a las 11:45 a. m.\n"
    "3) viernes 12 de septiembre a las 12:15 p. m.",
}
SLOT_OFFERS = ("utter_slots_offer", "utter_slots_nearest", "utter_slots_soonest")

# A whole message of one of these is an opt-out (or help) at the carrier: never the answer we ask for.
CARRIER_KEYWORDS = OPT_OUT_WORDS | SPANISH_OPT_OUT_WORDS | HELP_WORDS
_KEYWORD = "|".join(sorted(CARRIER_KEYWORDS))
_ASKS_FOR_KEYWORD = (
    re.compile(rf"\b(?:{_KEYWORD})\b"),  # as written in capitals: "Responda ALTO"
    re.compile(rf"[\"'«](?:{_KEYWORD})[\"'»]", re.IGNORECASE),  # quoted: escriba "baja"
    re.compile(
        rf"\b(?:responda|conteste|escriba|env[ií]e|mande|textee|reply|text)\b\W+(?:con\W+)?(?:{_KEYWORD})\b",
        re.IGNORECASE,
    ),
)
# The SMS spelling of words that always carry an accent: wrong in what a caller hears (the TTS reads it).
_SMS_ONLY_SPELLING = re.compile(
    r"\b(?:dias?|mas|numero|telefono|tambien|aqui|ahi|clinica|linea|automatico|sintomas|habil|habiles"
    r"|proxim[oa]s?|ultim[oa]|todavia|segun|asi|cual|medic[oa]s?|tecnico"
    r"|\w+cion|llamara|respondera|ayudara|comunicara|seguira|buscara|dara|hara|aprobo|asistio|completo"
    r"|digame|escribanos|llamenos)\b",
    re.IGNORECASE,
)

# Dates come as the actions write them: in a text without an article ("miércoles 10 de septiembre",
# timefmt.format_when), which the text puts in front ("el {when}", "del {when}"); on a call with one
# ("el miércoles diez de septiembre", spoken.format_when_spoken), so the voice line has none.
DATES = ("when", "received_date", "submitted_date")
_DATE = re.compile("{(?:" + "|".join(DATES) + ")}")
_ARTICLE = re.compile(r"\b(?:el|del|al)\s+$", re.IGNORECASE)


def load_responses() -> Responses:
    """Every response of the domain except the FAQ retrieval ones (never sent)."""
    responses: Responses = {}
    for path in sorted(INTENTS.glob("*.yml")):
        domain = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        responses |= domain.get("responses") or {}
    return {name: variations for name, variations in responses.items() if not name.startswith("utter_ask_faq/")}


@pytest.fixture(scope="module")
def responses() -> Responses:
    return load_responses()


def language_of(variation: dict) -> str:
    conditions = variation.get("condition") or []
    spanish = [c for c in conditions if (c.get("type"), c.get("name"), c.get("value")) == ("slot", "language", "es")]
    return "es" if spanish and len(spanish) == len(conditions) else "en" if not conditions else "other"


def sent(variations: list[dict], language: str, channel: str) -> dict | None:
    """The variation Rasa 3.6 sends on `channel` ('sms' or 'voice') when the slot `language` is `language`."""

    def matching(lang: str, on_channel: bool) -> list[dict]:
        return [
            v
            for v in variations
            if language_of(v) == lang and (v.get("channel") == channel if on_channel else v.get("channel") is None)
        ]

    spanish = language == "es"
    for found in (
        matching("es", True) if spanish else [],
        matching("en", True),
        matching("es", False) if spanish else [],
        matching("en", False),
    ):
        if found:
            return found[0]
    return None


def spanish_variations(variations: list[dict]) -> list[dict]:
    return [v for v in variations if language_of(v) == "es"]


def counterpart(variations: list[dict], spanish: dict) -> dict | None:
    """The English variation a Spanish one stands for: what an English patient gets on the same channel."""
    return sent(variations, "en", spanish.get("channel") or "sms")


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"{(\w+)}", text))


def filled(name: str, text: str, language: str) -> str:
    values = VALUES[language] | ({"options": SLOT_OPTIONS[language]} if name in SLOT_OFFERS else {})
    missing = placeholders(text) - values.keys()
    assert not missing, f"{name}: no realistic value in the table for {missing}"
    return text.format(**values)


# --- the rules: each lists what breaks it --------------------------------------------------------


def without_spanish(responses: Responses) -> list[str]:
    """(1) A Spanish texter gets a Spanish text; an English one still gets the English one."""
    problems = []
    for name, variations in responses.items():
        if any(language_of(v) == "other" for v in variations):
            problems.append(f"{name}: a variation with a condition other than language == es")
        if not spanish_variations(variations):
            problems.append(f"{name}: no Spanish variation")
        for channel in ("sms", "voice"):
            english = sent(variations, "en", channel)
            if english is None or language_of(english) != "en":
                problems.append(f"{name}: an English patient on {channel} would not get the English variation")
        texted = sent(variations, "es", "sms")
        if texted is None or language_of(texted) != "es":
            problems.append(f"{name}: a Spanish texter would get English")
    return problems


def callers_hearing_english(responses: Responses) -> list[str]:
    """(2) A Spanish caller hears Spanish: wherever English has a voice variation, Spanish has one too."""
    problems = []
    for name, variations in responses.items():
        heard = sent(variations, "es", "voice")
        if heard is None or language_of(heard) != "es":
            # Rasa sends a default voice variation before a conditional one without a channel.
            problems.append(f"{name}: a Spanish caller would hear English (no Spanish voice variation)")
    return problems


def placeholder_mismatches(responses: Responses) -> list[str]:
    """(3) A Spanish variation has exactly the placeholders of its English counterpart (same channel)."""
    problems = []
    for name, variations in responses.items():
        for spanish in spanish_variations(variations):
            english = counterpart(variations, spanish) or {}
            ours, theirs = placeholders(spanish.get("text", "")), placeholders(english.get("text", ""))
            if ours != theirs:
                channel = spanish.get("channel") or "sms"
                problems.append(f"{name} ({channel}): Spanish has {sorted(ours)}, English {sorted(theirs)}")
    return problems


def sms_alphabet_and_length(responses: Responses) -> list[str]:
    """(4) A Spanish text is GSM-7, and fits in 2 segments, filled, wherever the English one does."""
    problems = []
    for name, variations in responses.items():
        for spanish in spanish_variations(variations):
            if spanish.get("channel") is not None:
                continue
            text = spanish.get("text", "")
            if not is_gsm7(text):
                problems.append(f"{name}: not GSM-7: {non_gsm_characters(text)}")
                continue
            english = counterpart(variations, spanish) or {}
            ours = filled(name, text, "es")
            theirs = filled(name, english.get("text", ""), "en")
            if not is_gsm7(ours):
                problems.append(f"{name}: not GSM-7 once filled: {non_gsm_characters(ours)}")
            elif segments(theirs) <= MAX_SEGMENTS < segments(ours):
                problems.append(f"{name}: {segments(ours)} segments ({len(ours)} characters), English fits in 2")
    return problems


def custom_mismatches(responses: Responses) -> list[str]:
    """(5) The `custom` payload (call: end, call: transfer) is the English counterpart's."""
    problems = []
    for name, variations in responses.items():
        for spanish in spanish_variations(variations):
            english = counterpart(variations, spanish) or {}
            if spanish.get("custom") != english.get("custom"):
                channel = spanish.get("channel") or "sms"
                problems.append(f"{name} ({channel}): custom {spanish.get('custom')} != {english.get('custom')}")
    return problems


def carrier_keyword_requests(responses: Responses) -> list[str]:
    """(6) No Spanish variation asks for a carrier keyword (ALTO, CANCELAR, STOP...) as the answer."""
    problems = []
    for name, variations in responses.items():
        for spanish in spanish_variations(variations):
            text = spanish.get("text", "")
            found = [m[0] for pattern in _ASKS_FOR_KEYWORD if (m := pattern.search(text))]
            if found:
                problems.append(f"{name}: asks for a carrier keyword: {found}")
    return problems


def sms_spelling_heard(responses: Responses) -> list[str]:
    """What a Spanish caller hears keeps every accent: no SMS spelling ('dia', 'numero') reaches the TTS."""
    problems = []
    for name, variations in responses.items():
        heard = sent(variations, "es", "voice")
        if heard is not None and language_of(heard) == "es":
            words = sorted({m[0] for m in _SMS_ONLY_SPELLING.finditer(heard.get("text", ""))})
            if words:
                problems.append(f"{name}: a Spanish caller hears the SMS spelling of {words}")
    return problems


def date_articles(responses: Responses) -> list[str]:
    """A text says 'el {when}' (the value has no article); a call says '{when}' (the value brings its own)."""
    problems = []
    for name, variations in responses.items():
        for channel, wants_article in (("sms", True), ("voice", False)):
            variation = sent(variations, "es", channel)
            if variation is None or language_of(variation) != "es":
                continue
            text = variation.get("text", "")
            for date in _DATE.finditer(text):
                if bool(_ARTICLE.search(text[: date.start()])) != wants_article:
                    problems.append(f"{name} ({channel}): {text[max(0, date.start() - 12) : date.end()]!r}")
    return problems


RULES: tuple[Callable[[Responses], list[str]], ...] = (
    without_spanish,
    callers_hearing_english,
    placeholder_mismatches,
    sms_alphabet_and_length,
    custom_mismatches,
    carrier_keyword_requests,
    sms_spelling_heard,
    date_articles,
)


# --- the domain keeps them --------------------------------------------------------------------


def test_the_domain_is_read(responses):
    assert len(responses) > 50
    assert "utter_greet" in responses and "utter_ask_faq/parking" not in responses


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_every_spanish_variation_keeps_the_rule(responses, rule):
    assert rule(responses) == []


def test_the_model_of_rasas_choice():
    variations = [
        {"text": "en sms"},
        {"channel": "voice", "text": "en voice"},
        {"condition": [{"type": "slot", "name": "language", "value": "es"}], "text": "es sms"},
    ]
    assert sent(variations, "en", "sms")["text"] == "en sms"
    assert sent(variations, "es", "sms")["text"] == "es sms"
    # Rasa prefers a default variation for the channel to a conditional one without a channel.
    assert sent(variations, "es", "voice")["text"] == "en voice"
    assert sent(variations[:1] + variations[2:], "es", "voice")["text"] == "es sms"


# --- and the rules bite ---------------------------------------------------------------------


def _spanish(responses: Responses, name: str, channel: str | None) -> dict:
    return next(v for v in spanish_variations(responses[name]) if v.get("channel") == channel)


def _break_coverage(r: Responses) -> str:
    r["utter_booking_stopped"] = [v for v in r["utter_booking_stopped"] if language_of(v) == "en"]
    return "utter_booking_stopped"


def _break_voice(r: Responses) -> str:
    r["utter_goodbye"].remove(_spanish(r, "utter_goodbye", "voice"))
    return "utter_goodbye"


def _break_placeholder(r: Responses) -> str:
    _spanish(r, "utter_status_scheduled", None)["text"] = "Su cita con {specialist} es el {when} en {facility}."
    return "utter_status_scheduled"


def _break_alphabet(r: Responses) -> str:
    _spanish(r, "utter_you_are_welcome", None)["text"] = "De nada. ¿Le puedo ayudar con algo más?"
    return "utter_you_are_welcome"


def _break_length(r: Responses) -> str:
    spanish = _spanish(r, "utter_status_ready_to_schedule", None)
    spanish["text"] += " Si tiene preguntas sobre su cita, por favor llame al {specialist_phone}."
    spanish["text"] = spanish["text"].replace(", o llame al {specialist_phone}", "")
    return "utter_status_ready_to_schedule"


def _break_custom(r: Responses) -> str:
    _spanish(r, "utter_unknown_number", "voice")["custom"] = {"call": "end"}
    return "utter_unknown_number"


def _break_keyword(r: Responses) -> str:
    _spanish(r, "utter_ask_cancel_confirmation", None)["text"] = (
        "¿Quiere cancelar su cita con {specialist} del {when}? Responda CANCELAR para cancelarla."
    )
    return "utter_ask_cancel_confirmation"


def _break_spelling(r: Responses) -> str:
    _spanish(r, "utter_ask_time_request", "voice")["text"] = _spanish(r, "utter_ask_time_request", None)["text"]
    return "utter_ask_time_request"


def _break_article(r: Responses) -> str:
    r["utter_appointment_cancelled"].remove(_spanish(r, "utter_appointment_cancelled", "voice"))
    return "utter_appointment_cancelled"


@pytest.mark.parametrize(
    ("rule", "breaking"),
    [
        (without_spanish, _break_coverage),
        (callers_hearing_english, _break_voice),
        (placeholder_mismatches, _break_placeholder),
        (sms_alphabet_and_length, _break_alphabet),
        (sms_alphabet_and_length, _break_length),
        (custom_mismatches, _break_custom),
        (carrier_keyword_requests, _break_keyword),
        (sms_spelling_heard, _break_spelling),
        (date_articles, _break_article),
    ],
    ids=lambda item: getattr(item, "__name__", ""),
)
def test_each_rule_catches_a_broken_copy(responses, rule, breaking):
    broken = copy.deepcopy(responses)
    name = breaking(broken)
    problems = rule(broken)
    assert problems, f"{rule.__name__} missed the broken {name}"
    assert all(problem.startswith((f"{name}:", f"{name} (")) for problem in problems), problems
