"""The real bot for any test that needs it: the trained model on a Rasa server plus the action server.

Both run as the stack runs them (`relay serve rasa`, `relay serve actions`),
against the test database and Redis, once per test session (a pytest plugin,
registered in tests/conftest.py, so that tests/bot, tests/console and
tests/browser share one stack).
"""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from relay.core.settings import PROJECT_ROOT, get_settings
from tests.conftest import _TMP
from tests.support import wait_until


def _start(process: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "relay.ops.cli", "serve", process],
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _rasa_ready() -> bool:
    try:
        return bool(httpx.get(f"{get_settings().rasa_url}/status", timeout=2).json().get("model_file"))
    except (httpx.HTTPError, ValueError):
        return False


def start_rasa_and_wait(processes: dict) -> None:
    processes["rasa"] = _start("rasa", _TMP / "rasa.log")
    try:
        wait_until(_rasa_ready, 180, "Rasa server")
    except TimeoutError:
        sys.stderr.write((_TMP / "rasa.log").read_text(errors="replace")[-4000:])
        raise


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def rasa_stack(database):
    if not list((PROJECT_ROOT / "models").glob("relay-*.tar.gz")):
        pytest.fail("no trained Rasa model in models/: run `make train` (make test does)")
    logs = {name: _TMP / f"{name}.log" for name in ("actions", "rasa")}
    processes = {name: _start(name, log) for name, log in logs.items()}
    try:
        action_port = get_settings().action_server_port
        wait_until(lambda: _answers(f"http://127.0.0.1:{action_port}/health"), 180, "action server")
        wait_until(_rasa_ready, 180, "Rasa server")
    except TimeoutError:
        for name, log in logs.items():
            sys.stderr.write(f"--- {name} log ---\n{log.read_text(errors='replace')[-4000:]}\n")
        raise
    yield processes
    for process in processes.values():
        stop(process)
