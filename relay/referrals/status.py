"""What to tell a verified patient about a referral: status and next step.

Returns Rasa response names with their variables, so the words live in the
bot's domain (with SMS and voice variations) while the facts come from here.
Nothing here may read `Referral.reason`: it never leaves the clinic by text
or voice.
"""

from dataclasses import dataclass, field
from datetime import datetime

from relay.core.phones import pretty
from relay.language.naming import referral_kind
from relay.language.spoken import format_day_spoken, format_when_spoken, spoken_options
from relay.language.timefmt import format_day, format_when
from relay.models import Clinic, Patient, Referral
from relay.models.referral import OPEN_REFERRAL_STATUSES, AuthorizationStatus, ReferralStatus, ReferralType


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


def choice_label(referral: Referral) -> str:
    return f"{referral.specialist.specialty} with {referral.specialist.name}"


def choice_options(referrals: list[Referral], *, spoken: bool = False) -> str:
    """'1) cardiology with Dr. Amara Okafor, 2) ...'; on a call 'press or say 1 for ..., or 2 for ...'."""
    if spoken:
        return spoken_options([choice_label(r) for r in referrals])
    return ", ".join(f"{n}) {choice_label(r)}" for n, r in enumerate(referrals, start=1))


def pick_referral(answer: str, referrals: list[Referral]) -> Referral | None:
    """Match '2', 'the dermatology one', 'dr park' to one of the listed referrals."""
    text = answer.strip().lower()
    digits = "".join(ch for ch in text if ch.isdigit())
    if digits and digits.isdigit() and 1 <= int(digits) <= len(referrals) and len(digits) <= 2:
        return referrals[int(digits) - 1]
    matches = []
    for referral in referrals:
        words = {referral.specialist.specialty.lower(), referral.specialist.facility.lower()}
        words |= {part.strip(".").lower() for part in referral.specialist.name.split() if len(part) > 3}
        if any(word and word in text for word in words):
            matches.append(referral)
    return matches[0] if len(matches) == 1 else None


def what_to_bring(referral: Referral) -> str:
    """What the patient brings, by referral type (the specialist's own prep is separate)."""
    return {
        ReferralType.SECOND_OPINION: "your ID, insurance card and your earlier test results and reports",
        ReferralType.FOLLOW_UP: "your ID, insurance card and your hospital discharge papers",
    }.get(referral.type, "your photo ID and insurance card")


def status_replies(referral: Referral, clinic: Clinic, now: datetime, *, spoken: bool = False) -> list[Reply]:
    """The replies for this referral; `spoken` words dates and times for a call."""
    specialist = referral.specialist
    tz = clinic.timezone
    when_text, day_text = (format_when_spoken, format_day_spoken) if spoken else (format_when, format_day)
    base = {
        "specialist": specialist.name,
        "specialty": specialist.specialty,
        "facility": specialist.facility,
        "specialist_phone": pretty(specialist.phone),
        "clinic_phone": pretty(clinic.sms_number),
        "referral_kind": referral_kind(referral),
        "bring": what_to_bring(referral),
    }
    appointment = referral.current_appointment
    when = {"when": when_text(appointment.start_at, tz)} if appointment else {"when": "your last visit"}
    status = referral.status

    if status == ReferralStatus.RECEIVED:
        if referral.is_emergency:
            return [Reply("utter_status_received_emergency", base)]
        return [Reply("utter_status_received", base | {"received_date": day_text(referral.received_on)})]
    if status == ReferralStatus.AUTHORIZATION_PENDING:
        payer = referral.patient.insurance_payer or "your insurance"
        if referral.authorization_status == AuthorizationStatus.DENIED:
            return [Reply("utter_status_authorization_denied", base | {"payer": payer})]
        submitted = referral.authorization_submitted_on
        return [
            Reply(
                "utter_status_authorization_pending",
                base | {"payer": payer, "submitted_date": day_text(submitted) if submitted else "recently"},
            )
        ]
    if status == ReferralStatus.READY_TO_SCHEDULE:
        return [Reply("utter_status_ready_to_schedule", base)]
    if status == ReferralStatus.SCHEDULED and appointment is not None and appointment.start_at >= now:
        replies = [Reply("utter_status_scheduled", base | when | {"address": specialist.address})]
        if specialist.prep:
            replies.append(Reply("utter_appointment_prep", {"prep": specialist.prep, "bring": base["bring"]}))
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
