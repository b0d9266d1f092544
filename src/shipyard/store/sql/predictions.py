"""SqlPredictionLogStore: the prediction log on SQLite or PostgreSQL.

Servers append model calls in batches from a background thread, through one DBAPI
executemany (a Core insert costs several times more per row). A call's columns are JSON
(orjson: NaN becomes null); reading explodes them into one record per prediction.
Monitoring reads the columnar copy instead: the segment index (``prediction_segments``)
and, for what no valid segment covers yet, the calls as JSON text (``raw_calls``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, func, insert, or_, select
from sqlalchemy.dialects import sqlite

from shipyard._names import version_number
from shipyard.errors import InvalidArgument
from shipyard.store.base import PredictionCall, PredictionRecord, PredictionSegment
from shipyard.store.sql.audit import record_audit, record_audits
from shipyard.store.sql.engine import Database
from shipyard.store.sql.prediction_tables import (
    prediction_labels,
    prediction_segments,
    predictions,
)
from shipyard.store.sql.rows import chunks

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
CALL_ID = 26  # hex digits of a call id; a prediction id adds 6 for its row
CHUNK = 500
INSERT_ROWS = 80  # calls per INSERT: 960 bound values, under SQLite's oldest limit (999)
COLUMNS = (
    "id",
    "model",
    "version",
    "variant",
    "shadow",
    "ts_ms",
    "latency_ms",
    "rows",
    "inputs",
    "features",
    "outputs",
    "error",
)


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, option=_JSON_OPTIONS).decode()
    except TypeError as exc:
        raise InvalidArgument(f"a prediction log value is not JSON-serializable: {exc}") from exc


def _row(c: PredictionCall) -> tuple[Any, ...]:
    if len(c.id) != CALL_ID:
        raise InvalidArgument(f"a prediction call id has {CALL_ID} hex digits, not {c.id!r}")
    return (
        c.id,
        c.model,
        c.version,
        c.variant,
        c.shadow,
        c.ts_ms,
        c.latency_ms,
        c.rows,
        _dumps(c.inputs),
        None if c.features is None else _dumps(c.features),
        _dumps(c.outputs),
        c.error,
    )


def _split(prediction_id: str) -> tuple[str, int] | None:
    """(call id, row) of a prediction id, or None if it cannot be one."""
    if len(prediction_id) != CALL_ID + 6:
        return None
    try:
        return prediction_id[:CALL_ID], int(prediction_id[CALL_ID:], 16)
    except ValueError:
        return None


def _explode(call: Any, labels: dict[str, tuple[str, int]]) -> list[PredictionRecord]:
    cid, model, version, variant, shadow, ts_ms, latency_ms, rows = call[:8]
    inputs = orjson.loads(call.inputs)
    features = None if call.features is None else orjson.loads(call.features)
    outputs = orjson.loads(call.outputs)
    shadow = bool(shadow)
    error = getattr(call, "error", None)
    if error is not None:  # a failed call: one record to show its error, never labelled
        first = {k: v[0] if v else None for k, v in inputs.items()}
        return [
            PredictionRecord(
                f"{cid}{0:06x}", model, version, variant, shadow, ts_ms, latency_ms,
                first, None, None, error=error,
            )
        ]  # fmt: skip
    records = []
    for i in range(rows):
        pid = f"{cid}{i:06x}"
        label, labelled_ms = labels.get(pid, (None, None))
        records.append(
            PredictionRecord(
                pid,
                model,
                version,
                variant,
                shadow,
                ts_ms,
                latency_ms,
                {k: v[i] for k, v in inputs.items()},
                outputs[i],
                None if features is None else {k: v[i] for k, v in features.items()},
                None if label is None else orjson.loads(label),
                labelled_ms,
            )
        )
    return records


class SqlPredictionLogStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, calls: Sequence[PredictionCall]) -> None:
        rows = [_row(c) for c in calls]  # serialize before taking the write lock

        def _append(conn: Connection) -> None:
            # many rows per statement: a server's flusher thread gives the GIL back to the
            # request thread once per statement (per row with executemany)
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            values = f"({', '.join([mark] * len(COLUMNS))})"
            head = f"INSERT INTO {predictions.name} ({', '.join(COLUMNS)}) VALUES "
            for chunk in chunks(rows, INSERT_ROWS):
                sql = head + ", ".join([values] * len(chunk))
                conn.exec_driver_sql(sql, tuple(v for row in chunk for v in row))

        if rows:
            self.db.write(_append)

    def attach_labels(self, labels: Sequence[tuple[str, Any]], now_ms: int) -> list[str]:
        latest = {pid: _dumps(label) for pid, label in labels}  # the last label of an id wins

        def _attach(conn: Connection) -> list[str]:
            wanted = {pid: _split(pid) for pid in latest}
            calls = {p[0] for p in wanted.values() if p is not None}
            sizes: dict[str, int] = {}
            models: dict[str, str] = {}
            for chunk in chunks(sorted(calls), CHUNK):
                pc = predictions.c
                q = select(pc.id, pc.rows, pc.model).where(pc.id.in_(chunk))
                for r in conn.execute(q):
                    sizes[r.id], models[r.id] = r.rows, r.model
            missing = [
                pid
                for pid, where in wanted.items()
                if where is None or where[1] >= sizes.get(where[0], 0)
            ]
            if missing:  # all or nothing: a partial label set would skew monitoring
                return missing
            ids = list(latest)
            for chunk in chunks(ids, CHUNK):
                conn.execute(
                    delete(prediction_labels).where(prediction_labels.c.prediction_id.in_(chunk))
                )
            conn.execute(
                insert(prediction_labels),
                [
                    {
                        "prediction_id": p,
                        "call_id": p[:CALL_ID],
                        "label": latest[p],
                        "labelled_ms": now_ms,
                    }
                    for p in ids
                ],
            )
            per_model: dict[str, int] = {}
            for where in wanted.values():
                assert where is not None  # none missing
                per_model[models[where[0]]] = per_model.get(models[where[0]], 0) + 1
            labelled = [(f"predictions:{m}", {"labels": n}) for m, n in sorted(per_model.items())]
            record_audits(conn, "predictions.label", labelled)
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
            q = q.where(c.version == version_number(version, f"version of model {model!r}"))
        if start_ms is not None:
            q = q.where(c.ts_ms >= start_ms)
        if end_ms is not None:
            q = q.where(c.ts_ms < end_ms)
        if shadow is not None:
            q = q.where(c.shadow.is_(shadow))

        def _query(conn: Connection) -> list[PredictionRecord]:
            calls = conn.execute(q).all()
            labels = _labels(conn, [call.id for call in calls])
            found = []
            for call in calls:
                for record in _explode(call, labels):
                    if labelled is None or (record.labelled_ms is not None) == labelled:
                        found.append(record)
                if limit is not None and len(found) >= limit:
                    return found[:limit]
            return found

        return self.db.read(_query)

    def get(self, ids: Sequence[str]) -> list[PredictionRecord]:
        def _get(conn: Connection) -> list[PredictionRecord]:
            calls = sorted({p[0] for p in map(_split, ids) if p is not None})
            found: dict[str, PredictionRecord] = {}
            for chunk in chunks(calls, CHUNK):
                rows = conn.execute(select(predictions).where(predictions.c.id.in_(chunk))).all()
                labels = _labels(conn, list(chunk))
                for call in rows:
                    found.update((r.id, r) for r in _explode(call, labels))
            return [found[i] for i in ids if i in found]

        return self.db.read(_get)

    def last_prediction_ms(self) -> dict[str, int]:
        q = select(predictions.c.model, func.max(predictions.c.ts_ms)).group_by(predictions.c.model)
        return self.db.read(lambda conn: {m: int(t) for m, t in conn.execute(q)})

    def logged_versions(self) -> dict[tuple[str, int], int]:
        t = predictions.c
        q = select(t.model, t.version, func.count()).group_by(t.model, t.version)
        return self.db.read(lambda conn: {(m, int(v)): int(n) for m, v, n in conn.execute(q)})

    # -- the columnar copy --------------------------------------------------------------

    def bucket_counts(
        self,
        model: str,
        start_ms: int | None,
        end_ms: int | None,
        bucket_ms: int,
        rows: bool = False,
    ) -> dict[int, int]:
        c = predictions.c
        bucket = (c.ts_ms // bucket_ms).label("bucket")
        count = func.sum(c.rows) if rows else func.count()
        q = _in_range(select(bucket, count).where(c.model == model), start_ms, end_ms)
        q = q.group_by(bucket)
        return self.db.read(lambda conn: {int(b) * bucket_ms: int(n) for b, n in conn.execute(q)})

    def raw_calls(
        self, model: str, ranges: Sequence[tuple[int, int]], version: int | None = None
    ) -> list[PredictionCall]:
        c = predictions.c
        if not ranges:
            return []
        q = select(predictions).where(
            c.model == model, or_(*(and_(c.ts_ms >= s, c.ts_ms < e) for s, e in ranges))
        )
        if version is not None:
            q = q.where(c.version == version_number(version, f"version of model {model!r}"))
        q = q.order_by(c.ts_ms, c.id)

        def _calls(conn: Connection) -> list[PredictionCall]:
            return [
                PredictionCall(
                    r.id, r.model, r.version, r.variant, bool(r.shadow), r.ts_ms,
                    r.latency_ms, r.rows, r.inputs, r.outputs, r.features, r.error,
                )
                for r in conn.execute(q)
            ]  # fmt: skip

        return self.db.read(_calls)

    def labels_between(
        self, model: str, start_ms: int | None, end_ms: int | None, version: int | None = None
    ) -> list[tuple[str, str]]:
        c, lab = predictions.c, prediction_labels.c
        q = select(lab.prediction_id, lab.label).join(predictions, c.id == lab.call_id)
        q = _in_range(q.where(c.model == model), start_ms, end_ms)
        if version is not None:
            q = q.where(c.version == version_number(version, f"version of model {model!r}"))
        return self.db.read(lambda conn: [(p, label) for p, label in conn.execute(q)])

    def put_segment(self, segment: PredictionSegment) -> bool:
        values = {
            "model": segment.model,
            "version": version_number(segment.version, "segment version"),
            "first_ts_ms": segment.first_ts_ms,
            "last_ts_ms": segment.last_ts_ms,
            "calls": segment.calls,
            "rows": segment.rows,
            "blob_hash": segment.blob_hash,
            "created_ms": segment.created_ms,
        }

        def _put(conn: Connection) -> bool:
            dialect: Any = sqlite
            if conn.dialect.name == "postgresql":  # imported only where it is in use
                from sqlalchemy.dialects import postgresql as dialect
            q = dialect.insert(prediction_segments).values(values)
            t = prediction_segments.c
            q = q.on_conflict_do_update(
                index_elements=[t.model, t.first_ts_ms, t.version],
                set_={k: q.excluded[k] for k in values},
                where=t.calls <= q.excluded.calls,  # a fuller copy stays; an equal one replaces
            )
            return conn.execute(q.returning(t.id)).first() is not None

        return self.db.write(_put)

    def list_segments(
        self, model: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> list[PredictionSegment]:
        t = prediction_segments.c
        q = select(prediction_segments).where(t.model == model)
        if start_ms is not None:
            q = q.where(t.last_ts_ms >= start_ms)
        if end_ms is not None:
            q = q.where(t.first_ts_ms < end_ms)
        q = q.order_by(t.first_ts_ms, t.version)
        return self.db.read(
            lambda conn: [
                PredictionSegment(
                    r.model, r.version, r.first_ts_ms, r.last_ts_ms, r.calls, r.rows,
                    r.blob_hash, r.created_ms,
                )
                for r in conn.execute(q)
            ]
        )  # fmt: skip

    def prune(self, before_ms: int, model: str | None = None) -> dict[str, int]:
        p, seg = predictions.c, prediction_segments.c
        old = [p.ts_ms < before_ms] + ([] if model is None else [p.model == model])
        old_segments = [seg.last_ts_ms < before_ms]
        old_segments += [] if model is None else [seg.model == model]
        old_labels = prediction_labels.c.call_id.in_(select(p.id).where(*old).scalar_subquery())

        def _prune(conn: Connection) -> dict[str, int]:
            labels = conn.execute(delete(prediction_labels).where(old_labels)).rowcount
            calls = conn.execute(delete(predictions).where(*old)).rowcount
            segments = conn.execute(delete(prediction_segments).where(*old_segments)).rowcount
            counts = {"calls": calls, "labels": labels, "segments": segments}
            if any(counts.values()):
                summary = {"before_ms": before_ms, **counts}
                record_audit(conn, "predictions.prune", f"predictions:{model or '*'}", summary)
            return counts

        return self.db.write(_prune)


def _in_range(q: Any, start_ms: int | None, end_ms: int | None) -> Any:
    if start_ms is not None:
        q = q.where(predictions.c.ts_ms >= start_ms)
    if end_ms is not None:
        q = q.where(predictions.c.ts_ms < end_ms)
    return q


def _labels(conn: Connection, call_ids: list[str]) -> dict[str, tuple[str, int]]:
    labels: dict[str, tuple[str, int]] = {}
    t = prediction_labels.c
    for chunk in chunks(call_ids, CHUNK):
        q = select(t.prediction_id, t.label, t.labelled_ms).where(t.call_id.in_(chunk))
        labels.update({r.prediction_id: (r.label, r.labelled_ms) for r in conn.execute(q)})
    return labels
