"""Greeting: who the bot is and what it can do (no patient data before verification)."""

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from relay.core.db import session_scope
from relay.records.clinics import get_clinic


class ActionGreet(Action):
    def name(self) -> str:
        return "action_greet"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        with session_scope() as session:
            clinic_name = get_clinic(session).name
        dispatcher.utter_message(response="utter_greet", clinic_name=clinic_name)
        return []
