"""Governance pages: the audit log with filters, and users, roles and tokens for admins.

The audit log needs what its API route needs (admin on every project); the users page and
its forms need a server admin. A token made here is shown once, like `shipyard tokens
create`, and each change lands in the audit log through the identity store.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from shipyard._clock import since_millis
from shipyard.errors import ShipyardError
from shipyard.governance import ROLES, Need, hash_secret
from shipyard.governance.tokens import new_secret, shown_prefix
from shipyard.server.authz import rule
from shipyard.server.ui.render import page

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 100
_DAY_MS = 86_400_000
Text = Annotated[str, Query(max_length=1024)]


@router.get("/ui/audit")
@rule(Need.MANAGE)
def audit(
    request: Request,
    object: Text = "",
    user: Text = "",
    action: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[str, Query(max_length=64)] = "",
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    client = request.app.state.client
    filters = {"object": object, "user": user, "action": action, "since": since}
    error = None
    try:
        entries = client.store.audit.list_audit(
            object=object or None,
            actor=user or None,
            action=action or None,
            since_ms=since_millis(since, client.clock.now(), "since") if since else None,
            limit=PAGE_SIZE + 1,
            before_id=before_id,
        )
    except ShipyardError as exc:  # a bad filter: say so above an empty table
        entries, error = [], exc.message
    older = entries[PAGE_SIZE - 1].id if len(entries) > PAGE_SIZE else None
    query = "&".join(f"{k}={quote(v)}" for k, v in filters.items() if v)
    return page(
        request,
        "governance_audit.html",
        section="governance",
        entries=entries[:PAGE_SIZE],
        filters=filters,
        older=older,
        query=query,
        flash=error,
        flash_kind="error",
    )


def _users_page(request: Request, flash: str, secret: str | None = None) -> Response:
    identity = request.app.state.client.store.identity
    roles: dict[str, list[object]] = {}
    for binding in identity.list_roles():
        roles.setdefault(binding.user, []).append(binding)
    tokens: dict[str, list[object]] = {}
    for token in identity.list_tokens():
        tokens.setdefault(token.user, []).append(token)
    return page(
        request,
        "governance_users.html",
        section="governance",
        users=identity.list_users(),
        roles=roles,
        tokens=tokens,
        role_names=ROLES,
        now_ms=_now_ms(request),
        flash=flash,
        secret=secret,
    )


@router.get("/ui/admin/users")
@rule(Need.ADMIN)
def users(request: Request, flash: Annotated[str, Query(max_length=300)] = "") -> Response:
    return _users_page(request, flash)


def _now_ms(request: Request) -> int:
    return int(request.app.state.client.clock.now().timestamp() * 1000)


def _back(message: str) -> RedirectResponse:
    return RedirectResponse(f"/ui/admin/users?flash={quote(message)}", status_code=303)


@router.post("/ui/admin/users")
@rule(Need.ADMIN)
def create_user(
    request: Request,
    name: Annotated[str, Form(max_length=200)],
    kind: Annotated[str, Form(pattern="^(user|service)$")] = "user",
    admin: Annotated[bool, Form()] = False,
) -> Response:
    from shipyard.store.actor import current_actor

    identity = request.app.state.client.store.identity
    identity.create_user(name.strip(), kind, admin, current_actor().user, _now_ms(request))
    return _back(f"user {name.strip()} created")


@router.post("/ui/admin/users/{name}/disabled")
@rule(Need.ADMIN)
def set_disabled(
    request: Request, name: str, disabled: Annotated[bool, Form()] = False
) -> Response:
    identity = request.app.state.client.store.identity
    identity.set_user_disabled(name, disabled, _now_ms(request))
    return _back(f"user {name} {'disabled: their tokens stop working' if disabled else 'enabled'}")


@router.post("/ui/admin/roles")
@rule(Need.ADMIN)
def grant_role(
    request: Request,
    user: Annotated[str, Form(max_length=200)],
    project: Annotated[str, Form(max_length=200)],
    role: Annotated[str, Form(max_length=20)],
) -> Response:
    identity = request.app.state.client.store.identity
    if role == "none":
        identity.revoke_role(user, project.strip())
        return _back(f"{user} has no role on {project.strip()} any more")
    identity.grant_role(user, project.strip(), role, _now_ms(request))
    return _back(f"{user} is {role} on {project.strip()}")


@router.post("/ui/admin/tokens")
@rule(Need.ADMIN)
def create_token(
    request: Request,
    user: Annotated[str, Form(max_length=200)],
    name: Annotated[str, Form(max_length=200)] = "",
    days: Annotated[float, Form(gt=0, le=3650)] = 90,
) -> Response:
    """The new token's secret is in this answer only (no redirect: it is never stored)."""
    identity = request.app.state.client.store.identity
    secret, now = new_secret(), _now_ms(request)
    identity.create_token(
        user, name, hash_secret(secret), shown_prefix(secret), now, now + int(days * _DAY_MS)
    )
    return _users_page(
        request, f"token made for {user}: copy it now, it is not shown again", secret
    )


@router.post("/ui/admin/tokens/{token_id}/revoke")
@rule(Need.ADMIN)
def revoke_token(request: Request, token_id: int) -> Response:
    identity = request.app.state.client.store.identity
    revoked = identity.revoke_token(token_id, _now_ms(request))
    return _back(f"token {revoked.prefix}… of {revoked.user} revoked")
