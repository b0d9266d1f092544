"""Governance: users and service accounts, API tokens, roles per project.

Everything here writes through the session's metadata store, so it works on the embedded
store (to set up the first admin before a server starts) and against a server (as a server
admin). Every change lands in the audit log in the same transaction.
"""

from __future__ import annotations

from shipyard.errors import InvalidArgument, Unauthenticated
from shipyard.governance.rbac import Need, allowed, role_rank
from shipyard.governance.tokens import hash_secret, new_secret, shown_prefix
from shipyard.session import current_session
from shipyard.store.actor import current_actor
from shipyard.store.base.identity_store import (
    ALL_PROJECTS,
    ROLES,
    IdentityStore,
    RoleBinding,
    TokenRecord,
    UserRecord,
)

__all__ = [
    "ALL_PROJECTS",
    "ROLES",
    "Need",
    "RoleBinding",
    "TokenRecord",
    "UserRecord",
    "allowed",
    "authenticate",
    "create_token",
    "create_user",
    "grant_role",
    "hash_secret",
    "revoke_role",
    "revoke_token",
    "role_rank",
]

_DAY_MS = 86_400_000


def _identity() -> IdentityStore:
    return current_session().store.identity


def _now_ms() -> int:
    return current_session().now_ms()


def create_user(name: str, *, service: bool = False, admin: bool = False) -> UserRecord:
    kind = "service" if service else "user"
    return _identity().create_user(name, kind, admin, current_actor().user, _now_ms())


def create_token(
    user: str, name: str = "", expires_in_days: float | None = 90.0
) -> tuple[str, TokenRecord]:
    """A new token for ``user``: the secret (shown once, never stored) and its record."""
    if expires_in_days is not None and not expires_in_days > 0:
        raise InvalidArgument("a token's lifetime must be a positive number of days")
    secret = new_secret()
    now = _now_ms()
    expires = None if expires_in_days is None else now + int(expires_in_days * _DAY_MS)
    record = _identity().create_token(
        user, name, hash_secret(secret), shown_prefix(secret), now, expires
    )
    return secret, record


def revoke_token(token_id: int) -> TokenRecord:
    return _identity().revoke_token(token_id, _now_ms())


def grant_role(user: str, project: str, role: str) -> RoleBinding:
    return _identity().grant_role(user, project, role, _now_ms())


def revoke_role(user: str, project: str) -> RoleBinding:
    return _identity().revoke_role(user, project)


def authenticate(
    identity: IdentityStore, secret: str, now_ms: int
) -> tuple[UserRecord, TokenRecord]:
    """The user and token behind ``secret``, or ``Unauthenticated`` saying why not (without
    saying whether a token exists: unknown, expired and revoked read alike to a caller)."""
    found = identity.token_owner(hash_secret(secret)) if secret else None
    if found is None or not found[1].usable(now_ms) or found[0].disabled_ms is not None:
        raise Unauthenticated("the API token is unknown, expired or revoked")
    return found
