"""Copy the latest feature row per entity into the online store, in streamed chunks.

The latest row per entity of a time range (by event timestamp, then created timestamp,
then source position: the same order as the offline join) is picked from the view's
prepared rows when they exist (``latest_prepared``: they are sorted by keys and time with
ties settled, so it is the last row of each key inside the range, found by numpy, no
sort), else from the source rows in SQL (``latest_rows_sql``); DuckDB renders
each as (key, event time, JSON payload), sorted by key for stores that write faster in key
order (``writes_in_key_order``: SQLite's b-tree; not Redis); Python only moves chunks of
those strings into the online store. The JSON is rendered chunk by chunk, so a reader
thread has DuckDB render the next chunk while the store writes the last one. The store
keeps the newer row when two writers race, so a late backfill never overwrites fresher
pushed values.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from queue import Empty, Queue
from typing import TYPE_CHECKING, Any

from shipyard.features._sql import ident, ts_column, ts_literal
from shipyard.features.definitions import FeatureView
from shipyard.features.encoding import epoch_us, key_sql, payload_sql
from shipyard.features.offline import key_column, value_column

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from shipyard.features.online import OnlineStore
    from shipyard.features.prepared import Prepared

CHUNK_ROWS = 50_000


def latest_rows_sql(
    view: FeatureView,
    relation: str,
    start: datetime | None,
    end: datetime | None,
    in_key_order: bool = True,
) -> str:
    """(k, t, p): key, event_ts in µs and payload of the latest row per entity in
    [start, end), in key order if asked."""
    source = view.source
    ts = ts_column(source.timestamp_field)
    keys = view.join_keys
    where = [f"{ts} IS NOT NULL"] + [f"{ident(k)} IS NOT NULL" for k in keys]
    if start is not None:
        where.append(f"{ts} >= {ts_literal(start)}")
    if end is not None:
        where.append(f"{ts} < {ts_literal(end)}")
    created = source.created_timestamp_column
    newest_first = [f"{ts} DESC"]
    if created:
        newest_first.append(f"{ts_column(created)} DESC NULLS LAST")  # null created: oldest
    newest_first.append("__seq DESC")
    partition = ", ".join(ident(k) for k in keys)
    latest = (
        f"SELECT * FROM {ident(relation)} WHERE {' AND '.join(where)} "
        f"QUALIFY row_number() OVER (PARTITION BY {partition} "
        f"ORDER BY {', '.join(newest_first)}) = 1"
    )
    # Sorted keys: the online store's b-tree takes them ~3x faster than in hash order.
    # The sort runs on the typed columns and the JSON is rendered above it, so it streams
    # (chunk by chunk as they are fetched) instead of being built whole before the sort.
    features = ", ".join(ident(f.name) for f in view.features)
    ordered = (
        f"SELECT {key_sql(keys, view.key_dtypes())} AS {_KEY}, epoch_us({ts}) AS {_TS}, "
        f"{features} FROM ({latest})" + (f" ORDER BY {_KEY}" if in_key_order else "")
    )
    return f"SELECT {_KEY} AS k, {_TS} AS t, {payload_sql(view.features)} AS p FROM ({ordered})"


_KEY, _TS = '"__shipyard_key"', '"__shipyard_ts"'  # not a feature's name


def latest_prepared(prep: Prepared, start: datetime | None, end: datetime | None) -> pa.Table:
    """The latest row per entity in [start, end) among a view's prepared rows: the last
    row of each key's rows inside the range (its time ties, if any, lead back to their
    winner)."""
    import numpy as np
    import pyarrow as pa

    ts, starts = prep.ts, prep.starts
    inside = np.ones(len(ts), dtype=bool)
    if start is not None:
        inside &= ts >= epoch_us(start)
    if end is not None:
        inside &= ts < epoch_us(end)
    rows = np.flatnonzero(inside)
    key = np.zeros(len(ts), dtype=np.int64)  # each row's key number
    key[starts[1:-1]] = 1
    key = np.cumsum(key)[rows]
    last = np.ones(len(rows), dtype=bool)
    last[:-1] = key[1:] != key[:-1]
    rows = rows[last]
    if prep.offset is not None:  # a run of tied rows ends here: its winner is before
        rows = rows + prep.offset[rows]
    if len(rows) == len(ts):  # one row per key, all inside: every row, as it is
        return prep.table
    return prep.table.take(pa.array(rows, type=pa.int64()))


def prepared_rows_sql(view: FeatureView, relation: str, in_key_order: bool) -> str:
    """(k, t, p) of every row of ``relation``, rows in a view's prepared columns (see
    ``latest_rows_sql``), in key order if asked."""
    dtypes = view.key_dtypes()
    keys = [f"CAST({key_column(i)} AS VARCHAR)" for i in range(len(dtypes))]
    key = keys[0] if len(keys) == 1 else f"concat_ws(chr(31), {', '.join(keys)})"
    values = ", ".join(f"{value_column(j)} AS {ident(f.name)}" for j, f in enumerate(view.features))
    inner = f"SELECT {key} AS {_KEY}, epoch_us(__ts) AS {_TS}, {values} FROM {ident(relation)}"
    if in_key_order:
        inner += f" ORDER BY {_KEY}"
    return f"SELECT {_KEY} AS k, {_TS} AS t, {payload_sql(view.features)} AS p FROM ({inner})"


def write_online(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    online: OnlineStore,
    table: str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Stream the rows of ``sql`` into ``online`` in chunks; returns rows written.

    The chunks go to the store as Arrow arrays: a backend that can encode them in bulk
    does (Redis); others take them as lists."""
    written = 0
    for batch in _read_ahead(con.sql(sql).to_arrow_reader(CHUNK_ROWS)):
        if batch.num_rows == 0:
            continue
        online.write(table, batch.column(0), batch.column(1), batch.column(2))
        written += batch.num_rows
        if progress is not None:
            progress(written)
    return written


_DONE = object()


def _read_ahead(reader: pa.RecordBatchReader, depth: int = 2) -> Iterator[pa.RecordBatch]:
    """The batches of ``reader``, fetched by a thread up to ``depth`` ahead: DuckDB
    renders the next chunk (without the GIL) while the caller writes this one. A failure
    in either is raised here; when the caller stops early, the thread stops too."""
    queue: Queue[Any] = Queue(maxsize=depth)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for batch in reader:
                if stop.is_set():
                    return
                queue.put(batch)
        except BaseException as exc:  # re-raised in the caller's thread
            queue.put(exc)
            return
        queue.put(_DONE)

    thread = threading.Thread(target=fetch, name="shipyard-online-write", daemon=True)
    thread.start()
    try:
        while (item := queue.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # a fetch blocked on the full queue: make room
            with contextlib.suppress(Empty):
                queue.get(timeout=0.05)
        reader.close()
