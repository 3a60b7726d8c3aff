"""What to tell a verified patient about a referral: status and next step.

Returns Rasa response names with their variables, so the words live in the
bot's domain (with SMS and voice variations) while the facts come from here.
Nothing here may read `Referral.reason`: it never leaves the clinic by text
or voice.
"""

from dataclasses import dataclass, field
from datetime import date, datetime

from relay.core.phones import pretty
from relay.language.languages import Language, language_of
from relay.language.naming import referral_kind
from relay.language.spanish import sms_spelling
from relay.language.specialties import specialty_name
from relay.language.spoken import format_day_spoken, format_when_spoken
from relay.language.timefmt import format_day, format_when
from relay.models import Clinic, Patient, Referral, Specialist
from relay.models.referral import OPEN_REFERRAL_STATUSES, AuthorizationStatus, ReferralStatus, ReferralType

# Choosing among several referrals lives in relay.referrals.choosing; still importable from here.
from relay.referrals.choosing import choice_label as choice_label
from relay.referrals.choosing import choice_options as choice_options
from relay.referrals.choosing import pick_referral as pick_referral


@dataclass(frozen=True)
class Reply:
    response: str
    variables: dict[str, str] = field(default_factory=dict)


def referrals_to_discuss(patient: Patient) -> list[Referral]:
    """The open referrals; failing those, the most recent one, whatever its status."""
    open_ones = [r for r in patient.referrals if r.status in OPEN_REFERRAL_STATUSES]
    if open_ones:
        return open_ones
    return sorted(patient.referrals, key=lambda r: (r.received_on, r.id))[-1:]


_BRING = {
    Language.EN: {
        ReferralType.SECOND_OPINION: "your ID, insurance card and your earlier test results and reports",
        ReferralType.FOLLOW_UP: "your ID, insurance card and your hospital discharge papers",
        None: "your photo ID and insurance card",
    },
    Language.ES: {
        ReferralType.SECOND_OPINION: "su identificación, su tarjeta del seguro y sus resultados y reportes anteriores",
        ReferralType.FOLLOW_UP: "su identificación, su tarjeta del seguro y sus papeles de alta del hospital",
        None: "su identificación con foto y su tarjeta del seguro",
    },
}
# The words a reply needs when the record has nothing better: (English, Spanish as spoken).
_FALLBACKS = {
    "payer": ("your insurance", "su seguro"),
    "submitted_date": ("recently", "recientemente"),
    "when": ("your last visit", "su última visita"),
}


def what_to_bring(referral: Referral, language: str = Language.EN, *, spoken: bool = False) -> str:
    """What the patient brings, by referral type (the specialist's own prep is separate)."""
    words = _BRING[language_of(language)]
    return _spelled(words.get(referral.type, words[None]), language, spoken=spoken)


def _spelled(text: str, language: str, *, spoken: bool) -> str:
    """Spanish for a text loses the accents GSM-7 lacks; the voice keeps them."""
    return text if spoken or language_of(language) != Language.ES else sms_spelling(text)


def specialist_prep(specialist: Specialist, language: str = Language.EN, *, spoken: bool = False) -> str | None:
    """What the specialist asks the patient to do before the visit, in the patient's language where the
    directory has it, else in English. (Unmarked: "(en inglés)" before it made the demo's Spanish
    appointment replies three SMS segments where the English ones take two.)"""
    if language_of(language) == Language.ES and specialist.prep_es:
        return _spelled(specialist.prep_es, language, spoken=spoken)
    return specialist.prep


def _fallback(what: str, language: str, *, spoken: bool) -> str:
    english, spanish = _FALLBACKS[what]
    return _spelled(spanish, language, spoken=spoken) if language_of(language) == Language.ES else english


def status_replies(
    referral: Referral, clinic: Clinic, now: datetime, *, spoken: bool = False, language: str = Language.EN
) -> list[Reply]:
    """The replies for this referral; `spoken` words dates and times for a call, `language` for the patient."""
    specialist = referral.specialist
    tz = clinic.timezone
    lang = language_of(language)

    def when_text(moment: datetime) -> str:
        return format_when_spoken(moment, tz, lang) if spoken else format_when(moment, tz, lang)

    def day_text(day: date) -> str:
        return format_day_spoken(day, lang) if spoken else format_day(day, lang)

    base = {
        "specialist": specialist.name,
        "specialty": specialty_name(specialist.specialty, lang, spoken=spoken),
        "facility": specialist.facility,
        "specialist_phone": pretty(specialist.phone),
        "clinic_phone": pretty(clinic.sms_number),
        "referral_kind": referral_kind(referral, lang),
        "bring": what_to_bring(referral, lang, spoken=spoken),
    }
    appointment = referral.current_appointment
    when = {"when": when_text(appointment.start_at) if appointment else _fallback("when", lang, spoken=spoken)}
    status = referral.status

    if status == ReferralStatus.RECEIVED:
        if referral.is_emergency:
            return [Reply("utter_status_received_emergency", base)]
        return [Reply("utter_status_received", base | {"received_date": day_text(referral.received_on)})]
    if status == ReferralStatus.AUTHORIZATION_PENDING:
        payer = referral.patient.insurance_payer or _fallback("payer", lang, spoken=spoken)
        if referral.authorization_status == AuthorizationStatus.DENIED:
            return [Reply("utter_status_authorization_denied", base | {"payer": payer})]
        submitted = referral.authorization_submitted_on
        submitted_date = day_text(submitted) if submitted else _fallback("submitted_date", lang, spoken=spoken)
        return [Reply("utter_status_authorization_pending", base | {"payer": payer, "submitted_date": submitted_date})]
    if status == ReferralStatus.READY_TO_SCHEDULE:
        return [Reply("utter_status_ready_to_schedule", base)]
    if status == ReferralStatus.SCHEDULED and appointment is not None and appointment.start_at >= now:
        replies = [Reply("utter_status_scheduled", base | when | {"address": specialist.address})]
        prep = specialist_prep(specialist, lang, spoken=spoken)
        if prep:
            replies.append(Reply("utter_appointment_prep", {"prep": prep, "bring": base["bring"]}))
        return replies
    if status in (ReferralStatus.COMPLETED, ReferralStatus.SCHEDULED):
        # A "scheduled" referral whose visit is already past is waiting for the
        # EHR to mark it; the patient hears it as done rather than as upcoming.
        return [Reply("utter_status_completed", base | when)]
    if status == ReferralStatus.CANCELLED:
        return [Reply("utter_status_cancelled", base | when)]
    if status == ReferralStatus.NO_SHOW:
        return [Reply("utter_status_no_show", base | when)]
    return [Reply("utter_status_declined", base)]
