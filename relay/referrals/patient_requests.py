"""Which of a patient's referrals a request can be about.

"Confirm my appointment" can only mean a referral with an upcoming visit;
"I want to book" only one that can be booked. Asking "which one?" only among
those keeps the question short and the answer unambiguous.
"""

from datetime import datetime

from relay.models import Appointment, Patient, Referral
from relay.models.referral import LIVE_APPOINTMENT_STATUSES, ReferralStatus
from relay.referrals.status import referrals_to_discuss
from relay.scheduling.booking import SELF_SCHEDULABLE_STATUSES


def upcoming_appointment(referral: Referral, now: datetime) -> Appointment | None:
    appointment = referral.current_appointment
    if appointment and appointment.status in LIVE_APPOINTMENT_STATUSES and appointment.start_at > now:
        return appointment
    return None


def candidates(patient: Patient, request: str, now: datetime) -> list[Referral]:
    if request in ("confirm", "cancel"):
        return [r for r in patient.referrals if upcoming_appointment(r, now)]
    if request == "booking":
        bookable = [
            r
            for r in patient.referrals
            if r.status in SELF_SCHEDULABLE_STATUSES
            and (r.status != ReferralStatus.SCHEDULED or upcoming_appointment(r, now))
        ]
        # An emergency referral is listed so the patient hears that the clinic will call.
        return bookable + [
            r for r in patient.referrals if r.is_emergency and r not in bookable and r.status == ReferralStatus.RECEIVED
        ]
    return referrals_to_discuss(patient)
