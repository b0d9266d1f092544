"""Point-in-time correct training sets.

For each entity row and each feature view, the join picks the feature row with the same
join keys and the greatest (event timestamp, created timestamp, source position) not after
the entity row's timestamp. A match older than the view's TTL gives nulls. Every entity row
comes back once, in input order, with its own columns.

The ties are settled before the join: a view's *prepared* rows (``prepared``) keep, per
(join keys, event time), only the row that wins them, sorted by keys and time, so the join
is a plain as-of lookup on (keys, time). Entity rows held in memory are matched by binary
search (``asof``); entity files go through the DuckDB ASOF join built here
(``point_in_time_sql``), which streams them and spills to ``temp_directory`` past its
memory limit, so entity rows larger than memory work; ``RetrievalJob.to_parquet`` streams
the result too.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidFeature
from shipyard.features._sql import (
    append_arrow,
    duckdb_errors,
    ident,
    literal,
    ts_column,
)
from shipyard.features.checks import check_entity_keys, check_timestamp, columns_of
from shipyard.features.definitions import FeatureView, OnDemandFeatureView
from shipyard.features.sources import SourceContext, frame_fingerprint

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

ENTITIES = "__entities"


def key_column(i: int) -> str:
    """The i-th join key's column in a view's prepared rows."""
    return f"__k{i}"


def value_column(j: int) -> str:
    """The j-th feature's column in a view's prepared rows."""
    return f"__v{j}"


NAIVE_FIX_ENTITY = "df[col] = df[col].dt.tz_localize('UTC') (or tz_convert('UTC'))"


@dataclass
class ViewRequest:
    """Features wanted from one view; ``hidden`` ones only feed on-demand views."""

    view: FeatureView
    features: list[str]
    version: int | None = None
    hidden: list[str] = field(default_factory=list)


@dataclass
class OnDemandRequest:
    view: OnDemandFeatureView
    features: list[str]
    version: int | None = None


@dataclass
class EntityInput:
    timestamp: str
    columns: dict[str, str]  # name -> DuckDB type
    fingerprint: Callable[[], str]
    table: pa.Table | None = None  # in-memory entity rows, in input order
    con: duckdb.DuckDBPyConnection | None = None  # where __entities is registered, if anywhere

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        """Show in-memory rows to DuckDB as ``__entities`` with ``__row``, their position
        (for the DuckDB join; entity files are registered as they are read)."""
        import numpy as np
        import pyarrow as pa

        if self.table is not None and con is not self.con:
            rows = pa.array(np.arange(len(self.table), dtype=np.uint64))
            con.register(ENTITIES, self.table.append_column("__row", rows))
            self.con = con


def connect(
    temp_dir: str | None = None, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB that spills into its own folder under ``temp_dir``.

    The folder is unique to the connection and created by DuckDB only when it spills, so
    concurrent processes never share spill files and DuckDB removes it when done.
    """
    import duckdb

    config: dict[str, Any] = {}
    if temp_dir:
        os.makedirs(temp_dir, exist_ok=True)
        config["temp_directory"] = os.path.join(temp_dir, f"{os.getpid()}-{uuid.uuid4().hex[:12]}")
    if memory_limit:
        config["memory_limit"] = memory_limit
    return duckdb.connect(config=config)


def drop_created(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the views and tables of the database's main schema (a scratch cursor's)."""
    rows = con.execute(
        "SELECT 'VIEW', view_name FROM duckdb_views() WHERE NOT internal AND NOT temporary "
        "UNION ALL SELECT 'TABLE', table_name FROM duckdb_tables() WHERE NOT temporary"
    ).fetchall()
    for kind, name in rows:  # views first: they may read the tables
        con.execute(f"DROP {kind} IF EXISTS {ident(name)}")


def register_entities(
    cursor: Callable[[], duckdb.DuckDBPyConnection], entity_df: Any, timestamp_column: str | None
) -> EntityInput:
    """The entity rows, their columns' DuckDB types and timestamp column, checked.

    Accepts a pandas DataFrame, an Arrow table, or the path of a Parquet/CSV file or folder
    (read lazily, so it may be larger than memory). Files are shown to DuckDB at once as
    ``__entities`` (on a ``cursor()``); rows in memory are described from their Arrow types
    and shown to DuckDB only if a DuckDB join runs (``EntityInput.register``).
    """
    import pandas as pd
    import pyarrow as pa

    fingerprint: Callable[[], str]
    if isinstance(entity_df, pd.DataFrame):
        table = pa.Table.from_pandas(entity_df, preserve_index=False)
        frame = entity_df
        fingerprint = lambda: frame_fingerprint(frame)  # noqa: E731
    elif isinstance(entity_df, pa.Table):
        table = entity_df
        fingerprint = lambda: frame_fingerprint(table.to_pandas())  # noqa: E731
    elif isinstance(entity_df, str | Path):
        con = cursor()
        _register_entity_files(con, str(entity_df))
        fingerprint = lambda: _files_fingerprint(str(entity_df))  # noqa: E731
        entity = EntityInput("", columns_of(con, ENTITIES), fingerprint, None, con)
        table = None
    else:
        raise InvalidFeature(
            "entity_df must be a pandas DataFrame, an Arrow table or a Parquet/CSV path, "
            f"not {type(entity_df).__name__}"
        )
    if table is not None:
        bad = [c for c in table.column_names if c.startswith("__")]
        if bad:
            raise InvalidFeature(
                f"entity dataframe column {bad[0]!r}: names starting with '__' are reserved"
            )
        entity = EntityInput("", duckdb_types(table.schema) or {}, fingerprint, table)
        if len(entity.columns) != table.num_columns:  # a type only DuckDB can name
            entity.register(cursor())
            assert entity.con is not None
            entity.columns = columns_of(entity.con, ENTITIES)
    entity.columns.pop("__row", None)
    entity.timestamp = timestamp_column or _guess_timestamp(entity.columns)
    check_timestamp("the entity dataframe", entity.timestamp, entity.columns, NAIVE_FIX_ENTITY)
    return entity


def duckdb_types(schema: pa.Schema) -> dict[str, str] | None:
    """Column -> the type DuckDB shows for it (``DESCRIBE``), for the usual Arrow types;
    None when a column has another (then DuckDB is asked)."""
    import pyarrow as pa

    out: dict[str, str] = {}
    for f in schema:
        kind = f.type
        if pa.types.is_dictionary(kind) and pa.types.is_string(kind.value_type):
            out[f.name] = "VARCHAR"
        elif pa.types.is_timestamp(kind):
            if kind.tz is not None:
                out[f.name] = "TIMESTAMPTZ_NS" if kind.unit == "ns" else "TIMESTAMP WITH TIME ZONE"
            else:
                out[f.name] = {"s": "TIMESTAMP_S", "ms": "TIMESTAMP_MS", "ns": "TIMESTAMP_NS"}.get(
                    kind.unit, "TIMESTAMP"
                )
        elif str(kind) in _DUCKDB_NAMES:
            out[f.name] = _DUCKDB_NAMES[str(kind)]
        else:
            return None
    return out


_DUCKDB_NAMES = {
    "int8": "TINYINT",
    "int16": "SMALLINT",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "uint8": "UTINYINT",
    "uint16": "USMALLINT",
    "uint32": "UINTEGER",
    "uint64": "UBIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "bool": "BOOLEAN",
    "string": "VARCHAR",
    "large_string": "VARCHAR",
    "string_view": "VARCHAR",
    "binary": "BLOB",
    "large_binary": "BLOB",
    "date32[day]": "DATE",
}


def source_relation(
    con: duckdb.DuckDBPyConnection, view: FeatureView, index: int, ctx: SourceContext
) -> str:
    """The view's rows after its transformation, with ``__seq``."""
    src = f"__src_{index}"
    view.source.register(con, src, ctx)
    transform = view.transformation
    if transform is None:
        return src
    out = f"__tx_{index}"
    if isinstance(transform, str):
        inner = f"{out}__sql"
        with duckdb_errors(f"feature view {view.name!r}: its SQL transformation"):
            con.execute(
                f"CREATE OR REPLACE VIEW {inner} AS WITH source AS "
                f"(SELECT * EXCLUDE (__seq) FROM {src}) {transform}"
            )
        con.execute(
            f"CREATE OR REPLACE VIEW {out} AS SELECT t.*, hash(t)::UBIGINT AS __seq FROM {inner} t"
        )
        return out
    _python_transform(con, view, src, out)
    return out


def _python_transform(
    con: duckdb.DuckDBPyConnection, view: FeatureView, src: str, out: str
) -> None:
    """Run a DataFrame -> DataFrame function over the source in batches into a table."""
    import pyarrow as pa

    assert callable(view.transformation)
    reader = con.sql(f"SELECT * EXCLUDE (__seq) FROM {src}").to_arrow_reader(100_000)
    writer = con.cursor()  # a second connection: writing must not end the pending read
    created = False
    for batch in reader:
        try:
            frame = view.transformation(batch.to_pandas())
            table = pa.Table.from_pandas(frame, preserve_index=False)
        except Exception as exc:
            raise InvalidFeature(
                f"feature view {view.name!r}: its transformation failed or did not return a "
                f"pandas DataFrame: {type(exc).__name__}: {exc}"
            ) from exc
        append_arrow(writer, out + "__raw", table, created)
        created = True
    if not created:
        raise InvalidFeature(f"feature view {view.name!r}: its source has no rows to transform")
    con.execute(
        f"CREATE OR REPLACE VIEW {out} AS SELECT t.*, hash(t)::UBIGINT AS __seq FROM {out}__raw t"
    )


@dataclass
class Pick:
    """One feature column of the result: feature ``value`` (its position among the view's
    features) of view request ``view``, named ``name``."""

    view: int
    value: int
    name: str


@dataclass
class JoinPlan:
    sql: str  # the joined rows with __row, unordered (the DuckDB path)
    output: list[str]  # entity columns, then feature columns, in order
    hidden: dict[str, str] = field(default_factory=dict)  # output name -> feature name
    picks: list[Pick] = field(default_factory=list)  # the feature columns, in order
    entity: EntityInput | None = None
    narrow_sql: str = ""  # __row and the features only (entity columns: from memory)

    @property
    def entities(self) -> pa.Table | None:
        """The entity rows when they are in memory (then ``asof`` joins them)."""
        return self.entity.table if self.entity is not None else None


def point_in_time_sql(
    entity: EntityInput,
    requests: list[ViewRequest],
    relations: list[str],
    full_feature_names: bool,
) -> JoinPlan:
    """The join of the entity rows with each view's prepared rows (``relations``, with the
    columns of ``prepared``): one plain ASOF join per view on (join keys, event time)."""
    selects = ["e.* EXCLUDE (__t)"]
    joins = []
    output = list(entity.columns)
    taken = set(output)
    hidden: dict[str, str] = {}
    picks: list[Pick] = []
    for i, (req, rel) in enumerate(zip(requests, relations, strict=True)):
        on = [f"e.{ident(k)} = v{i}.{key_column(m)}" for m, k in enumerate(req.view.join_keys)]
        on.append(f"e.__t >= v{i}.__ts")
        joins.append(f"ASOF LEFT JOIN {ident(rel)} v{i} ON {' AND '.join(on)}")
        ttl = req.view.ttl
        names = req.view.feature_names
        for j, name in enumerate(req.features + req.hidden):
            value = f"v{i}.{value_column(names.index(name))}"
            if ttl is not None:
                cutoff = f"e.__t - INTERVAL {_micros(req.view)} MICROSECOND"
                value = f"CASE WHEN v{i}.__ts >= {cutoff} THEN {value} END"
            is_hidden = j >= len(req.features)
            out = f"{req.view.name}__{name}" if (full_feature_names or is_hidden) else name
            if is_hidden:
                out = f"__hidden_{out}"
                hidden[out] = name
            elif out in taken:
                raise InvalidFeature(
                    f"column {out!r} would appear twice in the training set (from feature "
                    f"view {req.view.name!r}); pass full_feature_names=True to name "
                    "columns view__feature"
                )
            taken.add(out)
            if not is_hidden:
                output.append(out)
            picks.append(Pick(i, names.index(name), out))
            selects.append(f"{value} AS {ident(out)}")
    ts = ts_column(entity.timestamp)
    entities = f"(SELECT *, {ts} AS __t FROM {ENTITIES}) e"
    tail = f"FROM {entities} {' '.join(joins)}"
    narrow = f"SELECT e.__row, {', '.join(selects[1:])} {tail}"
    return JoinPlan(f"SELECT {', '.join(selects)} {tail}", output, hidden, picks, entity, narrow)


def check_entity_columns(entity: EntityInput, requests: list[ViewRequest]) -> None:
    for req in requests:
        check_entity_keys(req.view, entity.columns)


def _micros(view: FeatureView) -> int:
    assert view.ttl is not None
    return view.ttl // timedelta(microseconds=1)


def _guess_timestamp(columns: dict[str, str]) -> str:
    if "event_timestamp" in columns:
        return "event_timestamp"
    stamps = [c for c, t in columns.items() if t.upper().startswith("TIMESTAMP")]
    if len(stamps) == 1:
        return stamps[0]
    raise InvalidFeature(
        "say which column of the entity dataframe holds the timestamps: "
        f"timestamp_column=... (candidates: {stamps or 'none'})"
    )


def _register_entity_files(con: duckdb.DuckDBPyConnection, path: str) -> None:
    from shipyard.features.sources import FileSource

    source = FileSource(path=path, name="entities")
    files = source.files()
    reader = "read_csv" if source.file_format == "csv" else "read_parquet"
    paths = "[" + ", ".join(literal(f) for f in files) + "]"
    if reader == "read_csv":
        row = "row_number() OVER ()"
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {ENTITIES} AS SELECT *, ({row})::UBIGINT AS __row "
            f"FROM read_csv({paths}, union_by_name = true)"
        )
        return
    row = "file_index::UBIGINT * 4294967296 + file_row_number::UBIGINT"
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {ENTITIES} AS SELECT * EXCLUDE (file_row_number), "
        f"({row}) AS __row FROM read_parquet({paths}, file_row_number = true)"
    )


def _files_fingerprint(path: str) -> str:
    from shipyard.features.sources import FileSource

    return FileSource(path=path, name="entities").fingerprint()
