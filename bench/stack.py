"""Start the real stack for a benchmark: Redis, Rasa, action server, API and worker as separate processes.

Outbound texts (the demo clinic's due reminders, which the worker sends)
go to the local fake Twilio API, so nothing lands in the developer's outbox.
"""

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path

import httpx
import psutil

from relay.core.phones import mask
from relay.core.settings import PROJECT_ROOT

PHONE_LIKE = re.compile(r"\+\d{10,15}\b|\b\d{10}\b")  # E.164, as we store them, or ten bare digits


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports(count: int) -> int:
    """A port P such that P .. P+count-1 are all free (replica I of a server listens on P+I)."""
    for _ in range(200):
        base = free_port()
        if base + count > 65535:
            continue
        with ExitStack() as held:
            try:
                for port in range(base, base + count):
                    sock = held.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return base
    raise RuntimeError(f"found no {count} free ports in a row")


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


# A folder whose sitecustomize.py counts the action server's calls (bench/action_calls/).
ACTION_CALLS_HOOK = Path(__file__).resolve().parent / "action_calls"
# Rasa at INFO: it logs nothing per turn at that level, and bot/ted_cache.py its hits and misses, which the bench reads.
RASA_ENV = {"LOG_LEVEL": "INFO"}


def _answers(url: str) -> bool:
    return httpx.get(url).status_code == 200


def _has_model(rasa_url: str) -> bool:
    return bool(httpx.get(f"{rasa_url}/status").json().get("model_file"))


class Stack:
    """Ports, environment and processes of one benchmark stack.

    `replicas` Rasa servers, each with its own action server (`relay serve rasa
    --replica I`: Rasa on the RASA_URL port + I, its action server on
    ACTION_SERVER_PORT + I; the API spreads turns over RASA_REPLICAS). One
    replica starts exactly as `make run` does. `workers` sets RASA_WORKERS,
    API_WORKERS and ACTION_SERVER_WORKERS where given. With `count_actions`,
    the action servers append each action they run to `action_calls.log`
    (bench/action_calls/sitecustomize.py).
    """

    def __init__(self, workdir: Path, *, replicas: int = 1, workers: dict[str, int] | None = None,
                 count_actions: bool = False) -> None:  # fmt: skip
        self.workdir = workdir
        self.replicas = replicas
        self.api_port, self.rasa_port, self.action_port = free_port(), free_ports(replicas), free_ports(replicas)
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
        if replicas > 1:
            self.env["RASA_REPLICAS"] = str(replicas)
        for name, count in (workers or {}).items():
            self.env[f"{name.upper()}_WORKERS"] = str(count)  # rasa, api, action_server
        self.action_calls_log = workdir / "action_calls.log" if count_actions else None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def rasa_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{self.rasa_port + i}" for i in range(self.replicas)]

    def _relay(self, *args: str, log: str | None = None, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        out = (self.workdir / f"{log}.log").open("wb") if log else subprocess.DEVNULL
        return subprocess.Popen(
            [sys.executable, "-m", "relay.ops.cli", *args],
            cwd=PROJECT_ROOT,
            env=self.env | (env or {}),
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
        self._start_bot()
        for name in ("api", "worker", "cron"):
            self.processes[name] = self._relay("serve", name, log=name)
        for i, url in enumerate(self.rasa_urls()):
            health = f"http://127.0.0.1:{self.action_port + i}/health"
            _wait(partial(_answers, health), 180, f"action server {i}")
            _wait(partial(_has_model, url), 240, f"Rasa {i}")
        _wait(lambda: httpx.get(f"{self.api_url}/health").status_code == 200, 60, "API")

    def _start_bot(self) -> None:
        """Rasa and its action server: `rasa`/`actions` for one replica, `rasa-I`/`actions-I` for more."""
        actions_env = {}
        if self.action_calls_log is not None:
            path = os.pathsep.join(p for p in (str(ACTION_CALLS_HOOK), self.env.get("PYTHONPATH", "")) if p)
            actions_env = {"PYTHONPATH": path, "RELAY_BENCH_ACTION_CALLS": str(self.action_calls_log)}
        if self.replicas == 1:
            self.processes["actions"] = self._relay("serve", "actions", log="actions", env=actions_env)
            self.processes["rasa"] = self._relay("serve", "rasa", log="rasa", env=RASA_ENV)
            return
        for i in range(self.replicas):
            self.processes[f"actions-{i}"] = self._relay("serve", "actions", "--replica", str(i), log=f"actions-{i}",
                                                         env=actions_env)  # fmt: skip
            self.processes[f"rasa-{i}"] = self._relay("serve", "rasa", "--replica", str(i), log=f"rasa-{i}",
                                                      env=RASA_ENV)  # fmt: skip

    def pids(self, kind: str) -> list[int]:
        """The process ids of every `kind` server ("rasa" or "actions"), one per replica."""
        return [p.pid for name, p in self.processes.items() if name == kind or name.startswith(f"{kind}-")]

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

    def memory_detail_mb(self) -> dict[str, dict]:
        """Per process: RSS of the process itself and of each child (Sanic workers), and their PSS together.

        RSS double counts what forked workers share with their parent; PSS splits
        the shared pages among them, so PSS totals add up.
        """
        detail = {}
        for name, process in self.processes.items():
            try:
                root = psutil.Process(process.pid)
                procs = [root, *root.children(recursive=True)]
                detail[name] = {
                    "rss_mb": [round(p.memory_info().rss / 2**20, 1) for p in procs],
                    "pss_total_mb": round(sum(_pss(p) for p in procs) / 2**20, 1),
                }
            except psutil.NoSuchProcess:
                detail[name] = {"rss_mb": [], "pss_total_mb": float("nan")}
        return detail

    def print_log_tails(self, lines: int = 15) -> None:
        for log in sorted(self.workdir.glob("*.log")):
            # A failing process may have logged a number (bench patients are made up, but the rule holds): mask them.
            tail = [PHONE_LIKE.sub(lambda m: mask(m.group()), line)
                    for line in log.read_text(errors="replace").splitlines()[-lines:]]  # fmt: skip
            print(f"--- {log.name} (last {len(tail)} lines)", *tail, sep="\n", file=sys.stderr)

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


def _pss(process: psutil.Process) -> int:
    try:
        return getattr(process.memory_full_info(), "pss", process.memory_info().rss)
    except (psutil.AccessDenied, psutil.NoSuchProcess):
        return process.memory_info().rss


def bot_can_replicate() -> bool:
    """Whether `relay serve` takes --replica yet (the multi-replica contract of issue 14)."""
    done = subprocess.run([sys.executable, "-m", "relay.ops.cli", "serve", "--help"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True)  # fmt: skip
    return "--replica" in done.stdout


def shape() -> dict[str, int]:
    """Replicas and workers per process as this process's settings give them (after using_stack)."""
    from relay.core.settings import get_settings

    settings = get_settings()
    names = {"rasa_replicas": "rasa_replicas", "rasa_workers": "rasa_worker_count",
             "action_server_workers": "action_server_worker_count", "api_workers": "api_worker_count"}  # fmt: skip
    return {key: getattr(settings, attribute) for key, attribute in names.items() if hasattr(settings, attribute)}


def setting(name: str, default: float) -> float:
    """A BENCH_* setting from the environment."""
    return float(os.environ.get(name) or default)


@contextmanager
def using_stack(stack: Stack) -> Iterator[None]:
    """Point this process's settings and database at the stack (as its processes see them), then back."""
    from relay.core.db import dispose_engines
    from relay.core.settings import get_settings

    saved = os.environ.copy()
    os.environ.update(stack.env)
    get_settings.cache_clear()
    dispose_engines()
    try:
        yield
    finally:
        dispose_engines()
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


@contextmanager
def running_stack(*, replicas: int = 1, workers: dict[str, int] | None = None, count_actions: bool = False,
                  database_url: str | None = None) -> Iterator[Stack]:  # fmt: skip
    """A started stack, stopped on exit.

    `database_url` overrides DATABASE_URL ("sqlite": a temporary SQLite file,
    also the default when DATABASE_URL is unset).
    """
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        stack = Stack(Path(tmp), replicas=replicas, workers=workers, count_actions=count_actions)
        if database_url:
            sqlite = f"sqlite:///{Path(tmp) / 'bench.db'}"
            stack.env["DATABASE_URL"] = sqlite if database_url == "sqlite" else database_url
        try:
            try:
                stack.start()
            except Exception:
                stack.print_log_tails()  # the workdir, logs and all, goes with the stack
                raise
            yield stack
        finally:
            stack.stop()
