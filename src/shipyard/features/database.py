"""Rows of a SQL query run by another database (PostgreSQL), streamed into DuckDB.

Columns are typed from the driver's description, not guessed from values, so an empty
result keeps its types and a ``timestamptz`` column stays timezone-aware.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidFeature
from shipyard.features._sql import append_arrow

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

CHUNK_ROWS = 100_000


def _arrow_types() -> dict[int, pa.DataType]:
    """PostgreSQL type OIDs -> Arrow types; anything else is read as text."""
    import pyarrow as pa

    return {
        16: pa.bool_(),
        17: pa.binary(),
        20: pa.int64(),
        21: pa.int16(),
        23: pa.int32(),
        700: pa.float32(),
        701: pa.float64(),
        1700: pa.float64(),
        25: pa.string(),
        1043: pa.string(),
        1042: pa.string(),
        1114: pa.timestamp("us"),
        1184: pa.timestamp("us", tz="UTC"),
        1082: pa.date32(),
    }


def load_query(
    con: duckdb.DuckDBPyConnection, table: str, uri: str, query: str, source: str, redacted: str
) -> None:
    """Create DuckDB table ``table`` from the rows of ``query`` on ``uri``."""
    import pyarrow as pa
    import sqlalchemy as sa

    from shipyard.store.registry import sql_engine

    engine = sql_engine(uri)
    try:
        with engine.connect().execution_options(stream_results=True) as conn:
            # the query is the user's SQL as written: no ":name" binds, "%" is literal
            result = conn.execute(sa.text(query.replace(":", r"\:")))
            try:
                schema = _schema(result.cursor.description)
                created = False
                for rows in result.partitions(CHUNK_ROWS):
                    columns = list(zip(*rows, strict=True))
                    arrays = [_array(c, f.type) for c, f in zip(columns, schema, strict=True)]
                    append_arrow(con, table, pa.Table.from_arrays(arrays, schema=schema), created)
                    created = True
                if not created:  # no rows: keep the typed columns
                    append_arrow(con, table, schema.empty_table(), False)
            finally:
                result.close()
    except sa.exc.SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        detail = str(cause).strip().splitlines()[0]
        raise InvalidFeature(f"source {source!r}: query on {redacted} failed: {detail}") from exc
    finally:
        engine.dispose()


def _array(values: Any, kind: pa.DataType) -> pa.Array:
    """Values of one column; NUMERIC arrives as Decimal, and types without an Arrow match
    (uuid, interval, json, ...) are read as their text form."""
    import pyarrow as pa

    if pa.types.is_floating(kind):
        values = [None if v is None else float(v) for v in values]
    elif pa.types.is_string(kind):
        values = [v if v is None or isinstance(v, str) else str(v) for v in values]
    return pa.array(values, type=kind)


def _schema(description: Any) -> pa.Schema:
    import pyarrow as pa

    types = _arrow_types()
    return pa.schema([pa.field(col[0], types.get(int(col[1]), pa.string())) for col in description])
