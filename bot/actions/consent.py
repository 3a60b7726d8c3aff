"""'Please stop texting me' in the patient's own words: confirm, then opt out.

The exact keywords (STOP, CANCEL, ...) never reach Rasa: the webhook handles
them as Twilio does. Free text is asked about first, since "stop" inside a
sentence is not always a wish to hear nothing more.
"""

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.appointments import ANSWERED_NO, ANSWERED_YES
from bot.actions.common import conversation_for
from relay.core.db import session_scope
from relay.inbound.answers import yes_or_no
from relay.models import utcnow
from relay.records.clinics import get_clinic
from relay.records.consent import record_consent


class ActionStartOptout(Action):
    def name(self) -> str:
        return "action_start_optout"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        return [SlotSet("optout_confirmation", None), FollowupAction("optout_form")]


class ActionAskOptoutConfirmation(Action):
    def name(self) -> str:
        return "action_ask_optout_confirmation"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        with session_scope() as session:
            clinic_name = get_clinic(session).name
        dispatcher.utter_message(response="utter_ask_optout_confirmation", clinic_name=clinic_name)
        return []


class ValidateOptoutForm(FormValidationAction):
    def name(self) -> str:
        return "validate_optout_form"

    def validate_optout_confirmation(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        if value is None or value in (ANSWERED_YES, ANSWERED_NO):
            return {"optout_confirmation": value}
        answer = yes_or_no(str(value), tracker.get_intent_of_latest_message())
        if answer is None:
            dispatcher.utter_message(response="utter_please_yes_or_no")
            return {"optout_confirmation": None}
        if answer:
            with session_scope() as session:
                conversation = conversation_for(session, tracker)
                if conversation is not None:
                    record_consent(
                        session,
                        phone=conversation.phone,
                        consented=False,
                        now=utcnow(),
                        source=f"{tracker.get_latest_input_channel() or 'sms'}:bot_confirmed",
                    )
        return {"optout_confirmation": ANSWERED_YES if answer else ANSWERED_NO}


class ActionOptoutDone(Action):
    def name(self) -> str:
        return "action_optout_done"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        opted_out = tracker.get_slot("optout_confirmation") == ANSWERED_YES
        dispatcher.utter_message(response="utter_optout_done" if opted_out else "utter_optout_kept")
        return [SlotSet("optout_confirmation", None)]
