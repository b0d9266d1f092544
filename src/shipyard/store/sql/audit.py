"""Appending to the audit log, inside the caller's transaction.

A store method that changes something calls ``record_audit(conn, ...)`` on the same
connection as its change, so the entry commits or rolls back with it: a failed mutation
leaves no entry, a successful one exactly one. The actor comes from
``shipyard.store.actor.current_actor()``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Connection, insert

from shipyard.store.actor import current_actor
from shipyard.store.sql.governance_tables import audit_log


def record_audit(
    conn: Connection, action: str, object: str, summary: dict[str, Any] | None = None
) -> None:
    actor = current_actor()
    conn.execute(
        insert(audit_log).values(
            ts_ms=int(time.time() * 1000),
            actor=actor.user,
            action=action,
            object=object[:1024],
            summary=json.dumps(summary or {}, sort_keys=True, default=str),
            request_id=actor.request_id,
            source=actor.source,
        )
    )
