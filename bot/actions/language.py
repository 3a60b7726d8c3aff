"""The conversation's language: followed after every message, switched on request."""

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.common import conversation_for
from relay.core.db import session_scope
from relay.language.detect import detect_language, language_asked_for
from relay.language.languages import Language, language_of
from relay.models import utcnow
from relay.records.patient_language import set_language


def _record_language(tracker: Tracker) -> Language:
    """The patient's language on record, which the webhook sends with every message."""
    metadata: dict[str, Any] = tracker.latest_message.get("metadata") or {}
    return language_of(metadata.get("language"))


class ActionDetectLanguage(Action):
    """The `language` slot's custom mapping: Rasa runs it after every user message, before predicting.

    The language asked for ("en español"), else the language the text is clearly
    written in, else the one in use, else the record's. No database read: the
    record's language comes in the message metadata.
    """

    def name(self) -> str:
        return "action_detect_language"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        current_slot = tracker.get_slot("language")
        current = language_of(current_slot) if current_slot else _record_language(tracker)
        text = tracker.latest_message.get("text") or ""
        asked = language_asked_for(text) if tracker.get_intent_of_latest_message() == "change_language" else None
        language = asked or detect_language(text, current=current)
        return [] if language.value == current_slot else [SlotSet("language", language.value)]


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
