"""Getting a person: on request, and when the bot keeps misunderstanding."""

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.common import clinic_contact, conversation_for
from relay.core.db import session_scope
from relay.messaging.handoffs import open_handoff
from relay.models import HandoffPriority


def hand_to_staff(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    *,
    reason: str,
    priority: HandoffPriority = HandoffPriority.NORMAL,
) -> None:
    with session_scope() as session:
        conversation = conversation_for(session, tracker)
        if conversation is not None:
            open_handoff(session, conversation=conversation, reason=reason, priority=priority)
    dispatcher.utter_message(response="utter_handoff_requested", clinic_phone=clinic_contact()["clinic_phone"])


class ActionRequestHuman(Action):
    def name(self) -> str:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        hand_to_staff(dispatcher, tracker, reason="patient_request")
        return []


# What the bot says when it did not get the message; two in a row bring a person.
MISSED = ("utter_default", "utter_out_of_scope", "utter_faq_unknown")


def misunderstood(dispatcher: CollectingDispatcher, tracker: Tracker, response: str, **variables) -> None:
    """Say `response` the first time; hand to staff when the previous answer was a miss too."""
    if previous_answer_was_a_miss(tracker):
        hand_to_staff(dispatcher, tracker, reason="repeated_misunderstanding")
    else:
        dispatcher.utter_message(response=response, **variables)


def previous_answer_was_a_miss(tracker: Tracker) -> bool:
    """Did the bot answer the previous message with one of the 'did not get that' responses?"""
    users_seen = 0
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            users_seen += 1
            if users_seen == 2:
                return False
        elif (
            users_seen == 1
            and event.get("event") == "bot"
            and (event.get("metadata") or {}).get("utter_action") in MISSED
        ):
            return True
    return False
