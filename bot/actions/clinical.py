"""Medical questions ("should I stop my metformin?"): never answered by the bot, offered to the care team.

Emergencies never get here: the webhook's safety net answers them before Rasa
(relay/inbound/safety.py). What is left is a question for a clinician; the bot
says it cannot answer and, if the patient agrees, opens a handoff with reason
`clinical_question` so the care team sees the question in the queue.
"""

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.common import ANSWERED_YES, YesNoFormValidation, conversation_for
from relay.core.db import session_scope
from relay.messaging.handoffs import open_handoff
from relay.models import HandoffPriority

CLINICAL_QUESTION = "clinical_question"


class ActionMedicalQuestion(Action):
    def name(self) -> str:
        return "action_medical_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        return [SlotSet("clinical_handoff_confirmation", None), FollowupAction("clinical_question_form")]


class ValidateClinicalQuestionForm(YesNoFormValidation):
    def name(self) -> str:
        return "validate_clinical_question_form"

    def validate_clinical_handoff_confirmation(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self.read_answer("clinical_handoff_confirmation", value, dispatcher, tracker)

    def on_yes(self, tracker: Tracker) -> None:
        with session_scope() as session:
            conversation = conversation_for(session, tracker)
            if conversation is not None:
                open_handoff(
                    session, conversation=conversation, reason=CLINICAL_QUESTION, priority=HandoffPriority.NORMAL
                )


class ActionClinicalQuestionDone(Action):
    def name(self) -> str:
        return "action_clinical_question_done"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        passed = tracker.get_slot("clinical_handoff_confirmation") == ANSWERED_YES
        dispatcher.utter_message(
            response="utter_clinical_question_passed" if passed else "utter_clinical_question_not_passed"
        )
        return [SlotSet("clinical_handoff_confirmation", None)]
