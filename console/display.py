"""How every console page writes a time and a phone number, so that staff read them one way everywhere.

Times: 'Sat, Nov 28 at 7:34 PM' in the clinic's zone (relay.language.timefmt's
words), with the year when it is not this year's, and seconds where the order
of events matters (the audit log). Phones: only the last four digits, in the
shape of the number, '(***) ***-0145': enough for staff to search by and to
confirm who is on the line.
"""

from datetime import datetime

from relay.core.phones import masked_pretty
from relay.language.timefmt import format_day, local
from relay.models import AppointmentStatus, ReferralStatus

# A referral's and an appointment's state in staff's words, the same on every page.
REFERRAL_STATUS_WORDS: dict[str, str] = {
    ReferralStatus.RECEIVED: "Received, not yet reviewed",
    ReferralStatus.AUTHORIZATION_PENDING: "Waiting for insurance approval",
    ReferralStatus.READY_TO_SCHEDULE: "Ready to book",
    ReferralStatus.SCHEDULED: "Booked",
    ReferralStatus.COMPLETED: "Visit done",
    ReferralStatus.CANCELLED: "Cancelled",
    ReferralStatus.NO_SHOW: "Missed the visit",
    ReferralStatus.DECLINED: "Declined",
}
APPOINTMENT_STATUS_WORDS: dict[str, str] = {
    AppointmentStatus.SCHEDULED: "Booked, not yet confirmed",
    AppointmentStatus.CONFIRMED: "Confirmed by the patient",
    AppointmentStatus.CANCELLED: "Cancelled",
    AppointmentStatus.COMPLETED: "Visit done",
    AppointmentStatus.NO_SHOW: "Missed",
}

# A message's delivery state as Twilio (or the dev outbox) last reported it.
DELIVERY_WORDS: dict[str, str] = {
    "pending": "Being sent",
    "not_sent": "Not sent yet: will try again",
    "unconfirmed": "May not have gone out: check",
    "dev_outbox": "Dev outbox (not sent)",
    "accepted": "Accepted by Twilio",
    "scheduled": "Scheduled at Twilio",
    "queued": "Queued at Twilio",
    "sending": "Sending",
    "sent": "Sent",
    "delivered": "Delivered",
    "read": "Read",
    "undelivered": "Not delivered",
    "failed": "Failed",
    "canceled": "Cancelled",
}


def referral_status_words(status: str) -> str:
    return REFERRAL_STATUS_WORDS.get(status, status.replace("_", " "))


def appointment_status_words(status: str) -> str:
    return APPOINTMENT_STATUS_WORDS.get(status, status.replace("_", " "))


VISIBLE_DIGITS = 4


def clinic_when(moment: datetime, tz: str, *, now: datetime | None = None, seconds: bool = False) -> str:
    """'Sat, Nov 28 at 7:34 PM'; 'Sat, Nov 28 at 7:34:05 PM' with seconds; 'Fri, Nov 28, 2025 at ...' when
    `now` is given and the moment falls in another year."""
    at = local(moment, tz)
    day = format_day(at.date())
    if now is not None and local(now, tz).year != at.year:
        day += f", {at.year}"
    clock = f"{at.hour % 12 or 12}:{at.minute:02d}" + (f":{at.second:02d}" if seconds else "")
    return f"{day} at {clock} {'AM' if at.hour < 12 else 'PM'}"


def masked_phone(phone: str | None, *, missing: str = "none on file") -> str:
    """(***) ***-0145: the number's last four digits only, or `missing` when there is none."""
    return masked_pretty(phone, visible=VISIBLE_DIGITS) if phone else missing
