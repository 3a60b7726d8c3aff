"""The outreach benchmark runs end to end with tiny numbers (no figure is asserted: timing is for `make bench`).

Marked `bench`, like every harness smoke test, so the quick SQLite pass
(`-m "not rasa and not bench"`) leaves it out; it needs no Rasa, only its own
Redis, workers and fake Twilio, which it starts.
"""

import json

import pytest

from bench.outreach import outreach_benchmarks, outreach_markdown

pytestmark = pytest.mark.bench

APPOINTMENTS, SENDS = 300, 50


class _NoProgress:
    """Stands for tqdm: the bars would only clutter the test output."""

    def __init__(self, **_options) -> None:
        pass

    def __enter__(self) -> "_NoProgress":
        return self

    def __exit__(self, *_exc) -> None:
        pass

    def update(self, _count: int) -> None:
        pass


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patched:
        # SQLite (a temporary file of the bench's own) and an embedded Redis of its own, whatever the run uses.
        patched.setenv("DATABASE_URL", f"sqlite:///{tmp_path_factory.mktemp('outreach-bench') / 'unused.db'}")
        patched.delenv("REDIS_URL", raising=False)
        return outreach_benchmarks(appointments=APPOINTMENTS, sends=SENDS, progress_factory=_NoProgress)


def test_planning_is_measured_against_the_pure_planner(results):
    assert results["database"] == "sqlite"
    planning = results["planning"]
    assert planning["appointments"] >= APPOINTMENTS and planning["rows_planned"] > APPOINTMENTS
    for phase in ("pure", "replan_initial", "replan_unchanged"):
        assert planning[phase]["appointments_per_s"] > 0
    assert planning["replan_initial"]["ratio_to_pure"] > 0 and planning["replan_unchanged"]["ratio_to_pure"] > 0


@pytest.mark.parametrize("workers", [1, 2])
def test_every_send_arrived_at_the_fake_exactly_once(results, workers):
    run = results["dispatch"][f"workers_{workers}"]
    assert run["bare_client"]["errors"] == 0 and run["bare_client"]["sends_per_s"] > 0
    backlog, paced = run["backlog"], run["paced"]
    assert (backlog["sends"], backlog["arrived"], backlog["row_states"]) == (SENDS, SENDS, {"sent": SENDS})
    assert paced["sends"] == paced["arrived"] > 0 and paced["row_states"] == {"sent": paced["sends"]}
    for phase in (backlog, paced):
        assert (phase["duplicates"], phase["strangers"], phase["refused"], phase["failed_jobs"]) == (0, 0, 0, {})
        assert phase["errors"] == 0
    assert backlog["sends_per_s"] > 0 and backlog["ratio_to_bare"] > 0
    lateness = paced["lateness_s"]
    assert 0 <= lateness["p50"] <= lateness["p99"] <= lateness["max"]
    assert paced["bare_client"]["errors"] == 0 and paced["bare_client"]["lateness_s"]["p99"] >= 0


@pytest.mark.parametrize("workers", [1, 2])
def test_each_worker_tree_is_measured_idle_and_under_load(results, workers):
    trees = results["dispatch"][f"workers_{workers}"]["memory"]
    assert len(trees) == workers
    # The worker alone (RQ's cron is a process of its own), plus RQ's scheduler child in one of them
    # (in two, should two workers take the scheduler locks of different queues).
    counts = [tree["idle"]["processes"] for tree in trees]
    assert set(counts) <= {1, 2} and max(counts) == 2, counts
    for tree in trees:
        assert 0 < tree["idle"]["pss_mb"] <= tree["peak"]["pss_mb"] <= tree["peak"]["rss_sum_mb"]


def test_the_results_are_json_and_markdown(results):
    assert json.loads(json.dumps(results)) == results
    assert results["meets_targets"]["no_errors"] is True
    lines = outreach_markdown(results)
    assert lines[0] == "## Outreach"
    text = "\n".join(lines)
    for heading in ("### Planning", "### Dispatch", "### Lateness", "### Worker memory"):
        assert heading in text
    assert text.count("| 2 |") >= 3  # the 2-worker rows of the dispatch, lateness and memory tables
