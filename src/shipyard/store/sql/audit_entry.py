"""The values of one audit entry, without SQLAlchemy: the SQLAlchemy stores
(``audit.record_audit``) and the sqlite3 fast path (``lite``) write the same row.

The rule for what is audited, and the names of objects and actions, are in
``shipyard.store.base.audit_log``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from shipyard.store.actor import current_actor

if TYPE_CHECKING:
    from shipyard.store.base import ArtifactRecord, Metric, NewRun, RunStatus

COLUMNS = ("ts_ms", "actor", "action", "object", "summary", "request_id", "source")
_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
INSERT_SQL = f"INSERT INTO audit_log ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * 7)})"


def audit_values(action: str, object: str, summary: Mapping[str, Any] | None) -> dict[str, Any]:
    """The row for ``action`` on ``object`` by the current actor, now."""
    actor = current_actor()
    return {
        "ts_ms": time.time_ns() // 1_000_000,
        "actor": actor.user[:256],
        "action": action,
        "object": object[:1024],
        "summary": orjson.dumps(summary or {}, default=str, option=_SORTED).decode(),
        "request_id": None if actor.request_id is None else actor.request_id[:64],
        "source": actor.source[:256],
    }


# -- summaries shared by both tracking stores ---------------------------------------------


def run_created(run: NewRun) -> dict[str, Any]:
    return {
        "project": run.project, "name": run.name, "kind": run.kind, "parent_id": run.parent_id,
        "params": len(run.params), "tags": len(run.tags), "artifacts": len(run.artifacts),
    }  # fmt: skip


def status_change(before: str, after: RunStatus, end_ms: int | None) -> dict[str, Any]:
    now: dict[str, Any] = {"status": after.value}
    if end_ms is not None:
        now["end_ms"] = end_ms
    return {"before": {"status": before}, "after": now}


def batch_counts(
    metrics: Sequence[Metric], params: dict[str, str] | None, tags: dict[str, str] | None
) -> dict[str, int]:
    return {"metrics": len(metrics), "params": len(params or {}), "tags": len(tags or {})}


def artifacts_added(records: Sequence[ArtifactRecord]) -> list[tuple[str, dict[str, Any]]]:
    """One (object, summary) per run: how many paths and bytes, and the first paths."""
    per_run: dict[str, list[ArtifactRecord]] = {}
    for record in records:
        per_run.setdefault(record.run_id, []).append(record)
    return [
        (
            f"run:{run_id}",
            {
                "paths": len(added),
                "bytes": sum(r.size for r in added),
                "first": [r.path for r in added[:10]],
            },
        )
        for run_id, added in per_run.items()
    ]


def record_audit_sqlite(
    conn: sqlite3.Connection, action: str, object: str, summary: Mapping[str, Any] | None = None
) -> None:
    """``audit.record_audit`` for the sqlite3 fast path: the same row, same transaction."""
    values = audit_values(action, object, summary)
    conn.execute(INSERT_SQL, tuple(values[c] for c in COLUMNS))
