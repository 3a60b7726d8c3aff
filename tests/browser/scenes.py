"""Data that console pages show in browser tests: handoffs of every priority, and one busy patient's day."""

from datetime import timedelta

from sqlalchemy import select

from relay.core.db import session_scope
from relay.messaging.handoffs import open_handoff, resolve
from relay.models import (
    AppointmentStatus,
    Call,
    CallOutcome,
    CallTurn,
    Conversation,
    HandoffPriority,
    OutreachKind,
    OutreachState,
    Patient,
    PlannedOutreach,
    Referral,
)
from relay.records import consent, conversations
from tests.console.support import Clock, make_account
from tests.fake_rasa import FakeRasa

JAMES, AISHA, TOM, UNKNOWN = "+13125550145", "+13125550146", "+13125550151", "+13125550199"


def _say(conversation: Conversation, session, body: str, at, *, direction: str = "inbound", author: str = "patient",
         channel: str = "sms", **values):  # fmt: skip
    return conversations.record_message(session, conversation=conversation, direction=direction, channel=channel,
                                        author=author, body=body, now=at, **values)  # fmt: skip


def handoffs_of_every_priority(clock: Clock) -> dict[str, int]:
    """An urgent, a high, a normal one claimed by Kim Park with its referral, and an unknown number."""
    kim = make_account(clock, email="kim@clinic.example", name="Kim Park")
    now = clock.now
    opened = {}
    with session_scope() as session:
        for phone, reason, priority, minutes in [
            (AISHA, "emergency_medical", HandoffPriority.URGENT, 2),
            (TOM, "verification_locked", HandoffPriority.HIGH, 10),
            (JAMES, "patient_request", HandoffPriority.NORMAL, 180),
            (UNKNOWN, "something_new", HandoffPriority.NORMAL, 40),
        ]:
            conversation = conversations.find_or_open(session, phone=phone)
            handoff = open_handoff(session, conversation=conversation, reason=reason, priority=priority,
                                   now=now - timedelta(minutes=minutes))  # fmt: skip
            if phone == JAMES:
                handoff.referral_id = session.scalars(select(Referral.id).filter_by(external_id="RF-2001")).one()
                handoff.assigned_to_id = kim.id
                handoff.claimed_at = now - timedelta(minutes=170)
            opened[phone] = handoff.id
    return opened


def busy_handoff(clock: Clock) -> int:
    """James Carter's open handoff after a day of texts, a delivered reminder, STOP and START, an earlier
    handoff that was resolved, a call transferred to a front desk that did not answer, and more texts."""
    now = clock.now
    kim = make_account(clock, email="kim@clinic.example", name="Kim Park")
    with session_scope() as session:
        conversation = conversations.find_or_open(session, phone=JAMES)
        patient = session.scalars(select(Patient).filter_by(phone=JAMES)).one()
        referral = session.scalars(select(Referral).filter_by(external_id="RF-2001")).one()
        reminder = _say(conversation, session, "Reminder: your visit with Dr. Amara Okafor is in 3 days. Reply C to "
                        "confirm.", now - timedelta(hours=5), direction="outbound", author="system",
                        twilio_sid="SMreminder", delivery_status="delivered")  # fmt: skip
        session.add(PlannedOutreach(kind=OutreachKind.REMINDER, patient_id=patient.id, referral_id=referral.id,
                                    template="appointment_reminder", due_at=now - timedelta(hours=5),
                                    state=OutreachState.DELIVERED, idempotency_key="browser-reminder",
                                    sent_at=now - timedelta(hours=5), message_id=reminder.id))  # fmt: skip
        consent.record_consent(session, phone=JAMES, consented=False, source="sms:STOP", now=now - timedelta(hours=4))
        consent.record_consent(session, phone=JAMES, consented=True, source="sms:START", now=now - timedelta(hours=3))
        earlier = open_handoff(session, conversation=conversation, reason="rasa_unavailable",
                               now=now - timedelta(hours=2, minutes=30))  # fmt: skip
        earlier.assigned_to_id = kim.id
        session.flush()
        resolve(session, handoff=earlier, actor=f"staff:{kim.id}", staff_id=kim.id, note="Called back, all good",
                now=now - timedelta(hours=2))  # fmt: skip
        call = Call(call_sid="CAbrowser", conversation_id=conversation.id, started_at=now - timedelta(hours=1),
                    ended_at=now - timedelta(minutes=57), duration_seconds=185,
                    outcome=CallOutcome.TRANSFER_UNANSWERED, status="completed")  # fmt: skip
        session.add(call)
        session.flush()
        _say(conversation, session, "Hello, this is Riverside Family Health.", now - timedelta(minutes=59, seconds=50),
             direction="outbound", author="bot", channel="voice")  # fmt: skip
        heard = _say(conversation, session, "I want to reschedule", now - timedelta(minutes=59), channel="voice",
                     twilio_sid="CAbrowser:1")  # fmt: skip
        session.add_all([
            CallTurn(call_id=call.id, turn=0, input="call", created_at=now - timedelta(hours=1)),
            CallTurn(call_id=call.id, turn=1, input="speech", confidence=0.9, message_id=heard.id,
                     created_at=now - timedelta(minutes=59)),
            CallTurn(call_id=call.id, turn=2, input="silence", created_at=now - timedelta(minutes=58)),
        ])  # fmt: skip
        _say(conversation, session, "when is my appointment", now - timedelta(minutes=40))
        _say(conversation, session, "can I move it to a morning", now - timedelta(minutes=35))
        _say(conversation, session, "are you there? I want to talk to a person", now - timedelta(minutes=30))
        conversation.verified_at = now - timedelta(minutes=18)
        handoff = open_handoff(session, conversation=conversation, reason="voice_transfer_unanswered",
                               referral_id=referral.id, now=now - timedelta(minutes=56))  # fmt: skip
        referral.appointments[-1].status = AppointmentStatus.CONFIRMED
        return handoff.id


def _user_event(text: str, intent: str, confidence: float) -> dict:
    return {"event": "user", "timestamp": 1.0, "text": text,
            "parse_data": {"intent": {"name": intent, "confidence": confidence}, "entities": []}}  # fmt: skip


def remember(fake_rasa: FakeRasa, clock: Clock) -> list:
    """What the bot's tracker holds for James: two offered times, what it understood, and the language it spoke."""
    with session_scope() as session:
        public_id = session.scalars(select(Conversation.public_id).filter_by(phone=JAMES)).one()
    offered = [clock.now + timedelta(days=3, hours=-2), clock.now + timedelta(days=4, hours=-3)]
    fake_rasa.trackers[public_id] = {
        "sender_id": public_id,
        "slots": {
            "offered_slots": [moment.isoformat() for moment in offered],
            "booking_referral": "RF-2001",
            "language": "es",  # he wrote in Spanish: staff answer in it
        },
        "events": [
            _user_event("when is my appointment", "ask_appointment", 0.97),
            _user_event("can I move it to a morning", "reschedule_appointment", 0.88),
            _user_event("are you there? I want to talk to a person", "request_human", 0.93),
        ],
    }
    return offered
