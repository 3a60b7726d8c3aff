"""The benchmark harness runs end to end for a few seconds (no figures are asserted: timing is for `make bench`)."""

import json
import os
import subprocess
import sys

import pytest

from relay.core.settings import PROJECT_ROOT

pytestmark = [pytest.mark.rasa, pytest.mark.bench]


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
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'bench.db'}"
    result = subprocess.run([sys.executable, "-m", "bench.run"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                            text=True, timeout=600)  # fmt: skip
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
    table = (tmp_path / "results.md").read_text()
    assert "## SMS turn latency" in table and "## Voice turn latency" in table and "## Outreach" in table
    assert "## FHIR import" in table
