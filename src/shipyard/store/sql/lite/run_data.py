"""A run's params, tags and metric points through sqlite3, as ``SqlTrackingStore`` writes
and reads them: params are immutable, tags are replaced, every point is kept and the
latest one per key (highest step, then latest time) is kept apart for searches."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from typing import Any

from shipyard.errors import Conflict
from shipyard.store.base import Metric
from shipyard.store.sql.records import metric_value

CHUNK = 5000  # points per executemany, as the SQLAlchemy store
_INSERT_METRIC = (
    "INSERT INTO metrics (run_id, key, value, step, timestamp_ms) VALUES (?, ?, ?, ?, ?)"
)
_UPSERT_LATEST = (
    "INSERT INTO latest_metrics (run_id, key, value, step, timestamp_ms) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, "
    "step = excluded.step, timestamp_ms = excluded.timestamp_ms "
    "WHERE excluded.step > latest_metrics.step OR (excluded.step = latest_metrics.step "
    "AND excluded.timestamp_ms >= latest_metrics.timestamp_ms)"
)
_UPSERT_TAG = (
    "INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?) "
    "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value"
)


def write_params(conn: sqlite3.Connection, run_id: str, values: dict[str, str]) -> None:
    existing = dict(
        conn.execute("SELECT key, value FROM params WHERE run_id = ?", (run_id,)).fetchall()
    )
    for key, new in values.items():
        if key in existing and existing[key] != new:
            raise Conflict(
                f"param {key!r} of run {run_id} is already {existing[key]!r} and params are "
                f"immutable (tried {new!r}); log a new run, or use a tag or metric for values "
                "that change"
            )
    new_rows = [(run_id, k, v) for k, v in values.items() if k not in existing]
    if new_rows:
        conn.executemany("INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)", new_rows)


def write_tags(conn: sqlite3.Connection, run_id: str, values: dict[str, str]) -> None:
    conn.executemany(_UPSERT_TAG, [(run_id, k, v) for k, v in values.items()])


def write_metrics(conn: sqlite3.Connection, run_id: str, points: Sequence[Metric]) -> None:
    latest: dict[str, Metric] = {}
    rows: list[tuple[Any, ...]] = []
    for point in points:
        value = None if math.isnan(point.value) else point.value
        rows.append((run_id, point.key, value, point.step, point.timestamp_ms))
        best = latest.get(point.key)
        if best is None or (point.step, point.timestamp_ms) >= (best.step, best.timestamp_ms):
            latest[point.key] = point
    for start in range(0, len(rows), CHUNK):
        conn.executemany(_INSERT_METRIC, rows[start : start + CHUNK])
    conn.executemany(
        _UPSERT_LATEST,
        [
            (run_id, p.key, None if math.isnan(p.value) else p.value, p.step, p.timestamp_ms)
            for p in latest.values()
        ],
    )


def metric_history(conn: sqlite3.Connection, run_id: str, key: str) -> list[Metric]:
    rows = conn.execute(
        "SELECT key, value, step, timestamp_ms FROM metrics WHERE run_id = ? AND key = ? "
        "ORDER BY step, timestamp_ms, id",
        (run_id, key),
    )
    return [Metric(r.key, metric_value(r.value), int(r.step), int(r.timestamp_ms)) for r in rows]
