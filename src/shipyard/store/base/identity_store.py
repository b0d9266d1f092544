"""Users, service accounts, API tokens and roles per project: who may do what."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

ROLES = ("viewer", "editor", "admin")  # each can do what the ones before it can
ALL_PROJECTS = "*"


@dataclass(frozen=True)
class UserRecord:
    id: int
    name: str
    kind: str  # user | service
    is_admin: bool  # server admin: every project, users, tokens and roles
    created_ms: int
    created_by: str
    disabled_ms: int | None


@dataclass(frozen=True)
class TokenRecord:
    """An API token as stored: never the secret, only its hash and first characters."""

    id: int
    user: str
    name: str
    prefix: str
    created_ms: int
    expires_ms: int | None
    revoked_ms: int | None
    last_used_ms: int | None

    def usable(self, now_ms: int) -> bool:
        return self.revoked_ms is None and (self.expires_ms is None or now_ms < self.expires_ms)


@dataclass(frozen=True)
class RoleBinding:
    user: str
    project: str  # a project name, or "*" for every project
    role: str  # viewer | editor | admin
    created_ms: int


class IdentityStore(Protocol):
    def create_user(
        self, name: str, kind: str, is_admin: bool, created_by: str, now_ms: int
    ) -> UserRecord: ...
    def get_user(self, name: str) -> UserRecord: ...
    def list_users(self) -> list[UserRecord]: ...
    def set_user_disabled(self, name: str, disabled: bool, now_ms: int) -> UserRecord: ...
    def set_user_admin(self, name: str, is_admin: bool) -> UserRecord: ...
    def create_token(
        self, user: str, name: str, token_hash: str, prefix: str, now_ms: int,
        expires_ms: int | None,
    ) -> TokenRecord: ...  # fmt: skip
    def list_tokens(self, user: str | None = None) -> list[TokenRecord]: ...
    def revoke_token(self, token_id: int, now_ms: int) -> TokenRecord: ...
    def token_owner(self, token_hash: str) -> tuple[UserRecord, TokenRecord] | None: ...
    def touch_tokens(self, token_ids: Sequence[int], now_ms: int) -> None: ...
    def grant_role(self, user: str, project: str, role: str, now_ms: int) -> RoleBinding: ...
    def revoke_role(self, user: str, project: str) -> RoleBinding: ...
    def list_roles(self, user: str | None = None) -> list[RoleBinding]: ...
