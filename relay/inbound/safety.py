"""Emergencies in a text, in English or Spanish, found before the model sees it.

A deterministic phrase matcher, not a classifier: it must work when Rasa is
down, give the same answer every time, and be readable by a clinician. It
leans towards answering: "my appointment is about chest pain follow up" gets
the 911 advice too, because a false alarm costs one extra text and a look by
staff, and a miss can cost a life. What it must not do is derail ordinary
conversation, so it matches specific phrases (never a bare "kill", "die" or
"pain": "kill time", "I'm dying to know" and "the wait is killing me" are not
emergencies) and honours negation scoped to the phrase ("no chest pain
anymore", "I don't have trouble breathing").
"""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from relay.language.spanish import fold
from relay.messaging.handoffs import open_handoff
from relay.models import Conversation, Handoff, HandoffPriority

Category = Literal["medical", "mental_health"]

MEDICAL_REPLY = "If this is a medical emergency, call 911 now. Do not wait for a text reply. Our team has been alerted."
MENTAL_HEALTH_REPLY = (
    "You are not alone. Call or text 988 (Suicide & Crisis Lifeline) now, any time. "
    "If you are in immediate danger, call 911. Our team has been alerted."
)
REPLIES: dict[Category, str] = {"medical": MEDICAL_REPLY, "mental_health": MENTAL_HEALTH_REPLY}
# GSM-7 spelling (no á í ó ú): docs/spanish.md. 988 answers in Spanish too (press 2).
REPLIES_ES: dict[Category, str] = {
    "medical": (
        "Si es una emergencia médica, llame al 911 ahora. No espere una respuesta por mensaje. "
        "Nuestro equipo ya fue avisado."
    ),
    "mental_health": (
        "No esta solo. Llame o escriba al 988 (Linea de Prevencion del Suicidio y Crisis, oprima 2 "
        "para español) ahora, a cualquier hora. Si esta en peligro inmediato, llame al 911. "
        "Nuestro equipo ya fue avisado."
    ),
}


def reply(category: Category, language: str) -> str:
    """The emergency reply in the patient's language ("es" or English)."""
    return (REPLIES_ES if language == "es" else REPLIES)[category]


HANDOFF_REASONS: dict[Category, str] = {
    "medical": "emergency_medical",
    "mental_health": "emergency_mental_health",
}

_BREATHE = r"(?:breathe?|breathing|breth|brethe|brethe?ing)"
# "blood" as in bleeding, not as in "blood work" or "blood pressure".
_BLOOD = r"blood(?! (?:work|tests?|draws?|pressure|sugars?|type|panel|results?|count|levels?))"

# Phrases over normalised text: lower case, apostrophes dropped ("can't" ->
# "cant"), everything else that is not a letter or digit turned into a space.
_MEDICAL = (
    # heart
    r"chest pains?",
    r"pains? in (?:my|the|his|her) chest",
    r"chest (?:is )?(?:hurts?|hurting|tight|tightness|pressure|feels tight|feels heavy)",
    r"(?:pressure|tightness|squeezing) (?:in|on) (?:my|the|his|her) chest",
    r"crushing (?:pain|chest|feeling)",
    r"having a heart attack",
    r"heart attack (?:right )?now",
    # breathing
    rf"(?:cant|cannot|can not|cnt|unable to|hard to|struggling to|struggle to|barely) {_BREATHE}",
    rf"(?:trouble|difficulty|problems?|hard time) {_BREATHE}",
    rf"(?:not|stopped) {_BREATHE}",
    r"short(?:ness)? of breath",
    r"(?:im |is |am )?choking",
    r"throat (?:is )?(?:closing|swelling|swollen)",
    r"anaphyla\w*",
    # stroke
    r"face (?:is )?(?:drooping|droopy|droops?|numb|sagging)",
    r"(?:drooping|droopy) face",
    r"slurr(?:ed|ing) (?:speech|words|my words|his words|her words)",
    r"speech (?:is )?slurred",
    r"(?:having|had) a stroke (?:right )?now",
    r"(?:having|is having|think i am having|think im having) a stroke",
    r"(?:signs|symptoms) of (?:a )?stroke",
    r"numb(?:ness)? on one side",
    r"one side of (?:my|his|her) (?:face|body)",
    r"worst headache",
    # bleeding
    rf"(?:severe|heavy|heavily|serious|uncontrolled|a lot of|lots of) (?:bleeding|{_BLOOD})",
    r"bleeding (?:heavily|badly|a lot|so much|everywhere)",
    r"(?:wont|cant|doesnt|will not|can not|cannot) stop (?:the )?bleeding",
    r"bleeding (?:wont|will not|doesnt|does not) stop",
    rf"(?:coughing|throwing|vomiting|puking) (?:up )?{_BLOOD}",
    # consciousness, seizures, poisoning
    r"passed out",
    r"pass(?:ing)? out",
    r"faint(?:ed|ing)",
    r"blacked out",
    r"(?:lost|losing) consciousness",
    r"unconscious",
    r"unresponsive",
    r"(?:wont|will not) wake up",
    r"(?:cant|can not|cannot) wake (?:him|her|them|my \w+) up",
    r"collapsed",
    r"(?:having|had|is having) a seizure",
    r"seizing",
    r"over ?dos(?:e|ed|es|ing)",
    r"oded",
    r"took (?:too many|a bunch of|a handful of|a lot of|a whole bottle of|the whole bottle of) "
    r"(?:pills|tablets|meds|medications?)",
    r"poisoned",
    # Spanish, compared without accents ("corazón" -> "corazon"): patients text it both ways.
    r"dolor(?:es)? (?:fuerte )?(?:de|en el) pecho",
    r"(?:me|le) duele (?:mucho )?el pecho",
    r"(?:presion|opresion|apreton) en el pecho",
    r"ataque (?:al|del|de) corazon",
    r"(?:un |el )?infarto",
    r"no (?:puedo|puede) respirar",
    r"(?:me cuesta|le cuesta|dificultad para|problemas para|trabajo para) respirar",
    r"(?:me|le) falta (?:el )?aire",
    r"falta de aire",
    r"(?:me|se) (?:estoy |esta )?ahog(?:o|a|ando)",
    r"se (?:me|le) (?:cierra|esta cerrando) la garganta",
    r"(?:un |una )?(?:derrame cerebral|embolia)",
    r"(?:tengo|tiene) la cara (?:caida|dormida|entumida|torcida)",
    r"no (?:puedo|puede) hablar bien",
    r"(?:sangrado|sangre) (?:muy )?(?:fuerte|abundante)",
    r"(?:sangrando|sangra) (?:mucho|demasiado|sin parar)",
    r"no (?:para|deja) de sangrar",
    r"(?:vomitando|vomito|tosiendo|toso) sangre",
    r"(?:me|se) desmay(?:e|o|a|ando)",
    r"(?:perdi|perdio|perdiendo) el conocimiento",
    r"inconsciente",
    # Not "no responde": "el doctor no responde mis mensajes" is a complaint, not an emergency.
    r"no (?:despierta|reacciona)",
    r"convulsion(?:es|ando)?",
    r"sobredosis",
    r"(?:me )?tom(?:e|o) (?:muchas|demasiadas|todas las|un monton de|un frasco de) (?:pastillas|medicinas|pildoras)",
    r"envenenad[oa]",
)

_MENTAL_HEALTH = (
    r"kill(?:ing)? myself",
    r"suicid\w*",
    r"(?:want|wish i could|ready) to die",
    r"wanna die",
    r"(?:wish|if) i (?:was|were) dead",
    r"better off without me",
    r"(?:better off|want to be|wanna be) dead",
    r"end(?:ing)? (?:my life|it all|my own life)",
    r"take my (?:own )?life",
    # Not a bare "hurt myself" or "cut myself": "I hurt myself at the gym" is a referral, not a crisis.
    r"(?:want to|wanna|going to|gonna|thinking about|thoughts of|urge to) (?:hurt|harm|cut) myself",
    r"(?:hurting|cutting) myself",
    r"harm(?:ed|ing)? myself",
    r"self ?harm\w*",
    r"no (?:reason|point) (?:to|in) (?:live|living|going on)",
    r"not worth living",
    # Spanish (without accents)
    r"(?:quiero|me quiero|voy a|pienso en|ganas de) (?:matarme|suicidarme|morirme|quitarme la vida)",
    r"quitarme la vida",
    r"(?:quiero|me quiero) morir",
    r"(?:estaria|estarian|estarias) mejor (?:muert[oa]|sin mi)",
    r"mejor (?:muert[oa]|sin mi)",
    r"(?:hacerme|me hago|me estoy haciendo) dano",
    r"(?:cortarme|me corto|me estoy cortando)",
    r"no vale la pena vivir",
)

# Phrases that carry their own negation: they must never be cancelled by it.
_MENTAL_HEALTH_NEGATIVE_FORM = (
    r"(?:dont|do not|no longer) want to (?:live|be alive|be here|wake up)",
    # not a bare "can't go on": "I can't go on Tuesday" is a scheduling message
    r"(?:cant|cannot|can not) (?:go on (?:like this|living|anymore)|do this anymore|take it anymore)",
    r"no quiero (?:seguir )?vivir",
    r"ya no (?:aguanto|puedo mas)",
)

# A negator cancels a phrase when only these words stand between them:
# "I don't have any chest pain", "not having trouble breathing".
_NEGATORS = frozenset(
    "no not never without dont doesnt didnt isnt arent wasnt werent havent hasnt hadnt wont denies deny nor "
    "nunca sin ni".split()
)
_FILLERS = frozenset(
    "i im have has had having any a an the my more real really feel feeling felt get getting got "
    "experiencing experienced been is am are was were in of with signs sign symptoms "
    "tengo tiene tenia tuve ningun ninguna nada mas ya el la los las un una de del me le siento".split()
)
# ... and so does a resolution right after it: "chest pain is gone", "... anymore".
# ("has gone on for days" is not gone, so "gone" counts only at the end or before "now"/"away").
_RESOLVED = (("anymore",), ("any", "more"), ("went", "away"), ("gone", "away"), ("resolved",), ("gone", "now"))
_RESOLUTION_FILLERS = frozenset("is has have it its now finally completely totally all".split())
_CLAUSE_BREAK = re.compile(r"[.;!?,\n]+|\b(?:but|however|though|although)\b", re.IGNORECASE)


@dataclass(frozen=True)
class _Rule:
    category: Category
    pattern: re.Pattern
    negatable: bool = True


def _compile(category: Category, phrases: tuple[str, ...], *, negatable: bool = True) -> list[_Rule]:
    return [_Rule(category, re.compile(rf"(?<![a-z0-9])(?:{p})(?![a-z0-9])"), negatable) for p in phrases]


_RULES = (
    _compile("medical", _MEDICAL)
    + _compile("mental_health", _MENTAL_HEALTH)
    + _compile("mental_health", _MENTAL_HEALTH_NEGATIVE_FORM, negatable=False)
)


def _clauses(text: str) -> list[str]:
    # fold: lower case without accents, so "corazón" and "corazon" are one word.
    text = fold(text).replace("\u2019", "").replace("\u2018", "").replace("'", "")
    return [" ".join(re.findall(r"[a-z0-9]+", clause)) for clause in _CLAUSE_BREAK.split(text)]


def _negated(clause: str, start: int, end: int) -> bool:
    for word in reversed(clause[:start].split()[-5:]):
        if word in _NEGATORS:
            return True
        if word not in _FILLERS:
            break
    after = clause[end:].split()
    while after and after[0] in _RESOLUTION_FILLERS:
        after.pop(0)
    return after == ["gone"] or any(tuple(after[: len(words)]) == words for words in _RESOLVED)


def match(text: str) -> Category | None:
    """The emergency this message describes, if any.

    Medical wins over mental health when both appear ("I took all my pills, I
    want to die"): an overdose in progress needs 911 first, and the mental
    health reply itself points to 911 only for immediate danger.
    """
    found: set[Category] = set()
    for clause in _clauses(text):
        for rule in _RULES:
            if rule.category in found:
                continue
            for m in rule.pattern.finditer(clause):
                if not (rule.negatable and _negated(clause, m.start(), m.end())):
                    found.add(rule.category)
                    break
    if "medical" in found:
        return "medical"
    return "mental_health" if found else None


def hand_emergency_to_staff(
    session: Session, *, conversation: Conversation, category: Category, now: datetime
) -> Handoff:
    """The urgent handoff every emergency opens, by text or on a call, whether Rasa runs or not."""
    return open_handoff(
        session, conversation=conversation, reason=HANDOFF_REASONS[category], priority=HandoffPriority.URGENT, now=now
    )
