"""The patient asks for a person: open a handoff for staff."""

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.common import conversation_for
from relay.clinics import get_clinic
from relay.db import session_scope
from relay.handoffs import open_handoff
from relay.phones import pretty


class ActionRequestHuman(Action):
    def name(self) -> str:
        return "action_request_human"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        with session_scope() as session:
            clinic = get_clinic(session)
            conversation = conversation_for(session, tracker)
            if conversation is not None:
                open_handoff(session, conversation=conversation, reason="patient_request", priority="normal")
            clinic_phone = pretty(clinic.sms_number)
        dispatcher.utter_message(response="utter_handoff_requested", clinic_phone=clinic_phone)
        return []
