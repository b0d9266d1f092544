"""Copy the latest feature row per entity into the online store, in streamed chunks.

DuckDB reduces the source rows of the time range to the latest row per entity (by event
timestamp, then created timestamp, then source position: the same order as the offline
join) and renders each as (key, event time, JSON payload); Python only moves chunks of
those strings into the online store. The store keeps the newer row when two writers race,
so a late backfill never overwrites fresher pushed values.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from shipyard.features._sql import ident, ts_column, ts_literal
from shipyard.features.definitions import FeatureView
from shipyard.features.encoding import key_sql, payload_sql

if TYPE_CHECKING:
    import duckdb

    from shipyard.features.online import OnlineStore

CHUNK_ROWS = 50_000


def latest_rows_sql(
    view: FeatureView, relation: str, start: datetime | None, end: datetime | None
) -> str:
    """(key, event_ts in µs, payload) for the latest row per entity in [start, end)."""
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
    # sorted keys: the online store's b-tree takes them ~3x faster than in hash order
    return (
        f"SELECT {key_sql(keys, view.key_dtypes())} AS k, epoch_us({ts}) AS t, "
        f"{payload_sql(view.features)} AS p FROM ({latest}) ORDER BY k"
    )


def write_online(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    online: OnlineStore,
    table: str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Stream the rows of ``sql`` into ``online`` in chunks; returns rows written."""
    written = 0
    for batch in con.sql(sql).to_arrow_reader(CHUNK_ROWS):
        if batch.num_rows == 0:
            continue
        online.write(
            table,
            batch.column(0).to_pylist(),
            batch.column(1).to_pylist(),
            batch.column(2).to_pylist(),
        )
        written += batch.num_rows
        if progress is not None:
            progress(written)
    return written
