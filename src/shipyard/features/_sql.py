"""Quoting for the few places where DuckDB cannot take a bound parameter (DDL, table
functions, identifiers). Everything else is bound."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

from shipyard.errors import InvalidFeature, StoreUnavailable

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def ident(name: str) -> str:
    """A double-quoted identifier; embedded quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A single-quoted string literal; embedded quotes doubled."""
    return "'" + text.replace("'", "''") + "'"


def check_name(kind: str, name: object) -> str:
    """Names of entities, views and services become table and key prefixes: keep them plain."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidFeature(
            f"{kind} name {name!r} is not valid: use letters, digits and underscores, "
            "not starting with a digit"
        )
    return name


def ts_literal(value: datetime) -> str:
    if value.tzinfo is None:
        raise InvalidFeature(f"{value!r} is a naive datetime; give a timezone-aware one (UTC)")
    return f"{literal(value.astimezone(UTC).isoformat())}::TIMESTAMPTZ"


def append_arrow(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table, exists: bool) -> None:
    """Create table ``name`` from an Arrow table, or append to it by column name."""
    con.register("__append", table)
    try:
        if exists:
            con.execute(f"INSERT INTO {ident(name)} BY NAME FROM __append")
        else:
            con.execute(f"CREATE OR REPLACE TABLE {ident(name)} AS FROM __append")
    finally:
        con.unregister("__append")


def ts_column(name: str) -> str:
    """A timestamp column at microsecond precision (nanosecond columns are truncated)."""
    return f"CAST({ident(name)} AS TIMESTAMPTZ)"


def order_key(timestamp_field: str, created_column: str | None) -> str:
    """The struct that orders a source's rows: event time, created time (null = oldest),
    then source position. The ASOF join and materialization both pick its maximum."""
    created = (
        f"coalesce({ts_column(created_column)}, '-infinity'::TIMESTAMPTZ)"
        if created_column
        else "'-infinity'::TIMESTAMPTZ"
    )
    return f"{{'t': {ts_column(timestamp_field)}, 'c': {created}, 's': __seq}}"


@contextmanager
def duckdb_errors(what: str) -> Iterator[None]:
    """DuckDB's errors in user-written SQL become InvalidFeature naming the definition."""
    import duckdb

    try:
        yield
    except duckdb.Error as exc:
        detail = str(exc).strip().splitlines()[0]
        raise InvalidFeature(f"{what} failed in DuckDB: {detail}") from exc


F = TypeVar("F", bound=Callable[..., Any])


def memory_guard(fn: F) -> F:
    """DuckDB running out of its memory limit becomes an error that says what to change."""

    @wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        import duckdb

        try:
            return fn(*args, **kwargs)
        except duckdb.OutOfMemoryException as exc:
            detail = str(exc).strip().splitlines()[0]
            raise StoreUnavailable(
                f"DuckDB ran out of memory ({detail}); raise SHIPYARD_DUCKDB_MEMORY_LIMIT or "
                "free memory (it spills to disk, but some steps need a minimum)"
            ) from exc

    return guarded  # type: ignore[return-value]
