"""The words of each outreach message, in English and Spanish.

Rules every template keeps (tests/relay/outreach/test_templates.py checks them
on the demo data):
- Logistics only: clinic, specialist, facility, address, date and time, payer.
  Nothing here reads `Referral.reason` (minimum necessary).
- GSM-7 only: straight quotes, no emoji, and Spanish without the accents GSM-7
  lacks (á í ó ú; é ñ ü ¿ ¡ are in it), so "aprobacion", "dia", "llamara".
  Values from the database pass through `gsm_safe`, so a "José Núñez" in the
  directory cannot switch a message to UCS-2.
- At most two segments: each template has a full wording and a compact one;
  the first that fits is sent.
- Never ask for a carrier keyword (STOP, CANCEL, ...) as an answer: C, R, a day
  and time, or 1-5.

Reminders for an appointment the patient has already confirmed say so and
offer only R (asking to confirm again would be noise).
"""

import unicodedata
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from relay.core.phones import pretty
from relay.language.gsm import GSM7, segments
from relay.language.languages import Language, language_of
from relay.language.naming import referral_kind
from relay.language.timefmt import format_day, format_when
from relay.models import Appointment, PlannedOutreach, Referral
from relay.records.clinics import session_clinic

MAX_SEGMENTS = 2
_REPLY_C_OR_R = {
    "en": "Reply C to confirm or R to reschedule.",
    "es": "Responda C para confirmar o R para cambiar la cita.",
}
_REPLY_DAY = {
    "en": "Reply with a day and time that suits you",
    "es": "Responda con el dia y la hora que le convengan",
}

# template -> language -> wordings, longest first.
TEXTS: dict[str, dict[str, tuple[str, ...]]] = {
    "appointment_confirmation": {
        "en": (
            "{clinic}: your appointment with {specialist} is booked for {when} at {facility}, {address}. "
            + _REPLY_C_OR_R["en"],
            "{clinic}: appointment with {specialist} booked for {when}. " + _REPLY_C_OR_R["en"],
        ),
        "es": (
            "{clinic}: su cita con {specialist} es el {when} en {facility}, {address}. " + _REPLY_C_OR_R["es"],
            "{clinic}: cita con {specialist} el {when}. " + _REPLY_C_OR_R["es"],
        ),
    },
    "appointment_reminder": {
        "en": (
            "{clinic} reminder: your appointment with {specialist} is on {when} at {facility}, {address}. "
            + _REPLY_C_OR_R["en"],
            "Reminder: appointment with {specialist} on {when} at {facility}. " + _REPLY_C_OR_R["en"],
        ),
        "es": (
            "Recordatorio de {clinic}: su cita con {specialist} es el {when} en {facility}, {address}. "
            + _REPLY_C_OR_R["es"],
            "Recordatorio: cita con {specialist} el {when} en {facility}. " + _REPLY_C_OR_R["es"],
        ),
    },
    "appointment_reminder_confirmed": {
        "en": (
            "{clinic} reminder: your confirmed appointment with {specialist} is on {when} at {facility}, {address}. "
            "Reply R to reschedule.",
            "Reminder: confirmed appointment with {specialist} on {when} at {facility}. Reply R to reschedule.",
        ),
        "es": (
            "Recordatorio de {clinic}: su cita confirmada con {specialist} es el {when} en {facility}, {address}. "
            "Responda R para cambiar la cita.",
            "Recordatorio: cita confirmada con {specialist} el {when} en {facility}. Responda R para cambiar la cita.",
        ),
    },
    "status_received": {
        "en": (
            "{clinic}: we received your {referral_kind} to {specialist} at {facility}. "
            "We will text you when it is ready to schedule.",
            "{clinic}: we received your referral to {specialist}. We will text you when it is ready to schedule.",
        ),
        "es": (
            "{clinic}: recibimos su {referral_kind} para {specialist} en {facility}. "
            "Le enviaremos un mensaje cuando pueda hacer su cita.",
            "{clinic}: recibimos su referido para {specialist}. Le avisaremos cuando pueda hacer su cita.",
        ),
    },
    "status_received_urgent": {
        "en": (
            "{clinic}: we received your urgent referral to {specialist}. "
            "Our team will call you today to schedule it. Questions? Call {clinic_phone}.",
        ),
        "es": (
            "{clinic}: recibimos su referido urgente para {specialist}. "
            "Nuestro equipo le llamara hoy para hacer la cita. Preguntas: {clinic_phone}.",
        ),
    },
    "status_authorization_pending": {
        "en": (
            "{clinic}: we are asking {payer} for approval of your visit with {specialist}. "
            "We will text you as soon as we hear back.",
        ),
        "es": (
            "{clinic}: estamos pidiendo a {payer} la aprobacion de su visita con {specialist}. "
            "Le avisaremos en cuanto tengamos respuesta.",
        ),
    },
    "status_ready_staff_call": {
        "en": (
            "{clinic}: your visit with {specialist} is ready to schedule. "
            "Our team will call you shortly, or call us at {clinic_phone}.",
        ),
        "es": (
            "{clinic}: ya puede hacer su cita con {specialist}. "
            "Nuestro equipo le llamara pronto, o llame al {clinic_phone}.",
        ),
    },
    "scheduling_invite": {
        "en": (
            "{clinic}: your visit with {specialist} at {facility} is ready to book. "
            + _REPLY_DAY["en"]
            + ', for example "Tuesday afternoon".',
            "{clinic}: your visit with {specialist} is ready to book. " + _REPLY_DAY["en"] + ".",
        ),
        "es": (
            "{clinic}: ya puede hacer su cita con {specialist} en {facility}. "
            + _REPLY_DAY["es"]
            + ', por ejemplo "martes por la tarde".',
            "{clinic}: ya puede hacer su cita con {specialist}. " + _REPLY_DAY["es"] + ".",
        ),
    },
    "scheduling_nudge": {
        "en": (
            "{clinic}: your visit with {specialist} is still waiting to be booked. "
            + _REPLY_DAY["en"]
            + ", or call {clinic_phone}.",
        ),
        "es": (
            "{clinic}: su cita con {specialist} sigue pendiente. " + _REPLY_DAY["es"] + ", o llame al {clinic_phone}.",
        ),
    },
    "no_show_followup": {
        "en": (
            "{clinic}: we missed you at your visit with {specialist} on {day}. "
            + _REPLY_DAY["en"]
            + " and we will find a new time.",
        ),
        "es": (
            "{clinic}: no le vimos en su cita con {specialist} el {day}. "
            + _REPLY_DAY["es"]
            + " y buscaremos otra cita.",
        ),
    },
    "no_show_followup_call": {
        "en": (
            "{clinic}: we missed you at your visit with {specialist} on {day}. "
            "Please call us at {clinic_phone} so we can find a new time soon.",
        ),
        "es": (
            "{clinic}: no le vimos en su cita con {specialist} el {day}. "
            "Llame al {clinic_phone} para buscar otra cita pronto.",
        ),
    },
    "rebook_offer": {
        "en": (
            "{clinic}: your visit with {specialist} on {day} was cancelled, sorry. "
            + _REPLY_DAY["en"]
            + " to book a new one.",
        ),
        "es": (
            "{clinic}: su cita con {specialist} del {day} fue cancelada, lo sentimos. "
            + _REPLY_DAY["es"]
            + " para hacer otra.",
        ),
    },
    "rebook_offer_call": {
        "en": (
            "{clinic}: your visit with {specialist} on {day} was cancelled. "
            "Our team will call you to set a new time, or call us at {clinic_phone}.",
        ),
        "es": (
            "{clinic}: su cita con {specialist} del {day} fue cancelada. "
            "Nuestro equipo le llamara para buscar otra fecha, o llame al {clinic_phone}.",
        ),
    },
    "review_request": {
        "en": ("{clinic}: How was your visit with {specialist}? Reply 1-5 (5 = excellent).",),
        "es": ("{clinic}: ¿Como fue su visita con {specialist}? Responda del 1 al 5 (5 = excelente).",),
    },
    # Not a text: the note on the staff's handoff, should the sender want one.
    "leakage_handoff": {
        "en": ("Referral {referral_id} is ready to schedule and has not been booked. Please call the patient.",),
    },
}

_PUNCTUATION = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2026": "...",
}


def compose(session: Session, outreach: PlannedOutreach) -> str:
    """The body, for a row the caller has just found still applies (the sender checks that first)."""
    language = language_of(outreach.language)
    appointment = session.get(Appointment, outreach.appointment_id) if outreach.appointment_id else None
    if appointment is not None:
        referral = appointment.referral
    elif outreach.referral_id is not None:
        referral = session.get_one(Referral, outreach.referral_id)
    else:
        raise ValueError(f"outreach {outreach.id} names neither an appointment nor a referral to word")
    template = outreach.template
    if template == "appointment_reminder" and appointment is not None and appointment.status == "confirmed":
        template = "appointment_reminder_confirmed"
    wordings = TEXTS[template].get(language) or TEXTS[template]["en"]
    return fit(wordings, message_values(session, referral=referral, appointment=appointment, language=language))


def message_values(
    session: Session, *, referral: Referral, appointment: Appointment | None, language: Language
) -> dict[str, str]:
    """Everything a template may name; deliberately nothing clinical."""
    clinic = session_clinic(session)
    specialist = referral.specialist
    if appointment is None:
        appointment = referral.current_appointment
    values = {
        "clinic": clinic.name,
        "clinic_phone": pretty(clinic.sms_number),
        "specialist": specialist.name,
        "facility": specialist.facility,
        "address": specialist.address,
        "payer": referral.patient.insurance_payer or ("su seguro" if language == Language.ES else "your insurance"),
        "referral_kind": referral_kind(referral, language),
        "referral_id": referral.external_id,
        "when": "",
        "day": "",
    }
    if appointment is not None:
        values["when"] = format_when(appointment.start_at, clinic.timezone, language)
        values["day"] = format_day(appointment.start_at.astimezone(ZoneInfo(clinic.timezone)).date(), language)
    return {name: gsm_safe(value) for name, value in values.items()}


def fit(wordings: tuple[str, ...], values: dict[str, str]) -> str:
    """The first wording that fits two segments of GSM-7 (the shortest if none does)."""
    texts = [gsm_safe(wording.format(**values)) for wording in wordings]
    for text in texts:
        if segments(text) <= MAX_SEGMENTS:
            return text
    return min(texts, key=len)


def gsm_safe(text: str) -> str:
    """The text in GSM-7: accents GSM-7 lacks dropped (á -> a), typographic quotes and dashes made plain."""
    if GSM7.issuperset(text):
        return text  # nearly always, and checked far faster than char by char
    out = []
    for char in text:
        if char in GSM7:
            out.append(char)
        elif char in _PUNCTUATION:
            out.append(_PUNCTUATION[char])
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", char) if c in GSM7)
            out.append(base or "?")
    return "".join(out)
