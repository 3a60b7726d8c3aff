"""Answer clinic questions from the FAQ table (edited by admins, no retraining)."""

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.actions.common import clinic_contact, is_voice
from bot.actions.handoff import misunderstood
from relay.core.db import session_scope
from relay.language.languages import language_of
from relay.records.faq import answer_for, answer_in


def selected_faq(tracker: Tracker) -> tuple[str | None, float]:
    """The FAQ topic the ResponseSelector chose ('parking'), with its confidence."""
    selectors = tracker.latest_message.get("response_selector") or {}
    chosen = (selectors.get("ask_faq") or selectors.get("default") or {}).get("response") or {}
    key = chosen.get("intent_response_key") or ""
    if not key.startswith("ask_faq/"):
        return None, 0.0
    return key.split("/", 1)[1], float(chosen.get("confidence") or 0.0)


def answer_from_faq(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """Utter the stored answer if an entry fits the latest message; say whether one did.

    Also for a text with two requests ("yes I'll be there, where do I park?",
    intent confirm_appointment+ask_faq): the selector's topic counts there too.
    """
    key, confidence = selected_faq(tracker)
    if "ask_faq" not in (tracker.get_intent_of_latest_message() or "").split("+"):
        key, confidence = None, 0.0  # only stored wording can match off-topic messages
    with session_scope() as session:
        language = language_of(tracker.get_slot("language"))
        faq = answer_for(
            session,
            message=tracker.latest_message.get("text") or "",
            selected_key=key,
            selector_confidence=confidence,
            language=language.value,
            intent_confidence=float((tracker.latest_message.get("intent") or {}).get("confidence") or 0.0),
        )
        # The conversation's language (the `language` slot), which may not be the record's.
        answer = answer_in(faq, language.value, spoken=is_voice(tracker)) if faq else None
    if answer is None:
        return False
    dispatcher.utter_message(text=answer)
    return True


class ActionAnswerFaq(Action):
    def name(self) -> str:
        return "action_answer_faq"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if answer_from_faq(dispatcher, tracker):
            return []
        if tracker.get_intent_of_latest_message() == "out_of_scope":
            misunderstood(dispatcher, tracker, "utter_out_of_scope")
            return []
        misunderstood(dispatcher, tracker, "utter_faq_unknown", clinic_phone=clinic_contact()["clinic_phone"])
        return []
