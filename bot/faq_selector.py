"""Rasa's ResponseSelector, run only on messages that ask a retrieval intent (bot/config.yml).

Runs in the Rasa venv: imports only rasa.

Why: the selector picks the FAQ topic of an `ask_faq` message (parking,
hours, ...; bot/actions/faq.py answers from the database). Rasa runs it on
every message, and its model was a ninth of the Rasa process's CPU per turn
in a profile (issue 14), though nothing reads its output unless the intent
is a retrieval intent: Rasa's processor (the full retrieval intent name) and
our FAQ action (`ask_faq`, alone or in a two-request intent such as
`confirm_appointment+ask_faq`) both check the intent first.

What changes: a message whose intent (or a part of a multi-intent) is not
one of the selector's retrieval intents gets no `response_selector` output,
as if the pipeline had no selector. Training, the model and every other
message's output are Rasa's own.
"""

from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.selectors.response_selector import ResponseSelector
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY
from rasa.shared.nlu.training_data.message import Message

# bot/config.yml's intent_split_symbol (WhitespaceTokenizer): "confirm_appointment+ask_faq".
INTENT_SPLIT_SYMBOL = "+"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class RetrievalOnlyResponseSelector(ResponseSelector):
    """Selects a response only for messages whose intent is one of its retrieval intents."""

    def process(self, messages: list[Message]) -> list[Message]:
        asking = [message for message in messages if self._asks_retrieval_intent(message)]
        if asking:
            super().process(asking)  # sets the output on these messages themselves
        return messages

    def _asks_retrieval_intent(self, message: Message) -> bool:
        name = (message.get(INTENT) or {}).get(INTENT_NAME_KEY) or ""
        wanted = {self.retrieval_intent} if self.retrieval_intent else set(self.all_retrieval_intents)
        return any(part in wanted for part in name.split(INTENT_SPLIT_SYMBOL))
