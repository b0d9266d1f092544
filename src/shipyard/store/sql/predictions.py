"""SqlPredictionLogStore: the prediction log on SQLite or PostgreSQL.

Servers append in batches from a background thread (one multi-row INSERT per chunk), so
the request path never waits for the database. Values are JSON (orjson: NaN becomes null).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, func, select, update

from shipyard.errors import InvalidArgument
from shipyard.store.base import PredictionRecord
from shipyard.store.sql.engine import Database
from shipyard.store.sql.prediction_tables import predictions
from shipyard.store.sql.rows import chunks

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
CHUNK = 500


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, option=_JSON_OPTIONS).decode()
    except TypeError as exc:
        raise InvalidArgument(f"a prediction log value is not JSON-serializable: {exc}") from exc


COLUMNS = (
    "id",
    "model",
    "version",
    "variant",
    "shadow",
    "ts_ms",
    "latency_ms",
    "inputs",
    "features",
    "output",
    "label",
    "labelled_ms",
)


def _row(r: PredictionRecord) -> tuple[Any, ...]:
    return (
        r.id,
        r.model,
        r.version,
        r.variant,
        r.shadow,
        r.ts_ms,
        r.latency_ms,
        _dumps(r.inputs),
        None if r.features is None else _dumps(r.features),
        _dumps(r.output),
        None if r.label is None else _dumps(r.label),
        r.labelled_ms,
    )


def _record(row: Any) -> PredictionRecord:
    return PredictionRecord(
        id=row.id,
        model=row.model,
        version=row.version,
        variant=row.variant,
        shadow=bool(row.shadow),
        ts_ms=row.ts_ms,
        latency_ms=row.latency_ms,
        inputs=orjson.loads(row.inputs),
        output=orjson.loads(row.output),
        features=None if row.features is None else orjson.loads(row.features),
        label=None if row.label is None else orjson.loads(row.label),
        labelled_ms=row.labelled_ms,
    )


class SqlPredictionLogStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, records: Sequence[PredictionRecord]) -> None:
        """One DBAPI executemany: servers append thousands of rows a second, and going
        through the driver directly costs a fraction of a Core insert per row."""
        rows = [_row(r) for r in records]  # serialize before taking the write lock

        def _append(conn: Connection) -> None:
            conn.exec_driver_sql(self._insert_sql(conn), rows)

        if rows:
            self.db.write(_append)

    def _insert_sql(self, conn: Connection) -> str:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        return (
            f"INSERT INTO {predictions.name} ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join([mark] * len(COLUMNS))})"
        )

    def attach_labels(self, labels: Sequence[tuple[str, Any]], now_ms: int) -> list[str]:
        latest = {pid: _dumps(label) for pid, label in labels}  # the last label of an id wins

        def _attach(conn: Connection) -> list[str]:
            found: set[str] = set()
            for chunk in chunks(list(latest), CHUNK):
                found.update(
                    conn.execute(select(predictions.c.id).where(predictions.c.id.in_(chunk)))
                    .scalars()
                    .all()
                )
            missing = [pid for pid in latest if pid not in found]
            if missing:  # all or nothing: a partial label set would skew monitoring
                return missing
            if found:  # one executemany
                conn.execute(
                    update(predictions)
                    .where(predictions.c.id == bindparam("pid"))
                    .values(label=bindparam("new_label"), labelled_ms=now_ms),
                    [{"pid": pid, "new_label": latest[pid]} for pid in found],
                )
            return []

        return self.db.write(_attach) if latest else []

    def query(
        self,
        model: str,
        *,
        version: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        labelled: bool | None = None,
        shadow: bool | None = None,
        limit: int | None = None,
    ) -> list[PredictionRecord]:
        c = predictions.c
        q = select(predictions).where(c.model == model).order_by(c.ts_ms, c.id)
        if version is not None:
            q = q.where(c.version == version)
        if start_ms is not None:
            q = q.where(c.ts_ms >= start_ms)
        if end_ms is not None:
            q = q.where(c.ts_ms < end_ms)
        if labelled is not None:
            q = q.where(c.labelled_ms.is_not(None) if labelled else c.labelled_ms.is_(None))
        if shadow is not None:
            q = q.where(c.shadow.is_(shadow))
        if limit is not None:
            q = q.limit(limit)
        return self.db.read(lambda conn: [_record(r) for r in conn.execute(q)])

    def get(self, ids: Sequence[str]) -> list[PredictionRecord]:
        def _get(conn: Connection) -> list[PredictionRecord]:
            found: dict[str, PredictionRecord] = {}
            for chunk in chunks(list(ids), CHUNK):
                for row in conn.execute(select(predictions).where(predictions.c.id.in_(chunk))):
                    found[row.id] = _record(row)
            return [found[i] for i in ids if i in found]

        return self.db.read(_get)

    def last_prediction_ms(self) -> dict[str, int]:
        q = select(predictions.c.model, func.max(predictions.c.ts_ms)).group_by(predictions.c.model)
        return self.db.read(lambda conn: {m: int(t) for m, t in conn.execute(q)})
