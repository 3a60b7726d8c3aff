"""`relay create-user` as run from a shell: the link on stdout, an existing email refused with exit 2."""

import os
import sqlite3
import subprocess
import sys

from relay.core.settings import PROJECT_ROOT

USERS = "SELECT email, role, name, password_hash, enrolment_token_hash FROM staff_users"


def _relay(*args: str, db: str) -> subprocess.CompletedProcess:
    env = os.environ | {"DATABASE_URL": f"sqlite:///{db}", "PUBLIC_BASE_URL": "https://relay.clinic.example/"}
    return subprocess.run([sys.executable, "-m", "relay.ops.cli", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_create_user_prints_the_link_and_refuses_the_same_email_twice(tmp_path):
    db = str(tmp_path / "fresh.db")
    assert _relay("migrate", db=db).returncode == 0
    made = _relay("create-user", "Admin@Clinic.example", "--role", "admin", db=db)
    assert made.returncode == 0, made.stderr
    assert "https://relay.clinic.example/console/enrol/" in made.stdout and "24 hours" in made.stdout
    token = made.stdout.split("/console/enrol/")[1].split()[0]
    with sqlite3.connect(db) as connection:
        rows = connection.execute(USERS).fetchall()
    assert len(rows) == 1
    email, role, name, password_hash, token_hash = rows[0]
    assert (email, role, name, password_hash) == ("admin@clinic.example", "admin", "admin", None)
    assert token_hash and token not in token_hash

    again = _relay("create-user", "admin@clinic.example", "--role", "staff", db=db)
    assert again.returncode == 2 and "already has an account" in again.stderr and "/console/enrol/" not in again.stdout
    assert _relay("create-user", "x@clinic.example", "--role", "owner", db=db).returncode == 2  # argparse: no such role
