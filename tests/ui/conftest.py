"""Browser tests of the web UI: Playwright (Python) driving Debian's Chromium, headless,
against servers on loopback over one store that ``shipyard quickstart`` filled.

Two servers share that store: ``ui`` with auth off (as ``shipyard ui`` runs it), and
``ui_auth`` with auth on and four users: ``admin`` (server admin), ``alice`` (editor on
the quickstart's projects), ``victor`` (viewer on them) and ``quinn`` (viewer on
"quickstart" only: its features, not its flow's runs and model). ``browser_page`` fails a
test on any console error or uncaught exception on the page. With SHIPYARD_UI_SCREENSHOTS=1,
``screenshot`` saves the pages under docs/ui/ (the README's and the docs' pictures).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shipyard.config import load_settings
from shipyard.governance import hash_secret
from shipyard.governance.tokens import new_secret, shown_prefix
from shipyard.server import create_app
from shipyard.server.auth import AuthConfig
from shipyard.server.run import ServerThread
from shipyard.tracking import Client

CHROMIUM = os.environ.get("SHIPYARD_CHROMIUM", "/usr/bin/chromium")
DOCS = Path(__file__).parents[2] / "docs" / "ui"
QUICKSTART_PROJECTS = ("quickstart", "QuickstartFlow")
pytestmark = pytest.mark.ui


def _missing(why: str) -> None:
    """Skip, except in CI (SHIPYARD_TEST_UI=1), where a missing browser fails the run."""
    if os.environ.get("SHIPYARD_TEST_UI") == "1":
        pytest.fail(why)
    pytest.skip(why)


def _playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("browser tests need playwright: pip install -e '.[dev]'")
    if not Path(CHROMIUM).exists():
        _missing(f"browser tests need Chromium at {CHROMIUM}: apt-get install chromium")
    return sync_playwright


@pytest.fixture(scope="session")
def quickstart_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with everything in it: the quickstart's runs, flow, features, model,
    predictions, monitors and alerts."""
    home = tmp_path_factory.mktemp("ui") / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env["SHIPYARD_HOME"] = str(home)
    work = home.parent / "work"
    work.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "shipyard.cli", "quickstart"],
        cwd=work, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return home


@pytest.fixture(scope="session")
def ui_client(quickstart_home: Path) -> Iterator[Client]:
    client = Client(settings=load_settings({}, env={"SHIPYARD_HOME": str(quickstart_home)}))
    yield client
    client.close()


@dataclass
class Server:
    url: str
    client: Client
    tokens: dict[str, str] = field(default_factory=dict)  # user -> API token


@pytest.fixture(scope="session")
def ui(ui_client: Client) -> Iterator[Server]:
    server = ServerThread(create_app(ui_client)).start()
    yield Server(server.url, ui_client)
    server.stop()


def _make_user(client: Client, name: str, admin: bool, role: str | None) -> str:
    # the quickstart's features are in "quickstart", its runs and model in its flow's
    return make_user(client, name, dict.fromkeys(QUICKSTART_PROJECTS, role) if role else {}, admin)


def make_user(client: Client, name: str, roles: dict[str, str], admin: bool = False) -> str:
    """A new user with ``roles`` (project -> role); their API token."""
    identity = client.store.identity
    now = int(client.clock.now().timestamp() * 1000)
    identity.create_user(name, "user", admin, "tests", now)
    for project, role in roles.items():
        identity.grant_role(name, project, role, now)
    secret = new_secret()
    identity.create_token(name, "ui tests", hash_secret(secret), shown_prefix(secret), now, None)
    return secret


@pytest.fixture(scope="session")
def ui_auth(ui_client: Client) -> Iterator[Server]:
    tokens = {
        "admin": _make_user(ui_client, "admin", True, None),
        "alice": _make_user(ui_client, "alice", False, "editor"),
        "victor": _make_user(ui_client, "victor", False, "viewer"),
        "quinn": make_user(ui_client, "quinn", {"quickstart": "viewer"}),
    }
    server = ServerThread(create_app(ui_client, auth=AuthConfig(enabled=True))).start()
    yield Server(server.url, ui_client, tokens)
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    with _playwright()() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield chromium
        chromium.close()


@dataclass
class PageErrors:
    """What went wrong on a page: console errors and uncaught exceptions."""

    messages: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)  # substrings a test expects

    def unexpected(self) -> list[str]:
        return [m for m in self.messages if not any(a in m for a in self.allowed)]


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def browser_page(browser: Any, page_errors: PageErrors) -> Iterator[Any]:
    """A fresh browser context and page; the test fails on any console error."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("console", lambda m: m.type == "error" and page_errors.messages.append(m.text))
    page.on("pageerror", lambda e: page_errors.messages.append(f"uncaught: {e}"))
    yield page
    context.close()
    assert not page_errors.unexpected(), f"errors on the page: {page_errors.unexpected()}"


def sign_in(page: Any, server: Server, user: str) -> None:
    page.goto(f"{server.url}/ui/login")
    page.fill("input[name=token]", server.tokens[user])
    page.click("form[action='/ui/login'] button[type=submit]")
    page.wait_for_url(f"{server.url}/ui/")


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[[Any, str], Path]:
    """Save the page as NAME.png: under docs/ui/ with SHIPYARD_UI_SCREENSHOTS=1."""
    to_docs = os.environ.get("SHIPYARD_UI_SCREENSHOTS") == "1"

    def take(page: Any, name: str) -> Path:
        folder = DOCS if to_docs else tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=False)
        return path

    return take


def charts_drawn(page: Any, selector: str = "[data-chart]") -> int:
    """How many charts on the page uPlot drew (each has a canvas)."""
    page.wait_for_function(
        f"Array.from(document.querySelectorAll('{selector}')).every(e => e.dataset.rendered)"
    )
    count: int = page.locator(f"{selector} canvas").count()
    return count


__all__ = ["PageErrors", "Server", "charts_drawn", "make_user", "sign_in"]
