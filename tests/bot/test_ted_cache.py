"""TED's prediction cache gives exactly what TED computes: checked on the trained model, in the Rasa venv."""

import pytest

from tests.bot.rasa_probe import run_in_rasa

# Every point of every training story where Rasa predicts an action is put to the
# trained model's TED node (Rasa's own graph runner, so its precomputations and
# rule-only data are the real ones): once with the cache emptied (TED computes),
# then again (the cache answers).
PROBE = r"""
import json
import numpy as np
from rasa.core.agent import Agent
from rasa.shared.core.events import ActionExecuted
from rasa.shared.core.generator import TrainingDataGenerator
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.importers.importer import TrainingDataImporter
import bot.channels  # the patches, as when the server loads
from bot.ted_cache import CACHE_SIZE_KEY, CachedTEDPolicy

agent = Agent.load("models")
runner = agent.processor.graph_runner
name, ted = next((name, node._component) for name, node in runner._instantiated_nodes.items()
                 if isinstance(node._component, CachedTEDPolicy))
domain = agent.domain

importer = TrainingDataImporter.load_from_config("bot/config.yml", "bot/intents", ["data"])
stories = importer.get_stories()
trackers = TrainingDataGenerator(stories, domain, augmentation_factor=0, use_story_concatenation=False).generate()
points = []
for tracker in trackers:
    events = list(tracker.events)
    for i, event in enumerate(events):
        if isinstance(event, ActionExecuted) and i > 0:
            points.append(DialogueStateTracker.from_events(f"probe-{len(points)}", events[:i], domain.slots))
points = points[:400]

def predict(tracker):
    return runner.run(inputs={"__tracker__": tracker}, targets=[name])[name]

fresh, keys = [], []
for tracker in points:
    ted._kept.clear()
    fresh.append(predict(tracker))
    keys.append(next(iter(ted._kept)))  # the one key this prediction was kept by
misses_fresh = ted.cache_misses
hits_before = ted.cache_hits
again = [predict(tracker) for tracker in points]  # filled once by the first of each key, then kept
again2 = [predict(tracker) for tracker in points]
out = {
    "points": len(points),
    "distinct_keys": len(set(keys)),
    "fresh_all_misses": misses_fresh == len(points) and hits_before == 0,
    "hits_on_second_pass": ted.cache_hits - hits_before,
    # One key, one prediction: TED computes the same for every tracker whose states are the same.
    "same_key_same_fresh": all(
        np.allclose(fresh[i].probabilities, fresh[j].probabilities, atol=1e-6)
        for i in range(len(points)) for j in range(i + 1, len(points)) if keys[i] == keys[j]),
    "cached_equals_fresh": all(
        np.allclose(a.probabilities, f.probabilities, atol=1e-6) and a.policy_name == f.policy_name
        and a.is_end_to_end_prediction == f.is_end_to_end_prediction for a, f in zip(again2, fresh)),
    "copies": again2[0] is not again[0] and again2[0].probabilities is not again[0].probabilities,
    "argmax_same": all(int(np.argmax(a.probabilities)) == int(np.argmax(f.probabilities))
                       for a, f in zip(again2, fresh)),
}
ted.config[CACHE_SIZE_KEY] = 3
ted._kept.clear()
for tracker in points[:40]:
    predict(tracker)
out["bounded"] = len(ted._kept)
print(json.dumps(out))
"""


@pytest.mark.rasa
def test_cached_ted_predictions_are_the_ones_ted_computes():
    out = run_in_rasa(PROBE, timeout=280)
    assert out["points"] >= 100, out
    assert out["fresh_all_misses"], out
    # Different histories share states (the window is max_history turns): the cache has work to do.
    assert out["distinct_keys"] < out["points"], out
    assert out["hits_on_second_pass"] >= out["points"] * 2 - out["distinct_keys"], out
    assert out["same_key_same_fresh"], out
    assert out["cached_equals_fresh"] and out["argmax_same"], out
    assert out["copies"], out
    assert out["bounded"] == 3, out
