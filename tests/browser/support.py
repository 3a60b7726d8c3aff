"""Helpers for browser tests: Debian's Chromium, a live server, signing in as a person would, screenshots,
what the page reports as broken, and axe-core scans.

The console is served by the real API app under uvicorn in a thread of the test
process, on 127.0.0.1, and the browser opens it as http://localhost:PORT.
The console's cookies are Secure (PUBLIC_BASE_URL is https in the tests), and
Chromium treats http://localhost as a secure origin: it keeps Secure cookies
from it and sends them back, so signing in works as it does behind https.
"""

import json
import os
import re
import shutil
import threading
import time
from pathlib import Path
from weakref import WeakKeyDictionary

import pytest
import uvicorn
from axe_playwright_python.sync_playwright import Axe, AxeResults
from fastapi import FastAPI
from playwright.sync_api import ConsoleMessage, Error, Page, expect

from relay.core.settings import PROJECT_ROOT
from tests.console.support import Account, Clock

SCREENSHOTS = PROJECT_ROOT / "reports" / "screenshots"
ACCESSIBILITY = PROJECT_ROOT / "reports" / "accessibility"

DESKTOP = {"width": 1280, "height": 900}
TABLET = {"width": 820, "height": 1180}  # an iPad Air held upright: the front desk's other screen

# The Debian package the browser tests drive; scripts/ensure-chromium installs it.
CHROMIUM_PACKAGE = "chromium"
MISSING_CHROMIUM = (
    f"Debian's {CHROMIUM_PACKAGE} package is not installed: run `apt-get install {CHROMIUM_PACKAGE}` "
    "(make test does it as root)"
)


def find_chromium() -> str | None:
    """Chromium's path, looked for as scripts/ensure-chromium does: $CHROMIUM_PATH (only that, when set),
    `chromium` on PATH, /usr/bin/chromium, `chromium-browser`."""
    explicit = os.environ.get("CHROMIUM_PATH")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) and Path(explicit).is_file() else None
    for candidate in (shutil.which("chromium"), "/usr/bin/chromium", shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return candidate
    return None


# --- the live server ---------------------------------------------------------------------------------


class LiveServer:
    """The app under uvicorn in a daemon thread, on a port the system picks; `url` is what the browser opens."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="live-console", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def start(self, timeout: float = 15) -> "LiveServer":
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the live server stopped while starting")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the live server did not start in {timeout:.0f}s")
            time.sleep(0.02)
        # Port 0 until bound: no window in which another process can take a port chosen in advance.
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        # uvicorn installs signal handlers only in the main thread; from here, should_exit is the way to stop it.
        self._server.should_exit = True
        self._thread.join(timeout=10)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout=5)


# --- what a person does ------------------------------------------------------------------------------


def sign_in(page: Page, base: str, account: Account, clock: Clock) -> None:
    """Email and password, then the code the authenticator shows at the console's `clock.now`: the queue shows."""
    enter_password(page, base, account.email, account.password)
    expect(page).to_have_url(f"{base}/console/sign-in/code")
    enter_code(page, account.code(clock.now))
    expect(page).to_have_url(f"{base}/console/")
    expect(page.get_by_role("heading", name="Handoff queue")).to_be_visible()


def enter_password(page: Page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/console/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Continue").click()


def enter_code(page: Page, code: str) -> None:
    page.get_by_label("6-digit code").fill(code)
    page.get_by_role("button", name="Sign in").click()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


# --- artefacts ---------------------------------------------------------------------------------------


def readable(name: str) -> str:
    """A file name from a test id or a label: 'tests/browser/test_x.py::test_y[tablet]' -> 'test_x--test_y-tablet'."""
    file, _, rest = name.partition("::")
    if rest:
        name = f"{Path(file).stem}--{rest}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name.replace("::", "--")).strip("-")


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save what the page shows now to reports/screenshots/<name>.png (the CI artefact folder)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{readable(name)}.png"
    page.screenshot(path=path, full_page=full_page)
    return path


# --- what the page itself reports ---------------------------------------------------------------------

_PROBLEMS: "WeakKeyDictionary[Page, list[str]]" = WeakKeyDictionary()


def watch(page: Page) -> list[str]:
    """From now on, collect what breaks in the page: CSP violations and uncaught script errors.

    The console's CSP allows no inline script or style; a page that needs one is broken in the browser
    (htmx falls silent, a style is dropped) while every server-side test passes. The `open_page`
    fixture watches every page and fails the test when something was collected.
    """
    problems = _PROBLEMS.setdefault(page, [])

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            problems.append(f"CSP violation on {page.url}: {message.text}")

    def on_error(error: Error) -> None:
        problems.append(f"script error: {error.name}: {error.message}")

    page.on("console", on_console)
    page.on("pageerror", on_error)
    return problems


def problems_of(page: Page) -> list[str]:
    return list(_PROBLEMS.get(page, []))


# --- accessibility -----------------------------------------------------------------------------------

BLOCKING = ("serious", "critical")


def accessibility_problems(page: Page, name: str) -> str:
    """Scan the page as it is now with axe-core; '' when nothing serious or critical was found, else a report.

    axe-playwright-python injects axe-core with page.evaluate, which runs through the DevTools protocol and
    is not subject to the console's CSP (script-src 'self'), so the scan needs no bypass_csp. The whole
    result, minor findings included, goes to reports/accessibility/<name>.json.
    """
    results = Axe().run(page)
    ACCESSIBILITY.mkdir(parents=True, exist_ok=True)
    (ACCESSIBILITY / f"{readable(name)}.json").write_text(json.dumps(results.response["violations"], indent=2))
    blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING]
    if not blocking:
        return ""
    report = AxeResults({"violations": blocking}).generate_report()
    return f"{page.url}: serious or critical only\n{report}"


def assert_accessible(page: Page, name: str) -> None:
    """Fail, with axe's readable report, when the page has a serious or critical accessibility violation."""
    problems = accessibility_problems(page, name)
    if problems:
        pytest.fail(problems, pytrace=False)
