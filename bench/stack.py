"""Start the real stack for a benchmark: Redis, Rasa, action server, API and worker as separate processes.

Outbound texts (the demo clinic's due reminders, which the worker sends)
go to the local fake Twilio API, so nothing lands in the developer's outbox.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

from relay.core.settings import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{what} did not come up within {timeout:.0f}s")


class Stack:
    """Ports, environment and processes of one benchmark stack."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.api_port, self.rasa_port, self.action_port = free_port(), free_port(), free_port()
        self.env = os.environ.copy() | {
            "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{workdir / 'bench.db'}",
            "API_PORT": str(self.api_port),
            "RASA_URL": f"http://127.0.0.1:{self.rasa_port}",
            "ACTION_SERVER_PORT": str(self.action_port),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.api_port}",
            "RASA_TELEMETRY_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
            # Measure latency, not the timeout path: with the default few seconds,
            # a turn queued behind 15 others would be answered by the apology
            # and hand its conversation to staff (which silences the bot).
            "RASA_TIMEOUT_SECONDS": "60",
            "VOICE_RASA_TIMEOUT_SECONDS": "60",
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def _relay(self, *args: str, log: str | None = None) -> subprocess.Popen[bytes]:
        out = (self.workdir / f"{log}.log").open("wb") if log else subprocess.DEVNULL
        return subprocess.Popen(
            [sys.executable, "-m", "relay.ops.cli", *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def start(self) -> None:
        if not os.environ.get("REDIS_URL"):
            port = free_port()
            self.env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
            self.processes["redis"] = self._relay("serve", "redis", log="redis")
        for step in (("migrate",), ("seed-demo", "--if-empty")):
            subprocess.run([sys.executable, "-m", "relay.ops.cli", *step], cwd=PROJECT_ROOT, env=self.env, check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
        from relay.core.settings import get_settings
        from tests.fake_twilio import FakeTwilio

        settings = get_settings()
        self.twilio = FakeTwilio(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value()).start()
        self.env["TWILIO_API_BASE_URL"] = self.twilio.base_url
        for name in ("actions", "rasa", "api", "worker", "cron"):
            self.processes[name] = self._relay("serve", name, log=name)
        _wait(lambda: httpx.get(f"http://127.0.0.1:{self.action_port}/health").status_code == 200, 90, "action server")
        _wait(lambda: bool(httpx.get(f"{self.rasa_url}/status").json().get("model_file")), 240, "Rasa")
        _wait(lambda: httpx.get(f"{self.api_url}/health").status_code == 200, 60, "API")

    def rss_mb(self) -> dict[str, float]:
        """Resident memory of each process and its children (Rasa and Sanic fork)."""
        sizes = {}
        for name, process in self.processes.items():
            try:
                root = psutil.Process(process.pid)
                procs = [root, *root.children(recursive=True)]
                sizes[name] = round(sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20, 1)
            except psutil.NoSuchProcess:
                sizes[name] = float("nan")
        return sizes

    def stop(self) -> None:
        if getattr(self, "twilio", None) is not None:
            self.twilio.stop()
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def running_stack() -> Iterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        stack = Stack(Path(tmp))
        try:
            stack.start()
            yield stack
        finally:
            stack.stop()
