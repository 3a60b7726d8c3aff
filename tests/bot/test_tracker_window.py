"""The windowed tracker store (bot/tracker_store.py) gives Rasa what its own SQL tracker store does, bounded.

The comparison runs in the Rasa venv (tests/bot/tracker_window_probe.py), on
SQLite always and on PostgreSQL when the suite runs on it.
"""

import json

import pytest
from sqlalchemy import make_url

from relay.core.settings import PROJECT_ROOT, get_settings
from tests.bot.rasa_probe import run_in_rasa

PROBE = PROJECT_ROOT / "tests" / "bot" / "tracker_window_probe.py"
TURNS = 40


def _databases(tmp_path) -> list[tuple[str, dict]]:
    sqlite = {
        "windowed": {"dialect": "sqlite", "db": str(tmp_path / "windowed.db")},
        "plain": {"dialect": "sqlite", "db": str(tmp_path / "plain.db")},
    }
    cases = [("sqlite", sqlite)]
    url = make_url(get_settings().database_url)
    if url.get_backend_name() == "postgresql":
        postgres = {"dialect": "postgresql", "host": url.host or "127.0.0.1", "port": url.port or 5432,
                    "db": url.database, "username": url.username, "password": url.password}  # fmt: skip
        cases.append(("postgresql", {"windowed": postgres, "plain": postgres}))  # one table, a sender each
    return cases


def _probe(databases: dict) -> dict:
    return run_in_rasa(PROBE, json.dumps(databases), timeout=240,
                       env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"})  # fmt: skip


@pytest.mark.rasa
def test_the_window_keeps_rasas_view_of_the_conversation_and_bounds_what_is_loaded(tmp_path):
    for name, databases in _databases(tmp_path):
        out = _probe(databases)
        assert out["mismatches"] == [], (name, out["mismatches"][:3])
        # The window moved on (one row, replaced as it moves) and what is loaded stays bounded:
        # at most 2 x 10 window events plus the leading ones, against 5-7 more per turn without it.
        assert max(out["window_rows"]) == 1 and out["window_rows"][-1] == 1, name
        assert max(out["loaded"]) <= 2 * 10 + 8, (name, out["loaded"])
        assert out["loaded"][28] < 5 * 29, name  # turn 29, before the new session
        # Every event was written once, as Rasa writes it, and the whole conversation is still there.
        assert out["same_event_rows"] is True and out["event_rows"] >= 5 * TURNS, name
        assert out["full_user_texts"] == [f"message {n}" for n in range(1, TURNS + 1)], name
        if name == "sqlite":  # WAL, synchronous=NORMAL (1), and writers that wait for each other
            assert out["sqlite_pragmas"] == ["wal", 1, 30000]
