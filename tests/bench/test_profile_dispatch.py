"""The dispatch profile runs with a few sends and accounts for each of them (no figure is asserted for speed)."""

import pytest

from bench.profile_dispatch import profile_dispatch

pytestmark = pytest.mark.bench

SENDS = 50


def test_the_dispatch_profile_sends_every_row_and_splits_its_time_by_layer(monkeypatch, tmp_path):
    # Its own temporary SQLite file and embedded Redis, whatever the run uses (as tests/bench/test_outreach_bench.py).
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    monkeypatch.delenv("REDIS_URL", raising=False)
    figures, stats = profile_dispatch(SENDS)
    assert (figures["database"], figures["sends"], figures["results"]) == ("sqlite", SENDS, {"sent": SENDS})
    layers = figures["ms_per_send"]
    assert (
        layers["database (SQLAlchemy + driver)"] > 0 and layers["twilio client + HTTP (requests, urllib3, socket)"] > 0
    )
    parts = sum(ms for name, ms in layers.items() if name != "total")
    assert parts == pytest.approx(layers["total"], abs=0.01 * len(layers))
    assert any(func == "send_outreach_batch" for (_file, _line, func) in stats.stats)
