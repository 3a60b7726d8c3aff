"""Date-of-birth verification, as the validation of `dob_form`."""

from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.common import conversation_for
from relay.core.db import session_scope
from relay.identity.verification import check_dob

# Slot values that end the form; the DOB itself is never kept in a slot.
VERIFIED, STOPPED = "verified", "stopped"


class ValidateDobForm(FormValidationAction):
    def name(self) -> str:
        return "validate_dob_form"

    def validate_dob_text(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            # The form validates its cleared slot when it starts: nothing was said yet.
            return {"dob_text": None}
        with session_scope() as session:
            conversation = conversation_for(session, tracker)
            if conversation is None:
                return {"dob_text": STOPPED}
            result = check_dob(session, conversation=conversation, text=str(value or ""))
        if result.outcome == "verified":
            return {"dob_text": VERIFIED}
        if result.outcome == "mismatch":
            dispatcher.utter_message(response="utter_dob_mismatch", attempts_left=str(result.attempts_left))
            return {"dob_text": None}
        if result.outcome == "unreadable":
            dispatcher.utter_message(response="utter_dob_unreadable")
            return {"dob_text": None}
        # Locked or unknown: end the form; action_referral_status explains.
        return {"dob_text": STOPPED}
