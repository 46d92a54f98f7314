"""Fixtures of the browser tests (imported by the test_browser_* modules; no conftest here).

The real app serves on 127.0.0.1 at a free port (werkzeug `make_server` in a thread) on a
temporary SQLite database with the test diagram `feasibility_ui.bpmn` and one official per
bureau. Debian's Chromium (never a downloaded browser) runs headless under Playwright; every
page's console errors and uncaught exceptions fail the test, except the ones a test declares
it expects (the 403 and 422 pages). Screenshots go to test-artifacts/browser/.

Without Playwright or Chromium the tests are skipped, unless DALAD_BROWSER_REQUIRED=1 (set by
`make test-browser`), where that is a failure.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
for _name in ("web", "forms"):  # tests/web must not shadow the package (see test_ui_fixtures)
    if _name in sys.modules and getattr(sys.modules[_name], "__file__", None) is None:
        del sys.modules[_name]

from engine import bureaus, history, services, users  # noqa: E402
from engine.database import Database  # noqa: E402
from engine.definitions import BundleFile  # noqa: E402

ARTIFACTS = REPO / "test-artifacts" / "browser"
DIAGRAMS = REPO / "tests" / "diagrams"
CHROMIUM = os.environ.get("DALAD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "browser-pass-2026"
OFFICIALS = {  # name: (display name, bureaus, roles)
    "edu_li": ("李老师", ["unit:edu"], []),
    "health_zhao": ("赵医生", ["unit:health"], []),
    "consultant_wu": ("吴工（咨询）", ["consultant"], []),
    "office_chen": ("陈主任（办公室）", ["office"], []),
    "drc_zhang": ("张科长（发改委）", ["drc"], []),
    "finance_liu": ("刘科长（财政局）", ["finance"], []),
    "leader_gao": ("高组长", ["leading_group"], []),
    "auditor_sun": ("孙审计", [], ["auditor"]),
    "admin_zhou": ("周管理员", [], ["admin"]),
}
HISTORY_KEY = b"browser-test-history-key-0123456789"


def require_browser():
    """Playwright's sync API, or a skip (a failure under `make test-browser`) when it cannot run here."""
    required = os.environ.get("DALAD_BROWSER_REQUIRED") == "1"
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "playwright is not installed (pip install playwright; make test-browser does it)"
        sync_playwright = None
    if problem is None and not os.access(CHROMIUM, os.X_OK):
        problem = f"no Chromium at {CHROMIUM} (apt-get install chromium; make test-browser does it)"
    if problem:
        if required:
            pytest.fail(problem, pytrace=False)
        pytest.skip(problem)
    return sync_playwright


# --- the server --------------------------------------------------------------------------------

_ANSWER = "dalad.tests.answer"  # the WSGI environ's: the app's answer, for the handler to close


def _keeping_answer(app):
    """`app`, its answer kept in the request's environ (see QuietHandler.connection_dropped)."""
    def wsgi(environ, start_response):
        answer = environ[_ANSWER] = app(environ, start_response)
        return answer
    return wsgi


class LiveServer:
    """The app on a temporary SQLite database, served by werkzeug in a thread."""

    def __init__(self, folder: Path):
        from werkzeug.serving import WSGIRequestHandler, make_server

        from web import create_app

        class QuietHandler(WSGIRequestHandler):
            def log_request(self, *args, **kwargs):  # no line per request in the test output
                pass

            def connection_dropped(self, error, environ=None):
                # werkzeug closes the app's answer in a `finally` that first reads what the client
                # still sends; a client that reset the connection (Chromium cancelling the favicon
                # as it navigates) raises there, and the answer, an open static file, was left to
                # the garbage collector: a ResourceWarning the test run turns into a failure.
                answer = (environ or {}).get(_ANSWER)
                if hasattr(answer, "close"):
                    answer.close()

        history.set_key(HISTORY_KEY)
        self.db = Database(f"sqlite:///{folder / 'browser.sqlite3'}")
        self.db.upgrade()
        with self.db.write() as session:
            bureaus.ensure_bureaus(session)
            bureaus.ensure_unit(session, "unit:edu", "旗教育体育局")
            bureaus.ensure_unit(session, "unit:health", "旗卫生健康委员会")
            for name, (display, groups, roles) in OFFICIALS.items():
                users.add_user(session, name, PASSWORD, bureaus=groups, roles=roles,
                               profile=users.Profile(first_name=display))
        with self.db.write() as session:
            services.deploy(session, [BundleFile("feasibility_ui.bpmn", (DIAGRAMS / "feasibility_ui.bpmn").read_bytes())],
                            name="browser tests", user="admin_zhou")
        self.app = create_app(db=self.db)
        self.app.config.update(SECRET_KEY="browser-test-secret")
        self.server = make_server("127.0.0.1", 0, _keeping_answer(self.app), threaded=True,
                                  request_handler=QuietHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-server", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()
        self.db.dispose()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    require_browser()
    server = LiveServer(tmp_path_factory.mktemp("browser"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    sync_playwright = require_browser()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


# --- officials in their own browser contexts ---------------------------------------------------

@dataclass
class Console:
    """Console errors and uncaught page errors, less those a test said it expects."""

    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern] = field(default_factory=list)

    def record(self, text: str) -> None:
        if not any(pattern.search(text) for pattern in self.allowed):
            self.errors.append(text)

    @contextlib.contextmanager
    def expecting(self, pattern: str):
        """Within the block, a console error matching `pattern` is expected (an error page's status)."""
        compiled = re.compile(pattern)
        self.allowed.append(compiled)
        try:
            yield
        finally:
            self.allowed.remove(compiled)


@dataclass
class Official:
    """A logged-in official: their page, and the console errors it collected."""

    name: str
    page: object
    console: Console
    base_url: str

    def goto(self, path: str):
        return self.page.goto(self.base_url + path)

    def shot(self, name: str, full_page: bool = True) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture
def officials(browser, live_server):
    """`officials(name)` opens a browser context for `name`, logs in, and returns the Official.

    At the end of the test every page must have logged no unexpected console error.
    """
    opened: list[tuple[object, Official]] = []

    def open_as(name: Optional[str], *, screenshot_login: Optional[str] = None) -> Official:
        context = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport={"width": 1360, "height": 900},
                                      accept_downloads=True)
        page = context.new_page()
        console = Console()
        page.on("console", lambda message: console.record(f"{message.type}: {message.text} @ {page.url}")
                if message.type == "error" else None)
        page.on("pageerror", lambda error: console.record(f"pageerror: {error} @ {page.url}"))
        page.on("dialog", lambda dialog: dialog.accept())  # the data-confirm questions
        official = Official(name or "anonymous", page, console, live_server.url)
        opened.append((context, official))
        if name:
            page.goto(live_server.url + "/login")
            page.fill("input[name=name]", name)
            page.fill("input[name=password]", PASSWORD)
            if screenshot_login:
                official.shot(screenshot_login)
            page.click("button[type=submit]:has-text('登录')")
            page.wait_for_url(re.compile(r".*/inbox/.*"))
        return official

    yield open_as
    problems = [f"{official.name}: {error}" for _context, official in opened for error in official.console.errors]
    for context, _official in opened:
        context.close()
    assert not problems, "console errors in the browser:\n" + "\n".join(problems)
