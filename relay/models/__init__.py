"""All models, imported here so metadata (and Alembic) sees every table."""

from relay.models.audit import AuditEvent
from relay.models.base import Base, utcnow
from relay.models.call import Call, CallOutcome, CallTurn
from relay.models.clinic import Clinic, ReferringProvider
from relay.models.conversation import Conversation, DeliveryStatus, Message
from relay.models.faq import Faq
from relay.models.handoff import Handoff, HandoffPriority, HandoffStatus
from relay.models.outreach import OutreachChannel, OutreachKind, OutreachState, PlannedOutreach, ReviewRating
from relay.models.patient import ConsentEvent, Patient
from relay.models.referral import (
    Appointment,
    AppointmentStatus,
    AuthorizationStatus,
    Referral,
    ReferralPriority,
    ReferralStatus,
    ReferralType,
)
from relay.models.specialist import BookedSlot, Location, PublishedSlot, Specialist, WeeklyAvailability
from relay.models.staff import StaffRole, StaffSession, StaffUser
from relay.models.sync import FhirSyncCursor

__all__ = [
    "Appointment",
    "AppointmentStatus",
    "AuditEvent",
    "AuthorizationStatus",
    "Base",
    "BookedSlot",
    "Call",
    "CallOutcome",
    "CallTurn",
    "Clinic",
    "ConsentEvent",
    "Conversation",
    "DeliveryStatus",
    "Faq",
    "FhirSyncCursor",
    "Handoff",
    "HandoffPriority",
    "HandoffStatus",
    "Location",
    "Message",
    "OutreachChannel",
    "OutreachKind",
    "OutreachState",
    "Patient",
    "PlannedOutreach",
    "PublishedSlot",
    "Referral",
    "ReferralPriority",
    "ReferralStatus",
    "ReferralType",
    "ReferringProvider",
    "ReviewRating",
    "Specialist",
    "StaffRole",
    "StaffSession",
    "StaffUser",
    "WeeklyAvailability",
    "utcnow",
]
