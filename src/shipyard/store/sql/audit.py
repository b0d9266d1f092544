"""Appending to the audit log, inside the caller's transaction, and reading it.

A store method that changes something calls ``record_audit(conn, ...)`` on the same
connection as its change, so the entry commits or rolls back with it: a failed mutation
leaves no entry, a successful one exactly one per object it changed. The actor comes from
``shipyard.store.actor.current_actor()``. What is audited and what is not (and why) is
written in ``shipyard.store.base.audit_log``.

``SqlAuditStore`` only reads: there is no method to edit or delete an entry, and the
database's triggers refuse both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from shipyard.errors import InvalidArgument
from shipyard.store.base.audit_log import AuditEntry
from shipyard.store.sql.audit_entry import COLUMNS, INSERT_SQL, audit_values
from shipyard.store.sql.engine import Database
from shipyard.store.sql.governance_tables import audit_log

MAX_LIMIT = 10_000


# Plain SQL with bound parameters, as the prediction log appends: building and compiling a
# SQLAlchemy statement per entry costs more than writing the row (see bench_audit.py).
_INSERT_FORMAT = INSERT_SQL.replace("?", "%s")


def _insert(conn: Connection) -> str:
    return INSERT_SQL if conn.dialect.paramstyle == "qmark" else _INSERT_FORMAT


def record_audit(
    conn: Connection, action: str, object: str, summary: dict[str, Any] | None = None
) -> None:
    row = audit_values(action, object, summary)
    conn.exec_driver_sql(_insert(conn), tuple(row[c] for c in COLUMNS))


def record_audits(
    conn: Connection, action: str, objects: Sequence[tuple[str, Mapping[str, Any] | None]]
) -> None:
    """One entry per (object, summary), in one statement."""
    if objects:
        rows = [audit_values(action, obj, summary) for obj, summary in objects]
        statement = _insert(conn)
        conn.exec_driver_sql(statement, [tuple(row[c] for c in COLUMNS) for row in rows])


class SqlAuditStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list_audit(
        self,
        object: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[AuditEntry]:
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidArgument(f"limit is 1 to {MAX_LIMIT:,}, not {limit}")
        a = audit_log.c
        query = select(audit_log)
        for column, value in ((a.object, object), (a.action, action)):
            if value is not None:
                query = query.where(_matches(column, value))
        if actor is not None:
            query = query.where(a.actor == actor)
        if since_ms is not None:
            query = query.where(a.ts_ms >= since_ms)
        if until_ms is not None:
            query = query.where(a.ts_ms < until_ms)
        if before_id is not None:
            query = query.where(a.id < before_id)
        query = query.order_by(a.id.desc()).limit(limit)
        rows = self.db.read(lambda c: c.execute(query).all())
        return [_entry(r) for r in rows]


def _entry(r: Any) -> AuditEntry:
    return AuditEntry(
        id=int(r.id), ts_ms=int(r.ts_ms), actor=r.actor, action=r.action, object=r.object,
        summary=json.loads(r.summary), request_id=r.request_id, source=r.source,
    )  # fmt: skip


def _matches(column: Any, value: str) -> Any:
    """Exact, or a prefix for a value ending in ``*`` (case-sensitive on both backends)."""
    if not value.endswith("*"):
        return column == value
    prefix = value[:-1]
    return func.substr(column, 1, len(prefix)) == prefix
