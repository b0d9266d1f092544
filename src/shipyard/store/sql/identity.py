"""SqlIdentityStore: users, API tokens and role bindings on SQLite or PostgreSQL.

Every change is audited in its own transaction (``record_audit``); the token secret never
reaches this layer, only its sha256.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, delete, insert, select, update

from shipyard._names import project_name, user_name
from shipyard.errors import AlreadyExists, InvalidArgument, NotFound
from shipyard.store.base.identity_store import (
    ALL_PROJECTS,
    ROLES,
    RoleBinding,
    TokenRecord,
    UserRecord,
)
from shipyard.store.identity_changes import identity_changed
from shipyard.store.sql.audit import record_audit
from shipyard.store.sql.engine import Database
from shipyard.store.sql.governance_tables import api_tokens, role_bindings, users

T = TypeVar("T")

_KINDS = ("user", "service")


def _user(r: Any) -> UserRecord:
    return UserRecord(
        r.id, r.name, r.kind, bool(r.is_admin), r.created_ms, r.created_by, r.disabled_ms
    )


def _token(r: Any) -> TokenRecord:
    return TokenRecord(
        r.id, r.user, r.name, r.prefix, r.created_ms, r.expires_ms, r.revoked_ms, r.last_used_ms
    )


def _user_row(conn: Connection, name: str) -> Any:
    row = conn.execute(select(users).where(users.c.name == name)).first()
    if row is None:
        raise NotFound(f"no user named {name!r}; `shipyard users ls` lists them")
    return row


_TOKEN_SELECT = select(*api_tokens.c, users.c.name.label("user")).join(
    users, users.c.id == api_tokens.c.user_id
)


class SqlIdentityStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _write(self, fn: Callable[[Connection], T]) -> T:
        """A change to users, tokens or roles: servers in this process forget recent
        sign-ins (``identity_changes``)."""
        try:
            return self.db.write(fn)
        finally:
            identity_changed()

    # -- users ------------------------------------------------------------------------

    def create_user(
        self, name: str, kind: str, is_admin: bool, created_by: str, now_ms: int
    ) -> UserRecord:
        user_name(name)
        if kind not in _KINDS:
            raise InvalidArgument(f"a user's kind is one of {', '.join(_KINDS)}, not {kind!r}")

        def _create(conn: Connection) -> UserRecord:
            if conn.execute(select(users.c.id).where(users.c.name == name)).first():
                raise AlreadyExists(f"user {name!r} already exists")
            conn.execute(
                insert(users).values(
                    name=name, kind=kind, is_admin=is_admin, created_ms=now_ms,
                    created_by=created_by, disabled_ms=None,
                )
            )  # fmt: skip
            record_audit(conn, "user.create", f"user:{name}", {"kind": kind, "admin": is_admin})
            return _user(_user_row(conn, name))

        return self._write(_create)

    def get_user(self, name: str) -> UserRecord:
        return self.db.read(lambda c: _user(_user_row(c, name)))

    def list_users(self) -> list[UserRecord]:
        rows = self.db.read(lambda c: c.execute(select(users).order_by(users.c.name)).all())
        return [_user(r) for r in rows]

    def set_user_disabled(self, name: str, disabled: bool, now_ms: int) -> UserRecord:
        def _set(conn: Connection) -> UserRecord:
            before = _user_row(conn, name)
            conn.execute(
                update(users)
                .where(users.c.id == before.id)
                .values(disabled_ms=now_ms if disabled else None)
            )
            action = "user.disable" if disabled else "user.enable"
            was = before.disabled_ms is not None
            record_audit(conn, action, f"user:{name}", {"was_disabled": was})
            return _user(_user_row(conn, name))

        return self._write(_set)

    def set_user_admin(self, name: str, is_admin: bool) -> UserRecord:
        def _set(conn: Connection) -> UserRecord:
            before = _user_row(conn, name)
            conn.execute(update(users).where(users.c.id == before.id).values(is_admin=is_admin))
            record_audit(
                conn, "user.admin", f"user:{name}",
                {"before": bool(before.is_admin), "after": is_admin},
            )  # fmt: skip
            return _user(_user_row(conn, name))

        return self._write(_set)

    # -- tokens -----------------------------------------------------------------------

    def create_token(
        self, user: str, name: str, token_hash: str, prefix: str, now_ms: int,
        expires_ms: int | None,
    ) -> TokenRecord:  # fmt: skip
        def _create(conn: Connection) -> TokenRecord:
            owner = _user_row(conn, user)
            done = conn.execute(
                insert(api_tokens).values(
                    user_id=owner.id, name=name, token_hash=token_hash, prefix=prefix,
                    created_ms=now_ms, expires_ms=expires_ms,
                )
            )  # fmt: skip
            key = done.inserted_primary_key
            assert key is not None
            record_audit(
                conn, "token.create", f"token:{key[0]}",
                {"user": user, "name": name, "prefix": prefix, "expires_ms": expires_ms},
            )  # fmt: skip
            row = conn.execute(_TOKEN_SELECT.where(api_tokens.c.id == key[0])).one()
            return _token(row)

        return self._write(_create)

    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        query = _TOKEN_SELECT.order_by(api_tokens.c.id)
        if user is not None:
            query = query.where(users.c.name == user)
        return [_token(r) for r in self.db.read(lambda c: c.execute(query).all())]

    def revoke_token(self, token_id: int, now_ms: int) -> TokenRecord:
        def _revoke(conn: Connection) -> TokenRecord:
            row = conn.execute(_TOKEN_SELECT.where(api_tokens.c.id == token_id)).first()
            if row is None:
                raise NotFound(f"no token with id {token_id}; `shipyard tokens ls` lists them")
            if row.revoked_ms is None:  # revoking twice changes nothing
                conn.execute(
                    update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_ms=now_ms)
                )
                record_audit(conn, "token.revoke", f"token:{token_id}", {"user": row.user})
            return _token(conn.execute(_TOKEN_SELECT.where(api_tokens.c.id == token_id)).one())

        return self._write(_revoke)

    def token_owner(self, token_hash: str) -> tuple[UserRecord, TokenRecord] | None:
        def _find(conn: Connection) -> tuple[UserRecord, TokenRecord] | None:
            row = conn.execute(_TOKEN_SELECT.where(api_tokens.c.token_hash == token_hash)).first()
            if row is None:
                return None
            owner = conn.execute(select(users).where(users.c.id == row.user_id)).one()
            return _user(owner), _token(row)

        return self.db.read(_find)

    def touch_tokens(self, token_ids: Sequence[int], now_ms: int) -> None:
        """Bookkeeping (not audited): when each token was last used."""
        if token_ids:
            self.db.write(
                lambda c: c.execute(
                    update(api_tokens)
                    .where(api_tokens.c.id.in_(list(token_ids)))
                    .values(last_used_ms=now_ms)
                )
            )

    # -- roles ------------------------------------------------------------------------

    def grant_role(self, user: str, project: str, role: str, now_ms: int) -> RoleBinding:
        if role not in ROLES:
            raise InvalidArgument(f"a role is one of {', '.join(ROLES)}, not {role!r}")
        if project != ALL_PROJECTS:
            project_name(project)

        def _grant(conn: Connection) -> RoleBinding:
            owner = _user_row(conn, user)
            where = (role_bindings.c.user_id == owner.id) & (role_bindings.c.project == project)
            before = conn.execute(select(role_bindings.c.role).where(where)).scalar()
            if before is None:
                conn.execute(
                    insert(role_bindings).values(
                        user_id=owner.id, project=project, role=role, created_ms=now_ms
                    )
                )
            else:
                conn.execute(update(role_bindings).where(where).values(role=role))
            record_audit(
                conn, "role.grant", f"user:{user}",
                {"project": project, "before": before, "after": role},
            )  # fmt: skip
            return RoleBinding(user, project, role, now_ms)

        return self._write(_grant)

    def revoke_role(self, user: str, project: str) -> RoleBinding:
        def _revoke(conn: Connection) -> RoleBinding:
            owner = _user_row(conn, user)
            where = (role_bindings.c.user_id == owner.id) & (role_bindings.c.project == project)
            row = conn.execute(select(role_bindings).where(where)).first()
            if row is None:
                raise NotFound(f"user {user!r} has no role on {project!r}")
            conn.execute(delete(role_bindings).where(where))
            record_audit(
                conn, "role.revoke", f"user:{user}", {"project": project, "before": row.role}
            )
            return RoleBinding(user, project, row.role, row.created_ms)

        return self._write(_revoke)

    def list_roles(self, user: str | None = None) -> list[RoleBinding]:
        query = (
            select(users.c.name, role_bindings.c.project, role_bindings.c.role,
                   role_bindings.c.created_ms)
            .join(users, users.c.id == role_bindings.c.user_id)
            .order_by(users.c.name, role_bindings.c.project)
        )  # fmt: skip
        if user is not None:
            query = query.where(users.c.name == user)
        rows = self.db.read(lambda c: c.execute(query).all())
        return [RoleBinding(*r) for r in rows]
