"""The conversation's language: started from the record, switched on request (bot/language_entity.py follows it)."""

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.common import conversation_for
from relay.core.db import session_scope
from relay.language.languages import language_of
from relay.models import utcnow
from relay.records.patient_language import set_language


class ActionSessionStart(Action):
    """Rasa's own session start (no slots carried over), in the language on the patient's record.

    The webhook sends the record's language as message metadata, which Rasa
    keeps in the `session_started_metadata` slot for this action. After this
    the `language` slot follows the `language` entity (bot/language_entity.py):
    one round trip per session instead of one per message.
    """

    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        metadata: dict[str, Any] = tracker.get_slot("session_started_metadata") or {}
        events: list[EventType] = [SessionStarted()]
        if metadata.get("language"):
            events.append(SlotSet("language", language_of(metadata["language"]).value))
        return [*events, ActionExecuted("action_listen")]


class ActionChangeLanguage(Action):
    """ "English please" / "en español": store it on the patient's record and say so in that language."""

    def name(self) -> str:
        return "action_change_language"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        language = language_of(tracker.get_slot("language"))
        with session_scope() as session:
            conversation = conversation_for(session, tracker)
            if conversation is not None and conversation.patient is not None:
                set_language(
                    session,
                    patient=conversation.patient,
                    language=language,
                    actor="patient",
                    now=utcnow(),
                    conversation_id=conversation.id,
                )
        dispatcher.utter_message(response="utter_language_switched")
        return []
