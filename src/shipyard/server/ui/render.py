"""Pages: Jinja2 templates from the package, rendered with the caller and a CSRF token.

Every page extends ``base.html`` (navigation, who is signed in, the CSRF token for forms
and for the scripts' mutations). Data a chart needs goes in the page as JSON
(``{{ data | tojson }}`` inside ``<script type="application/json">``), so a page is one
request and the page's own script (``static/app.js``) draws it with uPlot; the content
security policy allows scripts and styles from this server only.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from shipyard.server.csrf import csrf_token, set_csrf_cookie

TEMPLATES = Path(__file__).parent / "templates"
STATIC_VERSION = "1"  # bump with the static files: their URLs carry it, caches keep them a day

CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'"
)

NAVIGATION = [
    ("overview", "Overview", "/ui/"),
    ("runs", "Runs", "/ui/projects"),
    ("flows", "Flows", "/ui/flows"),
    ("features", "Features", "/ui/features"),
    ("models", "Models", "/ui/models"),
    ("deployments", "Monitoring", "/ui/monitoring"),
    ("governance", "Audit", "/ui/audit"),
]


def ago(ms: int | float | None, now_ms: int | None = None) -> str:
    """'3 min ago' for a time in epoch milliseconds."""
    if ms is None:
        return "—"
    now = now_ms if now_ms is not None else dt.datetime.now(dt.UTC).timestamp() * 1000
    seconds = max(0.0, (now - ms) / 1000)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"


def when(ms: int | float | None) -> str:
    """An epoch-milliseconds time as 'YYYY-MM-DD HH:MM:SS' UTC."""
    if ms is None:
        return "—"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(ms: int | float | None) -> str:
    if ms is None:
        return "—"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def number(value: Any) -> str:
    """A metric value as people read it: 4 significant digits, no float noise."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.4g}"
    return str(value)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(ago=ago, when=when, duration=duration, number=number)
    env.globals.update(navigation=NAVIGATION, static_version=STATIC_VERSION)
    return env


ENVIRONMENT = _environment()


def signed_in(request: Request) -> str | None:
    """The signed-in user's name (None: nobody, or auth is off)."""
    principal = request.scope.get("state", {}).get("principal")
    user = getattr(principal, "user", None)
    return user.name if user is not None else None


def auth_enabled(request: Request) -> bool:
    return bool(request.app.state.auth.enabled)


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with ``context`` and what every page shows."""
    token = csrf_token(request)
    html = ENVIRONMENT.get_template(template).render(
        request=request,
        user=signed_in(request),
        auth_enabled=auth_enabled(request),
        csrf=token,
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["content-security-policy"] = CSP
    set_csrf_cookie(request, response, token)
    return response


__all__ = ["CSP", "ENVIRONMENT", "ago", "duration", "number", "page", "signed_in", "when"]
