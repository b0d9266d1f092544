"""Rows to records and bulk row writes, shared by the SQL store's operations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy import exc as sa_exc

from shipyard.store.base import ArtifactRecord, Metric, RunRecord
from shipyard.store.sql.records import RunData, artifact_record, metric_value, run_record
from shipyard.store.sql.tables import latest_metrics, params, tags

CHUNK = 5000  # rows per executemany; keeps statements under driver parameter limits


_METRIC_COLUMNS = "run_id, key, value, step, timestamp_ms"


def insert_metric_rows(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Bulk-insert metric points: COPY on PostgreSQL (about 3x faster than executemany,
    which psycopg sends row by row), one prepared executemany on SQLite."""
    if conn.dialect.name == "postgresql":
        raw: Any = conn.connection.driver_connection  # the same connection and transaction
        statement = f"COPY metrics ({_METRIC_COLUMNS}) FROM STDIN"  # constant, no user data
        dbapi_error = conn.dialect.loaded_dbapi.Error
        try:
            with raw.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        except dbapi_error as exc:  # wrapped as SQLAlchemy would, so the store translates it
            raise sa_exc.DBAPIError.instance(statement, None, exc, dbapi_error) from exc
        return
    for chunk in chunks(rows, CHUNK):
        conn.exec_driver_sql(
            f"INSERT INTO metrics ({_METRIC_COLUMNS}) VALUES (?, ?, ?, ?, ?)", list(chunk)
        )


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def artifact_row(record: ArtifactRecord) -> dict[str, Any]:
    return {
        "run_id": record.run_id,
        "path": record.path,
        "blob_hash": record.blob_hash,
        "size": record.size,
        "serializer": record.serializer,
        "created_ms": record.created_ms,
    }


def metric_from_row(row: Any) -> Metric:
    return Metric(row.key, metric_value(row.value), int(row.step), int(row.timestamp_ms))


def artifact_from_row(row: Row[Any]) -> ArtifactRecord:
    return artifact_record(row)


def history_rows(
    conn: Connection, run_ids: Sequence[str], keys: Sequence[str]
) -> Iterable[tuple[str, str, float | None, int, int]]:
    """The points of ``keys`` in ``run_ids`` as plain DB-API rows (run_id, key, value,
    step, timestamp_ms), ordered by run, key, step, time and arrival: a comparison chart
    reads tens of thousands of them."""
    if not keys:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    for chunk in chunks(run_ids, 500):
        sql = (
            "SELECT run_id, key, value, step, timestamp_ms FROM metrics "
            f"WHERE run_id IN ({', '.join([mark] * len(chunk))}) "
            f"AND key IN ({', '.join([mark] * len(keys))}) "
            "ORDER BY run_id, key, step, timestamp_ms, id"
        )
        yield from conn.exec_driver_sql(sql, (*chunk, *keys)).fetchall()


def run_records(
    conn: Connection, rows: Sequence[Row[Any]], with_data: bool = True
) -> list[RunRecord]:
    """Turn run rows into records, with their params, latest metrics and tags read in one
    query per 500 runs (plain DB-API rows: a search returns thousands of them)."""
    ids = [r.id for r in rows]
    data: dict[str, RunData] = {i: ({}, {}, {}) for i in ids}
    if with_data and ids:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        for chunk in chunks(ids, 500):
            within = f"run_id IN ({', '.join([mark] * len(chunk))})"
            for kind, table in enumerate((params, latest_metrics, tags)):
                sql = f"SELECT run_id, key, value FROM {table.name} WHERE {within}"
                result = conn.exec_driver_sql(sql, tuple(chunk))
                if kind == 1:
                    for run_id, key, value in result:
                        data[run_id][1][key] = metric_value(value)
                else:
                    for run_id, key, value in result:
                        data[run_id][kind][key] = value
    return [run_record(r, data[r.id]) for r in rows]
