"""Every route of the server, MLflow's included, carries an authorization rule, and with
auth on none but the public ones answers a caller without a token."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts

from shipyard.config import load_settings
from shipyard.server import create_app
from shipyard.server.auth import AuthConfig
from shipyard.server.authz import rule_of
from shipyard.server.run import auth_config, is_loopback
from tests.server._inprocess import TestClient

FASTAPI_DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}  # public
PUBLIC = {("GET", "/api/v1/health"), ("GET", "/api/3.0/mlflow/server-info")}
# the web UI's frame: its scripts and styles, signing in and out, and / (a redirect)
UI_PUBLIC = {
    ("GET", "/"), ("GET", "/ui/static/{path:path}"), ("GET", "/ui/login"),
    ("POST", "/ui/login"), ("POST", "/ui/logout"),
}  # fmt: skip
CSRF = "c" * 43  # a browser's CSRF cookie, sent back as the header: the UI's forms pass


def _endpoints(app: Any) -> list[tuple[str, str, Any]]:
    """(method, path, endpoint) of every route, inside included routers too."""
    found = []
    for route in iter_route_contexts(app.router.routes):
        for method in sorted(route.methods or []):
            found.append((method, route.path, route.endpoint))
    return found


@pytest.fixture
def app(shipyard_client):
    return create_app(shipyard_client, AuthConfig(enabled=True))


def test_every_route_has_an_authorization_rule(app):
    endpoints = _endpoints(app)
    assert len(endpoints) > 100  # the walk reached the included routers
    missing = [
        f"{method} {path}"
        for method, path, endpoint in endpoints
        if path not in FASTAPI_DOCS and rule_of(endpoint) is None
    ]
    assert missing == []
    public = {(m, p) for m, p, e in endpoints if p not in FASTAPI_DOCS and rule_of(e).need is None}
    assert public == PUBLIC | UI_PUBLIC


def _filled(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_no_route_but_the_public_ones_answers_without_a_token(app):
    """API routes answer 401; the UI's pages send the browser to the sign-in page."""
    with TestClient(app, follow_redirects=False, cookies={"shipyard_csrf": CSRF}) as http:
        for method, path, _ in _endpoints(app):
            if path in FASTAPI_DOCS or method == "HEAD" or (method, path) in UI_PUBLIC:
                continue
            answer = http.request(method, _filled(path), json={}, headers={"x-csrf-token": CSRF})
            if (method, path) in PUBLIC:
                assert answer.status_code == 200, path
            elif path.startswith("/ui/"):
                assert answer.status_code == 303, f"{method} {path}: {answer.status_code}"
                assert answer.headers["location"].startswith("/ui/login?next="), path
            else:
                assert answer.status_code == 401, f"{method} {path}: {answer.status_code}"


def test_anonymous_read_lets_requests_without_a_token_read_but_never_write(shipyard_client):
    app = create_app(shipyard_client, AuthConfig(enabled=True, anonymous_read=True))
    with TestClient(app) as http:
        assert http.get("/api/v1/projects").status_code == 200
        assert http.post("/api/v1/store/tracking/list_projects", json={}).status_code == 200
        refused = http.post("/api/v1/projects", json={"name": "p"})
        assert (refused.status_code, refused.json()["error"]["code"]) == (401, "UNAUTHENTICATED")
        refused = http.post("/api/v1/store/tracking/create_project", json={"args": ["p"]})
        assert refused.status_code == 401
        assert http.post("/api/v1/store/identity/list_users", json={}).status_code == 401


def test_auth_is_on_unless_the_server_listens_on_loopback_only(shipyard_home):
    settings = load_settings()
    assert settings.auth == "auto"
    assert auth_config(settings, "127.0.0.1").enabled is False
    assert auth_config(settings, "localhost").enabled is False
    assert auth_config(settings, "::1").enabled is False
    assert auth_config(settings, "0.0.0.0").enabled is True
    assert auth_config(settings, "10.1.2.3").enabled is True
    assert auth_config(settings, None).enabled is True  # unknown address: on
    assert auth_config(load_settings({"auth": "off"}), "0.0.0.0").enabled is False
    assert auth_config(load_settings({"auth": "on"}), "127.0.0.1").enabled is True
    assert is_loopback("127.0.0.2") and not is_loopback("example.com")
