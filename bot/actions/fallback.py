"""Low NLU confidence: the FAQ table first, then "I did not get that", then a person."""

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.faq import answer_from_faq
from bot.actions.handoff import misunderstood


class ActionDefaultFallback(Action):
    """Low NLU confidence. The FAQ table gets a look first: an entry added since
    the last training is exactly what the model cannot know."""

    def name(self) -> str:
        return "action_default_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if not answer_from_faq(dispatcher, tracker):
            misunderstood(dispatcher, tracker, "utter_default")
        return []
