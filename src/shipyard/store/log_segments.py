"""Segments: the columnar copy of the prediction log that monitoring reads.

The SQL log (one row per model call, columns as JSON) stays the source of truth: ``predictions
ls|show`` and ``log_labels`` keep using it, labels stay in SQL and are joined at read time.
A segment is one Parquet blob holding every call of one model version in one hour-aligned
bucket ``[first_ts_ms, last_ts_ms]``; the index (``prediction_segments``) has one row per
(model, bucket, version).

When: ``seal`` writes the buckets that ended at least ``GRACE_MS`` ago and whose calls the
index does not hold yet. Servers call it from the log's flusher thread (every
``predlog.SEAL_EVERY_S``, over the last ``LOOKBACK_MS``), never on the request path; ``shipyard
predictions seal`` catches up on older logs (written before segments existed, or by batch
scoring).

Crash safety: the blob is written first (temp file + rename, content-addressed), then its
index row, in one statement. A crash in between leaves an unreferenced blob that gc removes
after its ``min_age``; the next pass writes the bucket again.

Concurrency: several servers may seal the same bucket at once. The index row is an upsert on
(model, first_ts_ms, version) that keeps the copy with the most calls, so they converge; a
losing blob is garbage. Calls that reach SQL after their bucket was sealed (a server that
kept them buffered while the store was down) make the bucket's SQL count differ from the
index: readers then read that bucket from SQL (``valid_buckets``) and the next pass rewrites
it. So a read never misses a call, whatever the sealing state.

Parquet columns: ``prediction_id``, ``ts_ms``, ``version``, ``variant``, ``shadow``,
``latency_ms``, ``error`` (null for a success), then ``i.NAME`` (inputs), ``f.NAME`` (fetched
features) and ``o.prediction`` (the output). Values Arrow cannot type as one column (mixed
strings and numbers, objects) are stored as JSON text under ``ij.`` / ``fj.`` / ``oj.``.

A failed call (``error`` set, ``rows`` 0) becomes one row: prediction id ``CALL000000``, its
error and latency, every input, feature and the output null. Readers count it as a call
(volume, latency, error rate); drift and performance leave it out.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from shipyard.store.base import PredictionCall, PredictionLogStore, PredictionSegment

if TYPE_CHECKING:
    import pyarrow as pa

    from shipyard.store.blobs import BlobStore

log = logging.getLogger("shipyard.store")
SEGMENT_MS = 3_600_000  # one bucket: an hour of one model version
GRACE_MS = 300_000  # a bucket is sealed this long after it ends (servers flush every few s)
LOOKBACK_MS = 48 * SEGMENT_MS  # how far back a server's periodic pass looks
META = ("prediction_id", "ts_ms", "version", "variant", "shadow", "latency_ms", "error")
OUTPUT = "prediction"


def bucket_of(ts_ms: int) -> int:
    return ts_ms - ts_ms % SEGMENT_MS


def _parse(texts: Iterable[Any]) -> list[Any]:
    """Many JSON documents (text or bytes) in one parse."""
    parts = [t.decode() if isinstance(t, bytes) else t for t in texts]
    return orjson.loads("[" + ",".join(parts) + "]") if parts else []


def _column(docs: Sequence[dict[str, list[Any]] | None], rows: list[int], name: str) -> list[Any]:
    try:  # every call has the column: one flatten in C
        return list(itertools.chain.from_iterable(d[name] for d in docs))  # type: ignore[index]
    except (KeyError, TypeError):
        out: list[Any] = []
        for d, n in zip(docs, rows, strict=True):
            values = None if d is None else d.get(name)
            out.extend([None] * n if values is None else values)
        return out


def _arrow(values: list[Any]) -> tuple[pa.Array, bool]:
    """(array, as JSON): typed when Arrow can, else JSON text per value."""
    import pyarrow as pa

    try:
        array = pa.array(values, from_pandas=True)
        if not _has_struct(array.type):
            return array, False
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        pass
    texts = [None if v is None else orjson.dumps(v).decode() for v in values]
    return pa.array(texts, pa.string()), True


def _has_struct(t: pa.DataType) -> bool:
    import pyarrow as pa

    if pa.types.is_struct(t) or pa.types.is_map(t) or pa.types.is_union(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _has_struct(t.value_type)
    return False


def calls_table(calls: Sequence[PredictionCall]) -> pa.Table:
    """The calls (inputs, features and outputs as JSON text) as one row per prediction."""
    import numpy as np
    import pyarrow as pa

    failed = [c.error is not None for c in calls]
    rows = [1 if bad else c.rows for c, bad in zip(calls, failed, strict=True)]
    columns: dict[str, pa.Array] = {
        "prediction_id": pa.array(
            [f"{c.id}{i:06x}" for c, n in zip(calls, rows, strict=True) for i in range(n)],
            pa.string(),
        ),
        "ts_ms": pa.array(np.repeat([c.ts_ms for c in calls], rows).astype("int64")),
        "version": pa.array(np.repeat([c.version for c in calls], rows).astype("int64")),
        "variant": pa.array(np.repeat(np.array([c.variant for c in calls], object), rows)),
        "shadow": pa.array(np.repeat([bool(c.shadow) for c in calls], rows).astype(bool)),
        "latency_ms": pa.array(np.repeat([c.latency_ms for c in calls], rows).astype(float)),
        "error": pa.array(
            [c.error for c, n in zip(calls, rows, strict=True) for _ in range(n)], pa.string()
        ),
    }
    if not calls:
        columns["variant"] = pa.array([], pa.string())
    for prefix, texts in (("i", [c.inputs for c in calls]), ("f", [c.features for c in calls])):
        docs = _parse(
            "null" if t is None or bad else t for t, bad in zip(texts, failed, strict=True)
        )
        names = dict.fromkeys(k for d in docs if d for k in d)
        for name in names:
            array, as_json = _arrow(_column(docs, rows, name))
            columns[f"{prefix}{'j' if as_json else ''}.{name}"] = array
    answers = ("[null]" if bad else c.outputs for c, bad in zip(calls, failed, strict=True))
    outputs = list(itertools.chain.from_iterable(_parse(answers)))
    array, as_json = _arrow(outputs)
    columns[f"o{'j' if as_json else ''}.{OUTPUT}"] = array
    return pa.table(columns)


def _write(blobs: BlobStore, table: pa.Table) -> str:
    import pyarrow.parquet as pq

    return blobs.write(lambda out: pq.write_table(table, out, compression="zstd")).hash


def seal(
    store: PredictionLogStore,
    blobs: BlobStore,
    model: str,
    *,
    now_ms: int,
    since_ms: int | None = None,
    grace_ms: int = GRACE_MS,
) -> int:
    """Write the segments of ``model`` for every bucket that ended ``grace_ms`` before
    ``now_ms`` (from ``since_ms`` on) and that the index does not hold whole; returns how
    many segments were written."""
    end = bucket_of(now_ms - grace_ms)  # buckets before this one are complete
    start = None if since_ms is None else bucket_of(since_ms)
    counts = store.bucket_counts(model, start, end, SEGMENT_MS)
    segments = store.list_segments(model, start, end)
    # a segment whose blob is gone (deleted after `shipyard doctor` found it damaged) is
    # written again
    segments = [s for s in segments if blobs.exists(s.blob_hash)]
    indexed = indexed_calls(segments)
    held = {(s.first_ts_ms, s.version): s.calls for s in segments}
    written = 0
    for bucket, calls in sorted(counts.items()):
        if indexed.get(bucket) == calls:
            continue
        found = store.raw_calls(model, [(bucket, bucket + SEGMENT_MS)])
        found.sort(key=lambda c: c.version)
        for version, group in itertools.groupby(found, key=lambda c: c.version):
            part = list(group)
            if held.get((bucket, version)) == len(part):
                continue  # this version's copy is whole; another one is not
            table = calls_table(part)
            blob_hash = _write(blobs, table)  # the blob first, then the row that names it
            store.put_segment(
                PredictionSegment(
                    model,
                    version,
                    bucket,
                    bucket + SEGMENT_MS - 1,
                    len(part),
                    table.num_rows,
                    blob_hash,
                    now_ms,
                )
            )
            written += 1
    return written


def seal_all(
    store: PredictionLogStore,
    blobs: BlobStore,
    models: Iterable[str] | None = None,
    *,
    now_ms: int,
    since_ms: int | None = None,
    grace_ms: int = GRACE_MS,
) -> int:
    """``seal`` for each model (every logged model by default)."""
    names = sorted(store.last_prediction_ms()) if models is None else sorted(set(models))
    return sum(
        seal(store, blobs, m, now_ms=now_ms, since_ms=since_ms, grace_ms=grace_ms) for m in names
    )


def indexed_calls(segments: Iterable[PredictionSegment]) -> dict[int, int]:
    """Bucket start -> calls its segments hold (every version)."""
    calls: dict[int, int] = {}
    for s in segments:
        calls[s.first_ts_ms] = calls.get(s.first_ts_ms, 0) + s.calls
    return calls


def valid_buckets(counts: dict[int, int], segments: Sequence[PredictionSegment]) -> set[int]:
    """The buckets whose segments hold every call the SQL log has (``counts``): the ones a
    reader may take from Parquet; the others it reads from SQL."""
    indexed = indexed_calls(segments)
    return {b for b, n in counts.items() if indexed.get(b) == n}
