"""Web UI sessions: signing in with a token gives a session cookie that works like the
token, signing out revokes it, and a browser's changes need the CSRF token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shipyard import governance
from shipyard.server import create_app
from shipyard.server.auth import SESSION_COOKIE, AuthConfig
from shipyard.server.csrf import CSRF_COOKIE
from shipyard.tracking import Client
from tests.server._inprocess import TestClient

CSRF = "k" * 43


@pytest.fixture
def browser(shipyard_client: Client) -> Iterator[TestClient]:
    """A client that behaves as a browser signed in as eddie (editor everywhere)."""
    governance.create_user("eddie")
    governance.grant_role("eddie", "*", "editor")
    token, _ = governance.create_token("eddie")
    app = create_app(shipyard_client, AuthConfig(enabled=True))
    with TestClient(app, follow_redirects=False) as http:
        http.cookies.set(CSRF_COOKIE, CSRF)
        answer = http.post("/ui/login", data={"token": token, "csrf": CSRF, "next": "/ui/audit"})
        assert answer.status_code == 303 and answer.headers["location"] == "/ui/audit"
        assert "httponly" in answer.headers["set-cookie"].lower()
        assert "samesite=strict" in answer.headers["set-cookie"].lower()
        yield http


def test_the_session_cookie_is_a_new_token_of_the_same_user(browser, shipyard_client):
    tokens = shipyard_client.store.identity.list_tokens("eddie")
    assert sorted(t.name for t in tokens) == ["", "web UI session"]
    session = next(t for t in tokens if t.name == "web UI session")
    assert session.expires_ms - session.created_ms == 12 * 3_600_000
    assert browser.get("/api/v1/projects").status_code == 200  # the cookie signs API reads in
    entries = shipyard_client.store.audit.list_audit(actor="eddie", action="token.*")
    assert [e.object for e in entries] == [f"token:{session.id}"]


def test_a_browsers_change_needs_the_csrf_token(browser):
    refused = browser.post("/api/v1/projects", json={"name": "from-a-page"})
    assert refused.status_code == 403 and "security token" in refused.json()["error"]["message"]
    made = browser.post("/api/v1/projects", json={"name": "ok"}, headers={"x-csrf-token": CSRF})
    assert made.status_code in (200, 201)
    other_site = browser.post(
        "/api/v1/projects",
        json={"name": "evil"},
        headers={"x-csrf-token": CSRF, "origin": "https://evil.example"},
    )
    assert other_site.status_code == 403 and "another site" in other_site.json()["error"]["message"]


def test_an_api_token_needs_no_csrf_token(shipyard_client):
    governance.create_user("ci")
    governance.grant_role("ci", "*", "editor")
    token, _ = governance.create_token("ci")
    app = create_app(shipyard_client, AuthConfig(enabled=True))
    with TestClient(app) as http:
        made = http.post(
            "/api/v1/projects", json={"name": "p"}, headers={"authorization": f"Bearer {token}"}
        )
        assert made.status_code in (200, 201)


def test_signing_out_revokes_the_session(browser, shipyard_client):
    session = browser.cookies.get(SESSION_COOKIE)
    assert browser.post("/ui/logout", data={"csrf": CSRF}).status_code == 303
    browser.cookies.set(SESSION_COOKIE, session)  # a copy kept by whoever stole it
    assert browser.get("/api/v1/projects").status_code == 401
    page = browser.get("/ui/")
    assert page.status_code == 303 and page.headers["location"].startswith("/ui/login")
    revoked = [t for t in shipyard_client.store.identity.list_tokens("eddie") if t.revoked_ms]
    assert [t.name for t in revoked] == ["web UI session"]


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/ui/", "/api/v1/x"])
def test_signing_in_never_sends_the_browser_elsewhere(shipyard_client, target):
    governance.create_user("ana")
    token, _ = governance.create_token("ana")
    app = create_app(shipyard_client, AuthConfig(enabled=True))
    with TestClient(app, follow_redirects=False) as http:
        http.cookies.set(CSRF_COOKIE, CSRF)
        answer = http.post("/ui/login", data={"token": token, "csrf": CSRF, "next": target})
        assert answer.headers["location"] == "/ui/"


def test_an_ended_session_counts_once_against_the_sign_in_limit(browser):
    browser.post("/ui/logout", data={"csrf": CSRF})
    browser.cookies.set(SESSION_COOKIE, "shy_" + "e" * 43)  # a stale cookie, sent by every request
    for _ in range(30):  # more than the 20 failed sign-ins a minute allowed per address
        assert browser.get("/ui/static/app.js").status_code == 200
    assert browser.get("/ui/").status_code == 303  # to the sign-in page, not 429
