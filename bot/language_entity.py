"""The `language` entity, from what the app says about a message's language (bot/config.yml's last component).

Runs in the Rasa venv: imports only rasa. The app decides, with its marker
words (relay.language.detect.language_metadata), which language a text is
clearly written in and which one it asks for, and sends both as message
metadata. This component turns them into a `language` entity that the
`language` slot maps from (bot/intents/language.yml):

- the language asked for ("en español"), when the intent is change_language;
- else the language the text is clearly written in;
- else no entity, and the slot keeps the conversation's language (a session
  starts in the record's: bot/actions/language.py, action_session_start).

Why not a custom slot mapping: that was an action server round trip on every
message, and on form activation a second one, which changed nothing in 97%
of them (issue 14's round-trip count). It comes after FallbackClassifier so
that it sees the intent Rasa acts on.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_NAME_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

ENTITY = "language"
LANGUAGES = ("en", "es")
CHANGE_LANGUAGE = "change_language"


def language_for(metadata: dict[str, Any] | None, intent: str | None) -> str | None:
    """The language the message's metadata settles, if any."""
    metadata = metadata or {}
    asked = metadata.get("asked_for") if intent == CHANGE_LANGUAGE else None
    chosen = asked or metadata.get("written_in")
    return chosen if chosen in LANGUAGES else None


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class LanguageFromMetadata(GraphComponent, EntityExtractorMixin):
    """Adds a `language` entity when the message's metadata settles the language."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageFromMetadata:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data  # nothing to learn: training examples carry no metadata

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            language = language_for(message.get("metadata"), intent)
            if language is None:
                continue
            entity = {
                "entity": ENTITY,
                "value": language,
                "start": 0,
                "end": len(message.get(TEXT) or ""),
                "confidence": 1.0,
                "extractor": self.__class__.__name__,
            }
            message.set(ENTITIES, [*message.get(ENTITIES, []), entity], add_to_output=True)
        return messages
