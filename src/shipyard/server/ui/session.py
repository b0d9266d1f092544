"""Signing in to the web UI: an API token in, a session cookie out.

Users have no passwords: they sign in with an API token (``shipyard tokens create``). The
server checks it and makes a session token for the same user, good for ``SESSION_HOURS``,
which the browser keeps in an HttpOnly, SameSite=Strict cookie (``auth.SESSION_COOKIE``);
signing out revokes it. Both land in the audit log like any token change.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from shipyard.errors import ShipyardError, Unauthenticated
from shipyard.governance import authenticate, hash_secret
from shipyard.governance.tokens import new_secret, shown_prefix
from shipyard.server.auth import SESSION_COOKIE, session_of
from shipyard.server.authz import public
from shipyard.server.ui.render import page
from shipyard.store.actor import Actor, acting_as, current_actor

SESSION_HOURS = 12
router = APIRouter(include_in_schema=False)


def local_path(target: str | None) -> str:
    """``target`` if it is a path on this server (never another site), else the overview."""
    if target and target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/"


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/ui/login?next={quote(target)}", status_code=303)


@router.get("/ui/login")
@public
def login_page(request: Request, next: str = "/ui/") -> Response:
    return page(request, "login.html", next=local_path(next), error=None)


@router.post("/ui/login", responses={401: {}, 429: {}})
@public
def login(
    request: Request, token: Annotated[str, Form()], next: Annotated[str, Form()] = "/ui/"
) -> Response:
    client = request.app.state.client
    identity = client.store.identity
    now_ms = int(client.clock.now().timestamp() * 1000)
    try:
        user, _ = authenticate(identity, token.strip(), now_ms)
    except Unauthenticated as exc:
        return page(request, "login.html", status=401, next=local_path(next), error=exc.message)
    secret = new_secret()
    actor = Actor(user=user.name, source=current_actor().source, request_id=None)
    with acting_as(actor):
        identity.create_token(
            user.name, "web UI session", hash_secret(secret), shown_prefix(secret),
            now_ms, now_ms + SESSION_HOURS * 3_600_000,
        )  # fmt: skip
    response = RedirectResponse(local_path(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/ui/logout")
@public
def logout(request: Request) -> Response:
    secret = session_of(dict(request.scope["headers"]))
    if secret:
        identity = request.app.state.client.store.identity
        found = identity.token_owner(hash_secret(secret))
        if found is not None and found[1].revoked_ms is None:
            try:
                now_ms = int(request.app.state.client.clock.now().timestamp() * 1000)
                identity.revoke_token(found[1].id, now_ms)
            except ShipyardError:  # already gone: signing out still ends the session
                pass
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
