"""`relay seed-demo` on a fresh database: loads the clinic, plans its outreach, and is idempotent."""

import os
import sqlite3
import subprocess
import sys

from relay.core.settings import PROJECT_ROOT


def _relay(*args: str, db: str) -> subprocess.CompletedProcess:
    env = os.environ | {"DATABASE_URL": f"sqlite:///{db}"}
    return subprocess.run([sys.executable, "-m", "relay.ops.cli", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def _plan(db: str) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT idempotency_key, state, due_at FROM planned_outreach ORDER BY 1").fetchall()


def test_seed_demo_plans_outreach_once(tmp_path):
    db = str(tmp_path / "fresh.db")
    assert _relay("migrate", db=db).returncode == 0
    first = _relay("seed-demo", db=db)
    assert first.returncode == 0 and "outreach planned" in first.stdout
    plan = _plan(db)
    keys = [key for key, _state, _due in plan]
    assert any(key.startswith("reminder:") for key in keys)
    assert any(key.startswith("review_request:") for key in keys)  # Linda's completed visit
    assert _relay("seed-demo", db=db).returncode == 0
    assert _plan(db) == plan
    skipped = _relay("seed-demo", "--if-empty", db=db)
    assert "not seeding" in skipped.stdout


def test_a_malformed_file_is_refused_with_the_entry_named(tmp_path):
    db = str(tmp_path / "fresh.db")
    _relay("migrate", db=db)
    bad = tmp_path / "clinic.yaml"
    bad.write_text(
        (PROJECT_ROOT / "relay" / "demo" / "clinic.yaml").read_text().replace('"(312) 555-0149"', '"call me"')
    )
    result = _relay("seed-demo", "--file", str(bad), db=db)
    assert result.returncode == 2 and "RFH-100049" in result.stderr
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT count(*) FROM patients").fetchone() == (0,)
