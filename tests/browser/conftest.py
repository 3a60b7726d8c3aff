"""Browser tests: Debian's Chromium, driven by Playwright's sync API, against the real app on a live server.

- Chromium comes from Debian (`chromium`), never from Playwright's downloads:
  `chromium_path` finds it as scripts/ensure-chromium does, and runs that script
  (which installs the package as root) when it is missing.
- Playwright and the browser live for the tests/browser package only. The sync
  API runs its own asyncio loop in this (the main) thread and marks it as the
  thread's running loop between calls; kept for the whole session it would make
  `asyncio.run()` in later tests fail ("cannot be called from a running event
  loop"). TestClient-based tests are unaffected either way (anyio runs their loop
  in a thread of its own), as is the live server (uvicorn's loop in its thread).
- pytest-timeout (signal method, 300 s) and Playwright cooperate: Playwright's own
  timeouts are far shorter, so a stuck page fails with Playwright's message; and
  if the alarm does fire during a sync call, Playwright raises it in the test and
  its connection stays usable for the next test.
- The live server is the app under uvicorn on 127.0.0.1, opened as
  http://localhost:PORT (see tests/browser/support.py for why the Secure cookies
  work there), with the console's clock (`clock`) in the test's hand.
"""

import os
import subprocess
from collections.abc import Callable, Generator, Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from api.app import create_app
from console.deps import console_now
from relay.core.settings import PROJECT_ROOT
from relay.models import StaffRole
from tests.browser.support import (
    DESKTOP,
    MISSING_CHROMIUM,
    LiveServer,
    find_chromium,
    problems_of,
    readable,
    screenshot,
    watch,
)
from tests.console.support import Account, Clock, make_account
from tests.fake_twilio import FakeTwilio

ACTION_TIMEOUT_MS = 10_000  # a click or a fill that waits longer than this will not succeed
NAVIGATION_TIMEOUT_MS = 15_000
EXPECT_TIMEOUT_MS = 5_000  # expect(...).to_have_url / to_be_visible retry until this

Viewport = dict[str, int]
OpenPage = Callable[..., Page]

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test, so `open_page` can photograph the pages of a failed test."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


# --- Chromium and Playwright ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_path() -> str:
    found = find_chromium()
    explicit = os.environ.get("CHROMIUM_PATH")
    if found is None and explicit:
        pytest.fail(f"CHROMIUM_PATH={explicit} is not an executable file (unset it to use Debian's chromium)")
    if found is None:
        # `make test` has run scripts/ensure-chromium already; a bare `pytest` run does the same here:
        # it installs the package as root with apt-get, and otherwise says what to run.
        script = PROJECT_ROOT / "scripts" / "ensure-chromium"
        result = subprocess.run([str(script)], capture_output=True, text=True, timeout=240)
        found = find_chromium()
        if found is None:
            pytest.fail(f"{MISSING_CHROMIUM}\n{result.stderr.strip()[-2000:]}".rstrip(), pytrace=False)
    return found


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        expect.set_options(timeout=EXPECT_TIMEOUT_MS)
        yield pw


@pytest.fixture(scope="package")
def browser(playwright: Playwright, chromium_path: str) -> Iterator[Browser]:
    # Chromium's sandbox refuses to start as root (CI runs as root); /dev/shm is small in containers.
    args = ["--disable-dev-shm-usage"] + (["--no-sandbox"] if os.geteuid() == 0 else [])
    browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=args)
    yield browser
    browser.close()


@pytest.fixture
def open_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[OpenPage]:
    """Open a page in a fresh browser context (its own cookies): `open_page()`, `open_page(TABLET, locale="es-US")`.

    Every page is watched (support.watch): a CSP violation or an uncaught script error fails the test.
    When the test fails, every page it opened is saved to reports/screenshots/FAILED-<test id>-<n>.png.
    """
    contexts: list[BrowserContext] = []
    pages: list[Page] = []

    def open_(viewport: Viewport = DESKTOP, **options: object) -> Page:
        context = browser.new_context(viewport=viewport, **options)  # type: ignore[arg-type]
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        watch(page)
        pages.append(page)
        return page

    yield open_
    reports = request.node.stash.get(_REPORTS, {})
    failed = any(report.failed for report in reports.values())
    problems = [problem for page in pages for problem in problems_of(page)]
    for number, context in enumerate(contexts, start=1):
        if failed:
            for page in context.pages:
                try:
                    screenshot(page, f"FAILED-{readable(request.node.nodeid)}-{number}")
                except Exception as exc:  # a crashed page cannot be photographed; the failure says enough
                    print(f"no screenshot of the failed page: {exc}")
        context.close()
    if problems and not failed:
        pytest.fail("the browser reported problems in the page:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def page(open_page: OpenPage) -> Page:
    """A desktop-sized page (1280x900) in a fresh context."""
    return open_page()


# --- the live console -------------------------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    """The console's clock (console.deps.console_now) on the live server; move it with `clock.advance(...)`."""
    return Clock()


@pytest.fixture
def live_server(fresh_demo: None, clock: Clock) -> Iterator[LiveServer]:
    """The API app (console included) on a live server, a fresh demo clinic, the console's clock overridden."""
    app = create_app()
    app.dependency_overrides[console_now] = clock
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture
def live_console(live_server: LiveServer) -> str:
    """The live server's base URL, http://localhost:PORT; the console is at /console/."""
    return live_server.url


@pytest.fixture
def live_twilio(fake_twilio: FakeTwilio, live_server: LiveServer) -> FakeTwilio:
    """The fake Twilio REST API (tests/fake_twilio.py) that the live server's outbound SMS go to.

    The live server runs in this process and reads the settings (cached by get_settings()) for each
    send, so tests/conftest.py's `fake_twilio`, which points TWILIO_API_BASE_URL at the fake and
    clears that cache, reaches it too: `live_twilio.created_requests()` and `.sent` show what went out.
    """
    return fake_twilio


@pytest.fixture
def account(fresh_demo: None, clock: Clock) -> Account:
    """A staff member (role staff), enrolled, whose codes follow `clock`."""
    return make_account(clock)


@pytest.fixture
def admin(fresh_demo: None, clock: Clock) -> Account:
    """An admin, enrolled, whose codes follow `clock`."""
    return make_account(clock, email="ada@clinic.example", name="Ada Admin", role=StaffRole.ADMIN)
