"""Low NLU confidence: the FAQ table first, then "I did not get that", then a person."""

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.faq import answer_from_faq
from bot.actions.handoff import misunderstood


class ActionDefaultFallback(Action):
    """Low NLU confidence. The FAQ table gets a look first: an entry added since
    the last training is exactly what the model cannot know."""

    def name(self) -> str:
        return "action_default_fallback"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        if not answer_from_faq(dispatcher, tracker):
            misunderstood(dispatcher, tracker, "utter_default")
        return []
