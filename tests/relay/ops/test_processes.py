"""How each process is started: the settings Rasa's tracker and lock stores get from ours."""

import json
import os
import subprocess

import pytest

from relay.core.settings import PROJECT_ROOT, Settings
from relay.ops.processes import rasa_environment


def settings(**values: str) -> Settings:
    return Settings(_env_file=None, **values)


def test_a_percent_encoded_database_password_reaches_rasa_decoded():
    env = rasa_environment(
        settings(database_url="postgresql+psycopg://relay:p%40ss%2Fw%3Ard@db.example:5433/relay_prod")
    )
    assert (env["RASA_TRACKER_DIALECT"], env["RASA_TRACKER_HOST"], env["RASA_TRACKER_PORT"]) == (
        "postgresql", "db.example", "5433",
    )  # fmt: skip
    assert (env["RASA_TRACKER_DB"], env["RASA_TRACKER_USER"], env["RASA_TRACKER_PASSWORD"]) == (
        "relay_prod", "relay", "p@ss/w:rd",
    )  # fmt: skip


def test_the_sqlite_tracker_sits_beside_the_database_file(tmp_path):
    env = rasa_environment(settings(database_url=f"sqlite:///{tmp_path / 'clinic.db'}"))
    assert env["RASA_TRACKER_DIALECT"] == "sqlite"
    assert env["RASA_TRACKER_DB"] == str(tmp_path / "clinic-rasa-tracker.db")
    assert env["RASA_TRACKER_PORT"] == "0" and env["RASA_TRACKER_PASSWORD"] == ""


def test_the_redis_password_and_tls_reach_the_lock_store():
    env = rasa_environment(settings(redis_url="rediss://locks:s%3Acret@redis.example:6380/3"))
    assert (env["RASA_LOCK_REDIS_HOST"], env["RASA_LOCK_REDIS_PORT"], env["RASA_LOCK_REDIS_DB"]) == (
        "redis.example", "6380", "3",
    )  # fmt: skip
    assert (env["RASA_LOCK_REDIS_USERNAME"], env["RASA_LOCK_REDIS_PASSWORD"]) == ("locks", "s:cret")
    assert env["RASA_LOCK_REDIS_USE_SSL"] == "true"


def test_a_plain_local_redis_has_no_password_and_no_tls():
    env = rasa_environment(settings(redis_url="redis://127.0.0.1:6390/0"))
    assert (env["RASA_LOCK_REDIS_PASSWORD"], env["RASA_LOCK_REDIS_USERNAME"], env["RASA_LOCK_REDIS_USE_SSL"]) == (
        "", "", "",
    )  # fmt: skip


# What Rasa itself makes of bot/endpoints.yml with that environment: its own lock store and tracker
# store settings, read in the Rasa venv (nothing connects: only the configured clients are built).
_RASA_READS_ENDPOINTS = """
import json, sys
from rasa.core.lock_store import LockStore
from rasa.utils.endpoints import read_endpoint_config
lock = LockStore.create(read_endpoint_config(sys.argv[1], "lock_store"))
tracker = read_endpoint_config(sys.argv[1], "tracker_store")
kwargs = lock.red.connection_pool.connection_kwargs
print(json.dumps({
    "lock_host": kwargs["host"], "lock_password": kwargs.get("password"),
    "lock_tls": lock.red.connection_pool.connection_class.__name__,
    "tracker_password": tracker.kwargs["password"], "tracker_host": tracker.url,
}))
"""


@pytest.mark.rasa
@pytest.mark.parametrize(
    ("redis_url", "tls", "password"),
    [
        ("rediss://:s3cret@redis.example:6380/3", "SSLConnection", "s3cret"),
        ("redis://127.0.0.1:6390/0", "Connection", ""),
    ],
)
def test_rasa_reads_the_stores_as_relay_means_them(redis_url, tls, password):
    env = os.environ | rasa_environment(
        settings(database_url="postgresql+psycopg://relay:p%40ss@db.example:5433/relay", redis_url=redis_url)
    )
    result = subprocess.run(
        [str(PROJECT_ROOT / ".venv-rasa" / "bin" / "python"), "-c", _RASA_READS_ENDPOINTS,
         str(PROJECT_ROOT / "bot" / "endpoints.yml")],
        env=env | {"RASA_TELEMETRY_ENABLED": "false"}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    read = json.loads(result.stdout.strip().splitlines()[-1])
    assert read["lock_tls"] == tls
    assert (read["lock_password"] or "") == password
    assert (read["tracker_host"], read["tracker_password"]) == ("db.example", "p@ss")
