"""Short replies to what the clinic itself sent, understood in that context.

"C" after a reminder confirms the appointment the reminder was about, "R"
starts rescheduling it, and a number after a review request is a rating.
These replies answer our own message to the number on file, so they need no
date-of-birth check (DESIGN: verify before disclosing, except replies to our
own outreach). Everything else goes on to the bot as usual.
"""

import re
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from relay.language.languages import Language, language_of
from relay.language.timefmt import format_when
from relay.messaging.handoffs import open_handoff
from relay.models import Appointment, Conversation, PlannedOutreach, Referral, ReviewRating
from relay.models.outreach import APPOINTMENT_KINDS, SENT_STATES, OutreachChannel, OutreachKind
from relay.models.referral import LIVE_APPOINTMENT_STATUSES
from relay.records import audit
from relay.records.clinics import get_clinic
from relay.scheduling.booking import confirm_appointment

# How long after our message a bare "C", "R" or "4" still refers to it.
REPLY_WINDOW = timedelta(days=7)
# The messages after which "R" asks for a new time.
RESCHEDULE_KINDS = APPOINTMENT_KINDS | {
    OutreachKind.SCHEDULING_INVITE,
    OutreachKind.SCHEDULING_NUDGE,
    OutreachKind.NO_SHOW_FOLLOWUP,
    OutreachKind.REBOOK_OFFER,
}
_RATING = re.compile(r"^\s*([1-5])\s*(?:stars?|/\s*5|out of 5|de 5|estrellas?)?\s*[.!]*\s*$", re.IGNORECASE)

TEXTS = {
    Language.EN: {
        "confirmed": "Thank you, your appointment with {specialist} on {when} at {facility} is confirmed.",
        "thanks_review": "Thank you! If you have a minute, please share it in a review: {review_url}",
        "thanks": "Thank you for your feedback!",
        "sorry": "We are sorry your visit was not better. A member of our team will contact you to make it right.",
    },
    Language.ES: {
        "confirmed": "Gracias, su cita con {specialist} el {when} en {facility} esta confirmada.",
        "thanks_review": "Gracias! Si tiene un minuto, comparta su opinion aqui: {review_url}",
        "thanks": "Gracias por su opinion!",
        "sorry": "Sentimos que su visita no fuera mejor. Alguien de nuestro equipo le llamara para ayudarle.",
    },
}


def latest_outreach(session: Session, *, patient_id: int, now: datetime) -> PlannedOutreach | None:
    """The most recent message the clinic sent this patient, if recent enough to be replied to."""
    return session.scalars(
        select(PlannedOutreach)
        .where(
            PlannedOutreach.patient_id == patient_id,
            PlannedOutreach.state.in_(SENT_STATES),
            PlannedOutreach.channel == OutreachChannel.SMS,
            PlannedOutreach.sent_at >= now - REPLY_WINDOW,
        )
        .order_by(PlannedOutreach.sent_at.desc(), PlannedOutreach.id.desc())
        .limit(1)
    ).first()


def answer(session: Session, *, conversation: Conversation, body: str, now: datetime) -> list[str] | None:
    """Replies for a message that answers our outreach; None when it is not such an answer."""
    if conversation.patient is None:
        return None
    outreach = latest_outreach(session, patient_id=conversation.patient.id, now=now)
    if outreach is None:
        return None
    word = body.strip().strip(".!").lower()
    if word in ("c", "confirm") and outreach.kind in APPOINTMENT_KINDS:
        return _confirm(session, outreach=outreach, conversation=conversation, now=now)
    if word == "r" and outreach.kind in RESCHEDULE_KINDS:
        # The bot takes it from here ("R" is a reschedule request to the model);
        # answering our own message counts as verified for this session.
        conversation.verified_at = now
        audit.record(
            session, actor="bot", action="verification.outreach_reply", patient_id=conversation.patient_id,
            conversation_id=conversation.id, details={"outreach_id": outreach.id}, now=now,
        )  # fmt: skip
        return None
    if outreach.kind == OutreachKind.REVIEW_REQUEST and (match := _RATING.match(body)):
        return _rate(session, outreach=outreach, conversation=conversation, rating=int(match.group(1)), now=now)
    return None


def _language(conversation: Conversation) -> Language:
    return language_of(conversation.patient.language if conversation.patient else None)


def _confirm(
    session: Session, *, outreach: PlannedOutreach, conversation: Conversation, now: datetime
) -> list[str] | None:
    appointment = session.get(Appointment, outreach.appointment_id) if outreach.appointment_id else None
    if appointment is None or appointment.status not in LIVE_APPOINTMENT_STATUSES or appointment.start_at <= now:
        return None  # the reminder is stale: let the bot work out what is meant
    confirm_appointment(session, appointment=appointment, now=now, actor="patient:outreach_reply")
    clinic = get_clinic(session)
    specialist = appointment.specialist
    language = _language(conversation)
    return [
        TEXTS[language]["confirmed"].format(
            specialist=specialist.name,
            when=format_when(appointment.start_at, clinic.timezone, language),
            facility=specialist.facility,
        )
    ]


def _rate(
    session: Session, *, outreach: PlannedOutreach, conversation: Conversation, rating: int, now: datetime
) -> list[str] | None:
    if session.scalars(select(ReviewRating).filter_by(outreach_id=outreach.id)).first() is not None:
        return None  # already rated: a second number is something else
    referral = session.get(Referral, outreach.referral_id) if outreach.referral_id else None
    if referral is None:
        return None
    session.add(
        ReviewRating(
            patient_id=conversation.patient_id, specialist_id=referral.specialist_id, referral_id=referral.id,
            outreach_id=outreach.id, rating=rating, at=now,
        )
    )  # fmt: skip
    audit.record(
        session, actor="patient", action="review.rated", patient_id=conversation.patient_id,
        referral_id=referral.id, conversation_id=conversation.id, details={"rating": rating}, now=now,
    )  # fmt: skip
    texts = TEXTS[_language(conversation)]
    if rating >= 4:
        review_url = get_clinic(session).review_url
        return [texts["thanks_review"].format(review_url=review_url) if review_url else texts["thanks"]]
    open_handoff(
        session,
        conversation=conversation,
        reason="service_recovery",
        referral_id=referral.id,
        now=now,
    )
    return [texts["sorry"]]
