"""Leaving a flow ("never mind"), a question asked inside one, and two requests in one text."""

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import select

from bot.actions.common import is_voice
from bot.actions.flow import conversation_language, run_request
from relay.core.db import session_scope
from relay.core.phones import pretty
from relay.language.spoken import format_when_spoken
from relay.language.timefmt import format_when
from relay.models import Referral, utcnow
from relay.records.clinics import get_clinic
from relay.referrals.patient_requests import upcoming_appointment

# Everything a flow may be holding; "never mind" drops all of it.
FLOW_SLOTS = (
    "pending_request",
    "request_text",
    "referral_choice",
    "dob_text",
    "booking_referral",
    "time_request",
    "slot_choice",
    "offered_slots",
    "cancel_confirmation",
    "optout_confirmation",
    "clinical_handoff_confirmation",
    "next_request",
)


class ActionStopFlow(Action):
    """ "Never mind": whatever was under way is dropped, nothing changed, and the patient is told so."""

    def name(self) -> str:
        return "action_stop_flow"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_flow_stopped")
        return [SlotSet(slot, None) for slot in FLOW_SLOTS]


class ActionRemindAppointment(Action):
    """ "What time is it again?" while choosing a new time: the appointment the booking is about."""

    def name(self) -> str:
        return "action_remind_appointment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        external_id = tracker.get_slot("booking_referral")
        with session_scope() as session:
            clinic = get_clinic(session)
            referral = (
                session.scalars(select(Referral).filter_by(external_id=external_id)).one_or_none()
                if external_id
                else None
            )
            appointment = upcoming_appointment(referral, utcnow()) if referral is not None else None
            if referral is None or appointment is None:
                dispatcher.utter_message(
                    response="utter_no_upcoming_appointment", clinic_phone=pretty(clinic.sms_number)
                )
                return []
            language = conversation_language(tracker)
            when = (
                format_when_spoken(appointment.start_at, clinic.timezone, language)
                if is_voice(tracker)
                else format_when(appointment.start_at, clinic.timezone, language)
            )
            dispatcher.utter_message(
                response="utter_status_scheduled",
                specialist=referral.specialist.name,
                when=when,
                facility=referral.specialist.facility,
                address=referral.specialist.address,
            )
        return []


class ActionStartCancelThenBook(Action):
    """ "Cancel it and book me next week": the cancellation first (it asks YES), the booking after.

    The text is kept in `next_request`; action_cancel_done starts the booking
    from it once the cancellation is confirmed, with the time it names.
    """

    def name(self) -> str:
        return "action_start_cancel_then_book"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        text = tracker.latest_message.get("text") or ""
        return [SlotSet("next_request", text), *run_request("cancel", dispatcher, tracker, text)]
