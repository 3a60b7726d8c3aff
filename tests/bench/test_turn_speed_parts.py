"""The turn-speed benchmarks' own logic, without a stack: py-spy's samples by layer, the baseline's messages,
new conversations per cycle, ports for replicas."""

import socket

import pytest

from bench.baseline import _cycling, baseline_markdown, nlu_examples, ted_cache_stats
from bench.profile_turn import ACTION_LAYERS, IDLE, OTHER, RASA_LAYERS, layer_of, samples_by_layer, shares
from bench.sms import NewConversations, drive
from bench.stack import free_ports

pytestmark = pytest.mark.bench

RAW = "\n".join(
    [
        # jsonschema under the action server call: validation, not the call.
        'process 1:"rasa run";handle (sanic/app.py:10);run (rasa/core/actions/action.py:700);'
        "validate (jsonschema/validators.py:5) 7",
        # SQL under the tracker store, events replayed in it: the tracker store.
        "retrieve (rasa/core/tracker_store.py:900);from_parameters (rasa/shared/core/events.py:80);"
        "execute (sqlalchemy/engine/base.py:1) 3",
        "process (rasa/nlu/classifiers/diet_classifier.py:1);call (tensorflow/python/ops/x.py:2) 5",
        "predict (rasa/core/policies/ted_policy.py:1);past_states (rasa/shared/core/trackers.py:3) 4",
        "run_forever (asyncio/base_events.py:1) 2",
        "something (json/encoder.py:1) 1",
        # Waits py-spy takes for work: left out of the shares.
        "serve (sanic/server/runners.py:155) 50",
        "join (multiprocessing/process.py:149);poll (multiprocessing/popen_fork.py:27) 40",
    ]
)


def test_a_sample_goes_to_the_first_layer_in_order_with_a_frame_on_its_stack():
    counts = samples_by_layer(RAW, RASA_LAYERS)
    assert counts["validation (jsonschema)"] == 7
    assert counts["tracker store (tracker_store.py, SQL)"] == 3
    assert counts["NLU (rasa/nlu: tokenizers, featurizers, DIET)"] == 5
    assert counts["policies (rasa/core/policies, featurizers)"] == 4
    assert counts["Sanic/HTTP and channels"] == 2
    assert (counts[OTHER], counts[IDLE]) == (1, 90)
    table = shares(counts, RASA_LAYERS)
    assert round(sum(v["percent"] for name, v in table.items() if name != IDLE)) == 100
    assert table[IDLE] == {"samples": 90, "percent": None}


def test_action_server_frames_with_absolute_paths_and_project_paths():
    frames = ["run (bot/actions/referrals.py:10)", "find (/work/main/relay/referrals/lookup.py:3)"]
    assert layer_of(frames, ACTION_LAYERS) == "relay domain (relay/)"
    assert layer_of([*frames, "execute (sqlalchemy/orm/session.py:1)"], ACTION_LAYERS).startswith("database")
    assert layer_of(["run (bot/actions/greeting.py:1)"], ACTION_LAYERS) == "our actions (bot/actions)"


def test_our_frames_count_in_their_layer():
    assert layer_of(["predict (bot/ted_cache.py:80)", "frozen (bot/ted_cache.py:50)"], RASA_LAYERS).startswith(
        "policies"
    )
    assert layer_of(["retrieve (bot/tracker_store.py:120)"], RASA_LAYERS).startswith("tracker store")


def test_the_ted_cache_figures_are_each_workers_latest_line_summed(tmp_path):
    assert ted_cache_stats(tmp_path) is None  # no log, or a cache that never logged: no figure
    line = "2026-11-29 17:32:00 INFO     bot.ted_cache  - TED prediction cache (pid {}): hits={} misses={} kept={}\n"
    (tmp_path / "rasa.log").write_text(
        "Rasa server is up and running.\n" + line.format(11, 240, 10, 10) + line.format(12, 230, 20, 20)
        + line.format(11, 480, 20, 20)  # pid 11 again, later: its counts so far replace the earlier ones
    )  # fmt: skip
    (tmp_path / "rasa-1.log").write_text(line.format(11, 100, 150, 150))  # another replica, the same pid number
    stats = ted_cache_stats(tmp_path)
    assert stats == {"hits": 810, "misses": 190, "kept": 190, "hit_rate": 0.81, "workers": 3}
    figures = {"concurrency": 16, "seconds": 60, "throughput_ratio": 1.0, "p50_ratio": 1.0, "p95_ratio": 1.0,
               "baseline": {"turns_per_s": 1, "turns": 1, "errors": 0, "p50_ms": 1, "p95_ms": 1, "conversations": 1,
                            "messages": 68},
               "relay_webhook": {"turns_per_s": 1, "turns": 1, "errors": 0, "p50_ms": 1, "p95_ms": 1,
                                 "conversations": 1},
               "ted_cache": stats}  # fmt: skip
    text = "\n".join(baseline_markdown(figures))
    assert "810 hits, 190 misses (hit rate 0.81)" in text and "3 Rasa workers" in text
    assert "hit rate" not in "\n".join(baseline_markdown(figures | {"ted_cache": None}))


def test_the_baseline_takes_its_messages_from_its_nlu_file_one_intent_at_a_time(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "nlu.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - hi\n    - hello\n'
        "- intent: bye\n  examples: |\n    - bye\n- synonym: x\n  examples: |\n    - y\n"
    )
    assert nlu_examples(tmp_path) == ["hi", "bye", "hello"]
    chunks = _cycling(["a", "b", "c"], 2)
    assert [next(chunks) for _ in range(4)] == [("a", "b"), ("c", "a"), ("b", "c"), ("a", "b")]


def test_every_cycle_is_a_new_conversation_with_its_own_script():
    sent: list[tuple[str, str]] = []
    fresh = iter(["conv-1", "conv-2", "conv-3", "conv-4"])
    scripts = iter([("a", "b"), ("c",)])

    def send(key: str, text: str) -> bool:
        sent.append((key, text))
        return True

    sender = NewConversations(send, fresh=lambda: next(fresh), scripts=lambda: next(scripts))
    run = drive(sender, ["user"], cycles=2)
    assert sent == [("conv-1", "a"), ("conv-1", "b"), ("conv-2", "c")]
    assert (run.turns, sender.conversations) == (3, 2)


def test_replica_ports_are_free_in_a_row():
    base = free_ports(3)
    for port in range(base, base + 3):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # raises OSError if the port is taken
            assert sock.getsockname()[1] == port
