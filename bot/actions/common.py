"""What every action needs: the conversation behind Rasa's opaque sender id, and yes/no questions."""

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from relay.core.db import session_scope
from relay.core.phones import pretty
from relay.inbound.answers import yes_or_no
from relay.models import Conversation
from relay.records import conversations
from relay.records.clinics import get_clinic

# Slot values the yes/no validators set once an answer is understood. Not plain "yes"/"no":
# the patient's own "yes" fills the slot first and must still be acted on.
ANSWERED_YES, ANSWERED_NO = "__yes__", "__no__"


def is_voice(tracker: Tracker) -> bool:
    """Is the latest message from a phone call? Then dates, times and choices are worded for the ear."""
    return tracker.get_latest_input_channel() == "voice"


def conversation_for(session: Session, tracker: Tracker) -> Conversation | None:
    """Rasa only knows our opaque public id; the phone and patient stay in our database."""
    return conversations.by_public_id(session, tracker.sender_id)


def clinic_contact() -> dict[str, str]:
    """The clinic's name and number as responses name them (`clinic_name`, `clinic_phone`)."""
    with session_scope() as session:
        clinic = get_clinic(session)
        return {"clinic_name": clinic.name, "clinic_phone": pretty(clinic.sms_number)}


class YesNoFormValidation(FormValidationAction, ABC):
    """A form that asks one yes/no question, and acts on a yes (`on_yes`) before the form ends.

    Abstract, so that the action server, which registers every Action subclass it
    can instantiate, leaves this base alone.
    """

    def read_answer(self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        if value is None or value in (ANSWERED_YES, ANSWERED_NO):
            return {slot: value}
        answer = yes_or_no(str(value), tracker.get_intent_of_latest_message())
        if answer is None:
            dispatcher.utter_message(response="utter_please_yes_or_no")
            return {slot: None}
        if answer:
            self.on_yes(tracker)
        return {slot: ANSWERED_YES if answer else ANSWERED_NO}

    @abstractmethod
    def on_yes(self, tracker: Tracker) -> None: ...
