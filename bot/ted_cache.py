"""Rasa's TEDPolicy, with its predictions remembered by the dialogue states they were made from (bot/config.yml).

Runs in the Rasa venv: imports only rasa.

Why: TED's prediction was the largest single cost in the Rasa process's CPU
per turn in a profile (issue 14: a fifth), and Rasa asks it again for every
action of a turn. Yet what TED reads is small and repeats: without
end-to-end stories (no `user:` text in data/), its input is the last
`max_history` dialogue states (intent, entity names, the slots that
influence the conversation, the previous action, the active form), each
featurized from the model's own fixed features. The same states always give
the same prediction, so a prediction is kept by those states and reused.

What changes: nothing in what TED predicts. A prediction is computed by
Rasa's own TEDPolicy the first time its states are seen; afterwards the kept
one is returned (a copy). The key is exactly the states Rasa would featurize
(`Policy._prediction_states`, with the rule-only turns left out as TED does).
A model trained with end-to-end stories (TED reads the message text) is
never cached. The cache holds at most `prediction_cache_size` predictions
(default 10,000; about 4 kB each with this domain's 115 actions, so at most
some 40 MB per Rasa worker, which holds about 1.1 GB; the least recently
used go first) and lives as long as the loaded model.

Every `prediction_cache_stats_every` predictions the policy logs its hits
and misses so far (counts only), which `make bench` reports: the bench replays one script,
so its hit rate is higher than a clinic's varied conversations would give.
"""

from __future__ import annotations

import logging
import os
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from rasa.core.policies.policy import PolicyPrediction
from rasa.core.policies.ted_policy import TEDPolicy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import TEXT

logger = logging.getLogger(__name__)

CACHE_SIZE_KEY = "prediction_cache_size"
STATS_EVERY_KEY = "prediction_cache_stats_every"


def frozen(value: Any) -> Any:
    """A hashable copy of a dialogue state (dicts of names, tuples of values)."""
    if isinstance(value, dict):
        return tuple(sorted((key, frozen(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(frozen(item) for item in value)
    return value


@dataclass(frozen=True)
class KeptPrediction:
    """What TED predicted for some states, kept compact: the probabilities as doubles in one block
    (a list holds a float object for each action, four times the memory)."""

    probabilities: array
    events: tuple[Event, ...]
    optional_events: tuple[Event, ...]
    is_end_to_end_prediction: bool
    is_no_user_prediction: bool
    diagnostic_data: dict[str, Any]
    action_metadata: dict[str, Any] | None

    @classmethod
    def of(cls, prediction: PolicyPrediction) -> KeptPrediction:
        return cls(array("d", prediction.probabilities), tuple(prediction.events), tuple(prediction.optional_events),
                   prediction.is_end_to_end_prediction, prediction.is_no_user_prediction, prediction.diagnostic_data,
                   prediction.action_metadata)  # fmt: skip

    def prediction(self, policy: TEDPolicy) -> PolicyPrediction:
        """A new prediction each time: the ensemble and the processor may change what they are given."""
        return policy._prediction(
            self.probabilities.tolist(),
            events=list(self.events),
            optional_events=list(self.optional_events),
            is_end_to_end_prediction=self.is_end_to_end_prediction,
            is_no_user_prediction=self.is_no_user_prediction,
            diagnostic_data=self.diagnostic_data,
            action_metadata=self.action_metadata,
        )


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITH_END_TO_END_SUPPORT, is_trainable=True)
class CachedTEDPolicy(TEDPolicy):
    """TEDPolicy whose predictions are kept by the dialogue states they were made from."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return TEDPolicy.get_default_config() | {CACHE_SIZE_KEY: 10_000, STATS_EVERY_KEY: 250}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Rasa sets only its own loggers' level (LOG_LEVEL, INFO by default): ours follows it.
        logger.setLevel(logging.getLogger("rasa").getEffectiveLevel())
        self._kept: OrderedDict[tuple, KeptPrediction] = OrderedDict()
        self.cache_hits = 0
        self.cache_misses = 0

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        if self.model is None or TEXT in self.fake_features:  # untrained, or it reads the message text
            return super().predict_action_probabilities(tracker, domain, rule_only_data, **kwargs)
        key = frozen(self._prediction_states(tracker, domain, rule_only_data=rule_only_data))
        kept = self._kept.get(key)
        if kept is not None:
            self._kept.move_to_end(key)
            self.cache_hits += 1
            prediction = kept.prediction(self)
        else:
            prediction = super().predict_action_probabilities(tracker, domain, rule_only_data, **kwargs)
            self._kept[key] = KeptPrediction.of(prediction)
            if len(self._kept) > self.config[CACHE_SIZE_KEY]:
                self._kept.popitem(last=False)
            self.cache_misses += 1
        self._log_stats()
        return prediction

    def _log_stats(self) -> None:
        every = self.config[STATS_EVERY_KEY]
        if every and (self.cache_hits + self.cache_misses) % every == 0:
            logger.info("TED prediction cache (pid %d): hits=%d misses=%d kept=%d",
                        os.getpid(), self.cache_hits, self.cache_misses, len(self._kept))  # fmt: skip
