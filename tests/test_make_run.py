"""`make run` brings the whole stack up on embedded defaults, `relay chat` talks to it, Ctrl-C stops it."""

import os
import re
import signal
import socket
import subprocess

import httpx
import pytest

from relay.core.settings import PROJECT_ROOT
from tests.conftest import _TMP
from tests.support import free_port, wait_until

pytestmark = pytest.mark.rasa


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _healthy(api_port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def test_make_run_starts_everything_and_ctrl_c_stops_it():
    api_port, rasa_port, action_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "REDIS_URL"))}
    env |= {
        # A database of its own, and no REDIS_URL: the embedded Redis path, as on a fresh machine.
        "DATABASE_URL": f"sqlite:///{_TMP / 'make-run.db'}",
        "API_PORT": str(api_port),
        "RASA_URL": f"http://127.0.0.1:{rasa_port}",
        "ACTION_SERVER_PORT": str(action_port),
    }
    log = (_TMP / "make-run.log").open("wb")
    stack = subprocess.Popen(
        ["make", "run"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        try:
            wait_until(lambda: _healthy(api_port), 240, "make run's /health")
        except TimeoutError:
            raise AssertionError((_TMP / "make-run.log").read_text(errors="replace")[-5000:]) from None
        banner = (_TMP / "make-run.log").read_text(errors="replace")
        assert f"http://127.0.0.1:{api_port}" in banner and "embedded redis-server" in banner

        redis_port = int(re.search(r"redis://127\.0\.0\.1:(\d+)", banner).group(1))
        listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
        for port in (api_port, rasa_port, action_port, redis_port):
            addresses = re.findall(rf"(\S+):{port}\s", listening)
            assert addresses, f"nothing listens on {port}"
            assert set(addresses) == {"127.0.0.1"}, f"port {port} listens on {addresses}, not loopback only"

        chat = subprocess.run(
            [str(PROJECT_ROOT / ".venv" / "bin" / "relay"), "chat", "--as", "James Carter"],
            input="when is my appointment?\n9/3/1957\n",
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            cwd=PROJECT_ROOT,
        )
        assert chat.returncode == 0, chat.stderr
        assert "date of birth" in chat.stdout.lower()
        assert "Lakeside Heart Center" in chat.stdout
    finally:
        os.killpg(stack.pid, signal.SIGINT)
        try:
            stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            raise
        log.close()
    for port in (api_port, rasa_port, action_port):
        assert not _listening(port), f"port {port} still open after Ctrl-C"
