"""'Please stop texting me' in the patient's own words: confirm, then opt out.

The exact keywords (STOP, CANCEL, ...) never reach Rasa: the webhook handles
them as Twilio does. Free text is asked about first, since "stop" inside a
sentence is not always a wish to hear nothing more.
"""

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.common import ANSWERED_YES, YesNoFormValidation, clinic_contact, conversation_for
from relay.core.db import session_scope
from relay.models import utcnow
from relay.records.consent import record_consent


class ActionStartOptout(Action):
    def name(self) -> str:
        return "action_start_optout"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        return [SlotSet("optout_confirmation", None), FollowupAction("optout_form")]


class ActionAskOptoutConfirmation(Action):
    def name(self) -> str:
        return "action_ask_optout_confirmation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_ask_optout_confirmation", clinic_name=clinic_contact()["clinic_name"])
        return []


class ValidateOptoutForm(YesNoFormValidation):
    def name(self) -> str:
        return "validate_optout_form"

    def validate_optout_confirmation(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self.read_answer("optout_confirmation", value, dispatcher, tracker)

    def on_yes(self, tracker: Tracker) -> None:
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


class ActionOptoutDone(Action):
    def name(self) -> str:
        return "action_optout_done"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        opted_out = tracker.get_slot("optout_confirmation") == ANSWERED_YES
        dispatcher.utter_message(response="utter_optout_done" if opted_out else "utter_optout_kept")
        return [SlotSet("optout_confirmation", None)]
