"""Authorization: every route carries a rule saying what it needs, checked before it runs.

``@rule(Need.READ)`` (or ``WRITE``, ``MANAGE``, ``ADMIN``; ``public`` for health and
server info) marks an endpoint; the app's one dependency, ``authorize``, finds the rule of
the route a request matched and checks the caller's roles on every project the request
touches (``scope.projects_of``). A route without a rule is refused (fail closed), and
tests/server/test_authz_rules.py fails on any route without one.

How a rule finds the projects (``Rule.scope``):
- ``request``: path and query parameters (``project``, ``run_id``, a model ``name``...);
- ``body``: those and the top-level fields of the JSON body (MLflow's routes, searches);
- ``rpc``: the arguments of a store call (``/api/v1/store/{area}/{method}``), whose need
  also follows the method (reads READ, changes WRITE, the identity area ADMIN);
- ``blob``: a blob (``{sha256}``) is read by whoever may read one of the projects whose
  runs, models, datasets or feature definitions name it; a blob nothing names yet (just
  uploaded) by anyone with a role on some project;
- ``any``: a role of that level on any project (uploads: content-addressed, so writing a
  blob changes nothing until something names it).
A request that names no project needs the role on ``*``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from fastapi import Request

from shipyard.errors import PermissionDenied, Unauthenticated
from shipyard.governance import Need, allowed, role_rank
from shipyard.server import authz_scope
from shipyard.server.auth import AuthConfig, Principal
from shipyard.server.csrf import check_csrf

F = TypeVar("F", bound=Callable[..., Any])
Scope = Literal["request", "body", "rpc", "any", "blob"]
Names = Literal["project", "model", "monitor", "flow", "mlflow_artifact", "lineage"] | None

RULE_ATTRIBUTE = "__shipyard_rule__"


@dataclass(frozen=True)
class Rule:
    need: Need | None  # None: public
    scope: Scope = "request"
    names: Names = None  # what a bare ``name`` parameter names
    lists: bool = False  # a listing: shown narrowed to what the caller may read


def rule(
    need: Need | None, scope: Scope = "request", names: Names = None, *, lists: bool = False
) -> Callable[[F], F]:
    """Mark an endpoint with what it needs. ``lists``: a listing that names no project
    answers a user without a role on ``*`` with what their roles let them read (the route
    narrows it with ``readable_projects``) instead of refusing."""

    def mark(fn: F) -> F:
        setattr(fn, RULE_ATTRIBUTE, Rule(need, scope, names, lists))
        return fn

    return mark


def readable_projects(request: Request) -> set[str] | None:
    """The projects a narrowed listing may show (None: no narrowing, show everything)."""
    found: set[str] | None = request.scope.get("state", {}).get("readable")
    return found


public = rule(None)


def rule_of(endpoint: Any) -> Rule | None:
    return getattr(endpoint, RULE_ATTRIBUTE, None)


async def authorize(request: Request) -> None:
    """The app-wide dependency: refuse the call unless the caller's roles allow it."""
    await check_csrf(request)
    config: AuthConfig = request.app.state.auth
    if not config.enabled:
        return
    found = rule_of(request.scope.get("endpoint"))
    if found is None:
        raise PermissionDenied(f"{request.url.path} has no authorization rule; refused")
    if found.need is None:
        return
    need = found.need
    if found.scope == "rpc":
        need = authz_scope.rpc_need(request.path_params["area"], request.path_params["method"])
    principal: Principal = request.scope["state"]["principal"]
    user = principal.user
    if user is None:
        if need is Need.READ and config.anonymous_read:
            return
        raise Unauthenticated(
            "this server needs an API token: set SHIPYARD_TOKEN (or send "
            "'Authorization: Bearer <token>'); an admin makes one with `shipyard tokens create`"
        )
    if found.scope == "blob":
        owners = await authz_scope.blob_projects(request)
        if any(allowed(user, principal.roles, need, [p]) for p in owners):
            return
    if found.scope == "any" or (found.scope == "blob" and not owners):
        if user.is_admin or any(role_rank(r) >= need for r in principal.roles.values()):
            return
        projects: set[str] = {"any project"}
    elif found.scope == "blob":
        projects = owners
    else:
        projects = await authz_scope.projects_of(request, found)
        if allowed(user, principal.roles, need, projects):
            return
        lists = found.lists or (found.scope == "rpc" and authz_scope.rpc_lists(request))
        if need is Need.READ and not projects and lists:
            readable = {p for p, r in principal.roles.items() if p != "*" and role_rank(r) >= need}
            if readable:
                request.scope["state"]["readable"] = readable
                return
    what = ", ".join(sorted(projects)) or "*"
    raise PermissionDenied(
        f"user {user.name!r} may not {need.name.lower()} on {what}: "
        f"their roles are {_listing(principal.roles)}"
    )


def _listing(roles: dict[str, str]) -> str:
    return ", ".join(f"{role} on {project}" for project, role in sorted(roles.items())) or "none"


__all__ = [
    "AuthConfig", "Need", "Rule", "authorize", "public", "readable_projects", "rule", "rule_of",
]  # fmt: skip
