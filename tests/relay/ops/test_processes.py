"""How each process is started: the settings Rasa's tracker and lock stores get from ours, each replica's
ports, the workers in each process, and the Procfile's copies under honcho."""

import json
import os
import subprocess
import sys

import pytest
from honcho.environ import expand_processes, parse_procfile

from relay.core.settings import PROJECT_ROOT, Settings
from relay.ops.processes import actions_command, actions_environment, api_command, rasa_command, rasa_environment


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
from rasa.core.utils import number_of_sanic_workers
from rasa.utils.endpoints import read_endpoint_config
lock = LockStore.create(read_endpoint_config(sys.argv[1], "lock_store"))
tracker = read_endpoint_config(sys.argv[1], "tracker_store")
kwargs = lock.red.connection_pool.connection_kwargs
print(json.dumps({
    "lock_host": kwargs["host"], "lock_password": kwargs.get("password"),
    "lock_tls": lock.red.connection_pool.connection_class.__name__,
    "tracker_password": tracker.kwargs["password"], "tracker_host": tracker.url,
    "tracker_type": tracker.type, "tracker_window": tracker.kwargs["window_events"],
    "lock_type": f"{type(lock).__module__}.{type(lock).__qualname__}",
    "lock_prefix": lock.key_prefix, "sanic_workers": number_of_sanic_workers(lock),
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
        env=env | {"RASA_TELEMETRY_ENABLED": "false", "SANIC_WORKERS": "3"}, cwd=PROJECT_ROOT, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    read = json.loads(result.stdout.strip().splitlines()[-1])
    # Our atomic lock store (bot/lock_store.py), with Rasa's keys, and Rasa lets it run several workers.
    assert (read["lock_type"], read["lock_prefix"]) == ("bot.lock_store.AtomicRedisLockStore", "lock:")
    assert read["sanic_workers"] == 3
    assert read["lock_tls"] == tls
    assert (read["lock_password"] or "") == password
    assert (read["tracker_host"], read["tracker_password"]) == ("db.example", "p@ss")
    # Our windowed store (Rasa falls back to an in-memory one, silently, for a type it cannot import).
    assert (read["tracker_type"], read["tracker_window"]) == ("bot.tracker_store.WindowedSQLTrackerStore", "60")


def _after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_replica_0_is_the_stack_as_before():
    one = settings(rasa_url="http://127.0.0.1:5005", action_server_port="5055")
    assert _after(rasa_command(replica=0, settings=one), "--port") == "5005"
    assert rasa_environment(one)["ACTION_SERVER_PORT"] == "5055"
    assert _after(actions_command(0, one), "--port") == "5055"


def test_replica_1_listens_one_port_up_and_calls_its_own_action_server():
    two = settings(rasa_url="http://127.0.0.1:5005", action_server_port="5055", rasa_replicas="2", rasa_workers="3")
    argv = rasa_command(replica=1, settings=two)
    assert argv[1:3] == ["run", "--enable-api"]
    assert (_after(argv, "--interface"), _after(argv, "--port")) == ("127.0.0.1", "5006")
    env = rasa_environment(two, replica=1)
    assert env["ACTION_SERVER_PORT"] == "5056"  # bot/endpoints.yml: action_endpoint on this port
    assert env["SANIC_WORKERS"] == "3"
    assert _after(actions_command(1, two), "--port") == "5056"


def test_workers_per_process_come_from_the_settings():
    chosen = settings(rasa_workers="2", action_server_workers="3", api_workers="4")
    assert rasa_environment(chosen)["SANIC_WORKERS"] == "2"
    assert actions_environment(chosen) == {"SANIC_HOST": "127.0.0.1", "ACTION_SERVER_SANIC_WORKERS": "3"}
    argv = api_command(chosen)
    assert argv[1:4] == ["-m", "uvicorn", "api.app:create_app"] and _after(argv, "--workers") == "4"
    unset = settings()
    assert rasa_environment(unset)["SANIC_WORKERS"] == str(unset.rasa_worker_count)
    assert _after(api_command(unset), "--workers") == str(unset.api_worker_count)


def test_honcho_starts_one_replica_per_copy_of_rasa_and_actions():
    """The Procfile as honcho runs it with -c rasa=2,actions=2 (scripts/run), through the same shell."""
    procfile = parse_procfile((PROJECT_ROOT / "Procfile").read_text())
    copies = expand_processes(procfile.processes, concurrency={"rasa": 2, "actions": 2})
    argv = {}
    for copy in copies:
        shown = subprocess.run(
            ["/bin/sh", "-c", f"printf '%s\\n' {copy.cmd}"], env=os.environ | copy.env,
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        argv[copy.name] = shown.stdout.split()
    assert argv["rasa.1"][1:] == ["serve", "rasa", "--replica", "0"]
    assert argv["rasa.2"][1:] == ["serve", "rasa", "--replica", "1"]
    assert argv["actions.2"][1:] == ["serve", "actions", "--replica", "1"]
    assert argv["api.1"][1:] == ["serve", "api"] and "api.2" not in argv


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["api", "--replica", "1"], "--replica is for rasa and actions only"),
        (["rasa", "--replica", "-1"], "replicas are numbered from 0"),
    ],
)
def test_serve_refuses_a_replica_it_cannot_start(args, said):
    result = subprocess.run(
        [sys.executable, "-m", "relay.ops.cli", "serve", *args],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2 and said in result.stderr


_RASA_READS_THE_ACTION_ENDPOINT = """
import sys
from rasa.utils.endpoints import read_endpoint_config
print(read_endpoint_config(sys.argv[1], "action_endpoint").url)
"""


@pytest.mark.rasa
def test_rasa_replica_1_calls_the_action_server_one_port_up():
    env = os.environ | rasa_environment(settings(action_server_port="5055", rasa_replicas="2"), replica=1)
    result = subprocess.run(
        [str(PROJECT_ROOT / ".venv-rasa" / "bin" / "python"), "-c", _RASA_READS_THE_ACTION_ENDPOINT,
         str(PROJECT_ROOT / "bot" / "endpoints.yml")],
        env=env | {"RASA_TELEMETRY_ENABLED": "false"}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "http://127.0.0.1:5056/webhook"
