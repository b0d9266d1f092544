"""Quoting for the few places where DuckDB cannot take a bound parameter (DDL, table
functions, identifiers). Everything else is bound."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

from shipyard.errors import InvalidFeature, StoreUnavailable

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # whole name (fullmatch): no "a\n"
NAME_RULE = "use letters, digits and underscores, not starting with a digit"
NAME_LIMIT = 256  # the registry's name columns (feature_objects.name, feature_stats.feature)


def ident(name: str) -> str:
    """A double-quoted identifier; embedded quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A single-quoted string literal; embedded quotes doubled."""
    return "'" + text.replace("'", "''") + "'"


def check_name(kind: str, name: object) -> str:
    """Names of entities, views and services become table and key prefixes: keep them plain."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidFeature(f"{kind} name {name!r} is not valid: {NAME_RULE}")
    return _short_enough(kind, name)


def _short_enough(kind: str, name: str) -> str:
    if len(name) > NAME_LIMIT:
        raise InvalidFeature(
            f"{kind} name {name[:30]!r}... is not valid: it is {len(name)} characters; "
            f"the limit is {NAME_LIMIT}"
        )
    return name


def check_feature_name(name: object) -> str:
    """Feature names are source columns, so any column name goes, except what cannot be
    referred to as ``view:feature`` (or in a comma-separated list of them)."""
    if (
        not isinstance(name, str)
        or name.strip() in ("", ".", "..")
        or name.startswith("-")
        or any(c in ":," or not c.isprintable() for c in name)
    ):
        raise InvalidFeature(
            f"feature name {name!r} is not valid: a feature name must not be empty, '.' or "
            "'..', start with '-', or contain ':', ',' or control characters "
            f"(safest: {NAME_RULE})"
        )
    return _short_enough("feature", name)


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

MEMORY_SETTING = "duckdb_memory_limit"
MEMORY_ENV = "SHIPYARD_DUCKDB_MEMORY_LIMIT"


@dataclass(frozen=True)
class MemoryLimit:
    """The DuckDB memory limit in force, as the user set it: value ("" = DuckDB's default)
    and where it came from (``Settings.source``)."""

    value: str
    source: str = "default"

    def describe(self) -> str:
        if not self.value:
            return f"now unset ({self.source}), so DuckDB takes 80% of RAM"
        return f"now {self.value!r}, from {self.source}"


def is_out_of_memory(exc: BaseException) -> bool:
    """DuckDB's OutOfMemoryException, or the same error surfacing as pyarrow's OSError
    while an Arrow reader streams a result."""
    import duckdb

    if isinstance(exc, duckdb.OutOfMemoryException):
        return True
    return isinstance(exc, OSError) and "Out of Memory Error" in str(exc)


def out_of_memory(exc: BaseException, limit: MemoryLimit | None) -> StoreUnavailable:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    current = f", {limit.describe()}" if limit is not None else ""
    return StoreUnavailable(
        f"DuckDB ran out of memory in offline feature work ({detail}); raise "
        f"{MEMORY_ENV} (the {MEMORY_SETTING} setting{current}; e.g. 4GB) or free memory: "
        "DuckDB spills to disk, but some steps need a minimum"
    )


def memory_guard(fn: F) -> F:
    """DuckDB running out of its memory limit becomes an error that says what to change.

    For methods of objects with a ``memory_limit`` (a ``MemoryLimit``), the message says
    its current value. Generators are guarded while they are consumed.
    """

    def limit_of(args: tuple[Any, ...]) -> MemoryLimit | None:
        found = getattr(args[0], "memory_limit", None) if args else None
        return found if isinstance(found, MemoryLimit) else None

    if inspect.isgeneratorfunction(fn):

        @wraps(fn)
        def guarded_gen(*args: Any, **kwargs: Any) -> Any:
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:
                if is_out_of_memory(exc):
                    raise out_of_memory(exc, limit_of(args)) from exc
                raise

        return guarded_gen  # type: ignore[return-value]

    @wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if is_out_of_memory(exc):
                raise out_of_memory(exc, limit_of(args)) from exc
            raise

    return guarded  # type: ignore[return-value]
