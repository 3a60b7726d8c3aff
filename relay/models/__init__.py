"""All models, imported here so metadata (and Alembic) sees every table."""

from relay.models.audit import AuditEvent
from relay.models.base import Base, utcnow
from relay.models.call import Call, CallTurn
from relay.models.clinic import Clinic, ReferringProvider
from relay.models.conversation import Conversation, Message
from relay.models.faq import Faq
from relay.models.handoff import Handoff
from relay.models.outreach import PlannedOutreach, ReviewRating
from relay.models.patient import ConsentEvent, Patient
from relay.models.referral import Appointment, Referral
from relay.models.specialist import BookedSlot, Specialist, WeeklyAvailability
from relay.models.staff import StaffUser

__all__ = [
    "Appointment",
    "AuditEvent",
    "Base",
    "BookedSlot",
    "Call",
    "CallTurn",
    "Clinic",
    "ConsentEvent",
    "Conversation",
    "Faq",
    "Handoff",
    "Message",
    "Patient",
    "PlannedOutreach",
    "Referral",
    "ReferringProvider",
    "ReviewRating",
    "Specialist",
    "StaffUser",
    "WeeklyAvailability",
    "utcnow",
]
