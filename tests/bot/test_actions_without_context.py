"""Actions run when what they look up is gone: a referral deleted since the slot named it,
a sender id with no conversation (or one without a patient). The patient still gets a reply.

The real action classes, a real rasa_sdk Tracker and CollectingDispatcher, the real test
database; no Rasa server: the action is called as the action server's executor calls it.
"""

import asyncio
import uuid
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.utils import call_potential_coroutine
from sqlalchemy import select

from bot.actions.appointments import ActionCancelDone, ValidateCancelForm
from bot.actions.common import ANSWERED_YES
from bot.actions.flow import HANDLERS, Context
from relay.core.db import session_scope
from relay.language.timefmt import format_when
from relay.models import AppointmentStatus, Referral, utcnow
from relay.records.clinics import get_clinic
from relay.records.conversations import find_or_open
from relay.scheduling.booking import cancel_appointment
from tests.bot.test_referral_status_conversation import JAMES, UNKNOWN
from tests.support import demo_moment

CLINIC_PHONE = "(312) 555-0100"
CANCEL_FINISHED = [SlotSet(slot, None) for slot in ("cancel_confirmation", "booking_referral", "next_request")]


def _tracker(sender_id: str, **slots: Any) -> Tracker:
    return Tracker(
        sender_id=sender_id,
        slots=slots,
        latest_message={"text": "yes", "intent": {"name": "affirm", "confidence": 1.0}},
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name=None,
    )


def _run(action: Action, tracker: Tracker) -> tuple[list[dict[str, Any]], list[EventType]]:
    """Run the action as rasa_sdk's executor does; return what it said and its events."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(call_potential_coroutine(action.run(dispatcher, tracker, {})))
    return dispatcher.messages, events


def _conversation_id(phone: str) -> str:
    with session_scope() as session:
        return find_or_open(session, phone=phone).public_id


def _cancel_rf_2001(sender_id: str) -> None:
    """The patient said yes in cancel_form: the validator cancels the appointment."""
    result = ValidateCancelForm().validate_cancel_confirmation(
        "yes", CollectingDispatcher(), _tracker(sender_id, booking_referral="RF-2001"), {}
    )
    assert result == {"cancel_confirmation": ANSWERED_YES}


def test_cancel_done_when_the_referral_in_the_slot_no_longer_exists(fresh_demo):
    tracker = _tracker(_conversation_id(JAMES), booking_referral="RF-9999", cancel_confirmation=ANSWERED_YES)

    messages, events = _run(ActionCancelDone(), tracker)

    assert [(m["response"], m.get("clinic_phone")) for m in messages] == [
        ("utter_no_upcoming_appointment", CLINIC_PHONE)
    ]
    assert events == CANCEL_FINISHED


def test_cancel_done_for_a_sender_id_without_a_conversation(fresh_demo):
    sender_id = uuid.uuid4().hex  # no conversation has this public id
    _cancel_rf_2001(sender_id)
    tracker = _tracker(sender_id, booking_referral="RF-2001", cancel_confirmation=ANSWERED_YES)

    messages, events = _run(ActionCancelDone(), tracker)

    cancelled, unknown = messages
    assert cancelled["response"] == "utter_appointment_cancelled"
    assert cancelled["specialist"] == "Dr. Amara Okafor"
    assert cancelled["when"] == format_when(demo_moment(3, "10:00"), "America/Chicago")
    assert unknown["response"] == "utter_unknown_number"
    assert (unknown["clinic_name"], unknown["clinic_phone"]) == ("Riverside Family Health", CLINIC_PHONE)
    assert events == CANCEL_FINISHED  # no rebooking offered without a patient


def test_cancel_done_for_a_conversation_without_a_patient(fresh_demo):
    sender_id = _conversation_id(UNKNOWN)  # a number with no patient behind it
    _cancel_rf_2001(sender_id)
    tracker = _tracker(sender_id, booking_referral="RF-2001", cancel_confirmation=ANSWERED_YES)

    messages, events = _run(ActionCancelDone(), tracker)

    assert [m["response"] for m in messages] == ["utter_appointment_cancelled", "utter_unknown_number"]
    assert events == CANCEL_FINISHED


def test_confirm_when_the_chosen_referral_has_no_upcoming_appointment(fresh_demo):
    confirm, _ = HANDLERS["confirm"]
    dispatcher = CollectingDispatcher()
    with session_scope() as session:
        now = utcnow()
        conversation = find_or_open(session, phone=JAMES)
        referral = session.scalars(select(Referral).filter_by(external_id="RF-2001")).one()
        appointment = referral.current_appointment
        assert appointment is not None and conversation.patient is not None
        # Cancelled by staff after the referral was chosen.
        cancel_appointment(session, appointment=appointment, now=now, actor="staff")
        ctx = Context(session, get_clinic(session), conversation, conversation.patient, now, dispatcher, _tracker("x"))

        events = confirm(ctx, [referral])

        assert appointment.status == AppointmentStatus.CANCELLED  # not confirmed after all
    assert [(m["response"], m.get("clinic_phone")) for m in dispatcher.messages] == [
        ("utter_no_upcoming_appointment", CLINIC_PHONE)
    ]
    assert events == []
