"""The benchmark harness runs end to end for a few seconds (no figures are asserted: timing is for `make bench`)."""

import json
import os
import subprocess
import sys

import pytest

from relay.core.settings import PROJECT_ROOT

pytestmark = [pytest.mark.rasa, pytest.mark.bench]

# A fresh clone trains the `rasa init` baseline first (about 100 s of the 260 s
# this takes on a quiet 2-core machine); the suite's 300 s default is too tight.
HARNESS_TIMEOUT_SECONDS = 1200


@pytest.mark.timeout(HARNESS_TIMEOUT_SECONDS + 60)
def test_the_benchmark_harness_runs_and_writes_its_results(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RASA_URL", "ACTION_SERVER_PORT", "API_PORT", "PUBLIC_BASE_URL")
    }
    env |= {
        "BENCH_SECONDS": "2",
        "BENCH_CYCLES": "1",
        "BENCH_C1_CYCLES": "2",
        "BENCH_CONCURRENCY": "2",
        "BENCH_OUT": str(tmp_path),
        "BENCH_OUTREACH_APPOINTMENTS": "200",
        "BENCH_OUTREACH_SENDS": "40",
        "BENCH_FHIR_PATIENTS": "50",
        "BENCH_PROFILE_SECONDS": "4",
        "BENCH_LONG_CONVERSATIONS": "1",
        "BENCH_LONG_TURNS": "16",
        "BENCH_BURST_CONCURRENCY": "3",
        "BENCH_BURST_SECONDS": "4",
        "BENCH_DATABASES": "sqlite",  # no second pass (bench.turn_speed's own run covers PostgreSQL)
        "BENCH_REPLICAS": "1",  # no replicated stack (python -m bench.replicas runs it)
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'bench.db'}"
    result = subprocess.run([sys.executable, "-m", "bench.run"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                            text=True, timeout=HARNESS_TIMEOUT_SECONDS)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    latency = results["sms_latency"]
    # Two script cycles at one conversation (BENCH_C1_CYCLES), one per conversation at two.
    for key, turns in (("bare_rasa_c1", 14), ("relay_webhook_c1", 14), ("bare_rasa_c2", 14), ("relay_webhook_c2", 14)):
        assert (latency[key]["turns"], latency[key]["errors"]) == (turns, 0)
    assert latency["added_c1"]["pairs"] == 14 and "pairs" not in latency["added_c2"]  # paired turn by turn at one only
    voice = results["voice_latency"]
    for key in ("bare_rasa_c1", "relay_webhook_c1", "bare_rasa_c2", "relay_webhook_c2"):
        assert voice[key]["errors"] == 0 and voice[key]["turns"] == 12  # two calls of six turns each side
    assert voice["added_c1"]["pairs"] == 12
    assert results["sms_throughput"]["relay_webhook"]["errors"] == 0
    assert results["sms_profile_ms_per_turn"]["waiting for Rasa"] > 0
    assert set(results["memory_after_load_mb"]) >= {"api", "rasa", "actions", "worker"}
    assert (
        results["outreach"]["planning"]["bench_appointments"] == 200
    )  # the outreach part ran too (its own smoke test checks it)
    assert results["fhir_import"]["settings"]["patients"] == 50  # the FHIR import ran too (its own test checks it)
    speed = results["turn_speed"]
    assert speed["baseline"]["baseline"]["turns"] > 0 and speed["baseline"]["relay_webhook"]["errors"] == 0
    assert speed["baseline"]["throughput_ratio"] is not None
    assert speed["voice_vs_sms_c1"]["p50_ratio"] is not None
    assert speed["long_conversation"]["early_p50_ms"] and speed["long_conversation"]["late_p50_ms"]
    burst = speed["burst"]
    assert burst["messages"] > 0 and burst["answered_twice_or_more"] == 0 and burst["webhook_errors"] == 0
    trips = results["profile"]["round_trips"]
    assert len(trips["turns"]) == 14 and trips["per_action"]  # two cycles of the script, each turn's calls
    assert results["turn_speed_other_database"] is None and "skipped" in results["replicas"]
    table = (tmp_path / "results.md").read_text()
    assert "rasa init" in table and "## Burst" in table and "round trips" in table
    assert "## SMS turn latency" in table and "## Voice turn latency" in table and "## Outreach" in table
    assert "## FHIR import" in table
