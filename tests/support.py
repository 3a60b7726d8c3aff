"""Helpers the tests share: free ports, waiting, the demo clinic's relative dates."""

import socket
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

DEMO_TZ = "America/Chicago"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s")


def demo_today() -> date:
    return datetime.now(ZoneInfo(DEMO_TZ)).date()


def demo_moment(days: int, hh_mm: str) -> datetime:
    """What the seed makes of 'D+days hh:mm': an aware time in the clinic's zone."""
    return datetime.combine(
        demo_today() + timedelta(days=days), clock.fromisoformat(hh_mm), tzinfo=ZoneInfo(DEMO_TZ)
    ).astimezone(UTC)
