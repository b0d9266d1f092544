"""CSRF protection for the web UI: a double-submit token plus an Origin check.

A page sets a random ``shipyard_csrf`` cookie (SameSite=Strict, HttpOnly) and puts the same
value in its forms (field ``csrf``) and in a ``<meta name="csrf-token">`` its scripts send
back as ``X-CSRF-Token``. A change (any method but GET, HEAD, OPTIONS) made from a UI page,
or by a caller signed in with the session cookie, must carry the value of that cookie: a
page on another site can make the browser send the cookie, but cannot read it. Callers
with an API token in ``Authorization`` are not browsers acting on a user's behalf and skip
the check.
"""

from __future__ import annotations

import hmac
import re
import secrets
from urllib.parse import urlsplit

from fastapi import Request, Response

from shipyard.errors import PermissionDenied

CSRF_COOKIE = "shipyard_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_TOKEN = re.compile(r"[A-Za-z0-9_\-]{32,64}")


def csrf_token(request: Request) -> str:
    """This browser's CSRF token: its cookie's, or a new one (set by ``set_csrf_cookie``)."""
    state = request.scope.setdefault("state", {})
    if "csrf" not in state:
        given = request.cookies.get(CSRF_COOKIE, "")
        state["csrf"] = given if _TOKEN.fullmatch(given) else secrets.token_urlsafe(32)
    token: str = state["csrf"]
    return token


def set_csrf_cookie(request: Request, response: Response, token: str) -> None:
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )


def needs_csrf(request: Request) -> bool:
    """A change from a UI page or from a browser signed in by cookie."""
    if request.method in SAFE_METHODS:
        return False
    via_cookie = request.scope.get("state", {}).get("via_cookie", False)
    return bool(via_cookie) or request.url.path.startswith("/ui/")


async def check_csrf(request: Request) -> None:
    """Refuse a change that does not carry this browser's CSRF token, or comes from
    another origin."""
    if not needs_csrf(request):
        return
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise PermissionDenied(f"a change from another site ({origin}) was refused")
    expected = request.cookies.get(CSRF_COOKIE, "")
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        given = str((await request.form()).get(CSRF_FIELD, ""))
    if not expected or not given or not hmac.compare_digest(expected, given):
        raise PermissionDenied(
            "the page's security token is missing or out of date: reload the page and try again"
        )


__all__ = ["CSRF_COOKIE", "CSRF_FIELD", "CSRF_HEADER", "check_csrf", "csrf_token"]
