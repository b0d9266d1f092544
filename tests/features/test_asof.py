"""The in-memory join (``asof``: binary search in prepared rows) gives exactly what the
DuckDB ASOF join gives (the path entity files take), whatever the entity columns' types:
integer keys of every width (uint64 beyond int64 included), string flavours, timestamps in
s/ms/µs/ns (ns rounded as DuckDB rounds them), nulls anywhere, one or two join keys, TTLs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.features import (
    DataFrameSource,
    Entity,
    FeatureStore,
    FeatureView,
    Field,
    Float64,
    Int32,
    Int64,
    String,
    asof,
)
from shipyard.tracking import Client

BASE_US = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp() * 1_000_000)
INT_TYPES = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint32(), pa.uint64()]
STRING_TYPES = [pa.string(), pa.large_string(), pa.dictionary(pa.int32(), pa.string())]
UNITS = ["s", "ms", "us", "ns"]
PER_UNIT = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0}


@st.composite
def entity_times(draw: st.DrawFn, unit: str, n: int) -> pa.Array:
    """Times near the feature rows' (µs grid of 0..9 s), in ``unit``; ns values land on,
    near and exactly halfway between microseconds, before 1970 too."""
    values: list[int | None] = []
    for _ in range(n):
        if draw(st.integers(0, 9)) == 0:
            values.append(None)
            continue
        second = draw(st.integers(-1, 10))
        if unit == "ns":
            base = BASE_US * 1000 if draw(st.booleans()) else -5_000_000_000
            extra = draw(st.sampled_from([0, 1, 499, 500, 501, 999, -500, -501]))
            values.append(base + second * 1_000_000_000 + draw(st.integers(0, 3)) * 1000 + extra)
        else:
            values.append((BASE_US + second * 1_000_000) // PER_UNIT[unit])
    return pa.array(values, type=pa.int64()).cast(pa.timestamp(unit, tz="UTC"))


def int_keys(draw: st.DrawFn, kind: pa.DataType, n: int) -> pa.Array:
    pool = [0, 1, 2, 3, 7]
    if pa.types.is_signed_integer(kind):
        pool.append(-1)
    if kind == pa.uint64():
        pool.append(2**63 + 1)  # no int64 equals it
    if kind == pa.int64():
        pool.append(2**40)  # outside a declared Int32 key's range
    values = [draw(st.one_of(st.none(), st.sampled_from(pool))) for _ in range(n)]
    return pa.array(values, type=kind)


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    two_keys = draw(st.booleans())
    declared = draw(st.sampled_from([Int64, Int32, String]))
    unit = draw(st.sampled_from(UNITS))
    n = draw(st.integers(1, 25))
    columns: dict[str, pa.Array] = {}
    if declared == String:
        kind = draw(st.sampled_from(STRING_TYPES))
        pool = ["a", "b", "", "zz"]
        keys = [draw(st.one_of(st.none(), st.sampled_from(pool))) for _ in range(n)]
        columns["k"] = pa.array(keys, type=kind)
    else:
        columns["k"] = int_keys(draw, draw(st.sampled_from(INT_TYPES)), n)
    if two_keys:
        columns["m"] = pa.array(
            [draw(st.one_of(st.none(), st.sampled_from(["x", "y"]))) for _ in range(n)],
            type=draw(st.sampled_from(STRING_TYPES)),
        )
    columns["ts"] = draw(entity_times(unit, n))
    rows = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "k": st.sampled_from(["a", "b", ""] if declared == String else [0, 1, 2, -1]),
                    "m": st.sampled_from(["x", "y"]),
                    "second": st.integers(0, 9),
                    "micro": st.sampled_from([0, 1, 2]),
                    "created": st.one_of(st.none(), st.integers(0, 3)),
                    "v": st.one_of(st.none(), st.floats(-5, 5, allow_nan=False)),
                }
            ),
            max_size=30,
        )
    )
    ttl = draw(st.sampled_from([None, timedelta(seconds=2), timedelta(microseconds=1_000_001)]))
    return {
        "declared": declared,
        "two_keys": two_keys,
        "entities": pa.table(columns),
        "rows": rows,
        "ttl": ttl,
    }


def feature_frame(case: dict[str, Any]) -> Any:
    import pandas as pd

    rows = case["rows"]
    stamp = "datetime64[us, UTC]"

    def times(values: list[int | None]) -> pd.Series:
        return pd.Series(
            [None if v is None else pd.Timestamp(v, unit="us", tz="UTC") for v in values],
            dtype=stamp,
        )

    key_dtype = "string" if case["declared"] == String else "int64"
    return pd.DataFrame(
        {
            "k": pd.Series([r["k"] for r in rows], dtype=key_dtype),
            "m": pd.Series([r["m"] for r in rows], dtype="string"),
            "event_timestamp": times(
                [BASE_US + r["second"] * 1_000_000 + r["micro"] for r in rows]
            ),
            "created": times(
                [None if r["created"] is None else BASE_US + r["created"] for r in rows]
            ),
            "v": pd.Series([r["v"] for r in rows], dtype="float64"),
        }
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
def test_in_memory_join_equals_the_duckdb_join(
    shipyard_client: Client, case: dict[str, Any]
) -> None:
    fs = FeatureStore(f"asof_{uuid.uuid4().hex[:10]}", client=shipyard_client)
    k = Entity("k_entity", join_keys=["k"], value_type=case["declared"])
    entities = [k]
    if case["two_keys"]:
        entities.append(Entity("m_entity", join_keys=["m"], value_type=String))
    view = FeatureView(
        "stats",
        source=DataFrameSource(
            name="src", df=feature_frame(case), created_timestamp_column="created"
        ),
        entities=entities,
        schema=[Field("v", Float64)],
        ttl=case["ttl"],
    )
    fs.apply([*entities, view])
    job = fs.get_training_set(case["entities"], ["stats:v"], timestamp_column="ts")
    in_memory = asof.join(job._plan, job._views, job._prepare())
    assert in_memory is not None  # these types are all asof's
    by_duckdb = job._sql_joined().drop_columns(["__row"])
    assert in_memory.column_names == by_duckdb.column_names
    for name in in_memory.column_names:
        got, want = in_memory.column(name), by_duckdb.column(name)
        assert got.type == want.type, name
        assert got.to_pylist() == want.to_pylist(), name
    result = job.to_arrow()
    assert result.equals(job._finish(by_duckdb))  # the public path is asof's
    fs.context.prepared.flush()  # and the same rows from the entry on disk (deduplicated)
    again = FeatureStore(fs.project, client=shipyard_client)
    got = again.get_training_set(case["entities"], ["stats:v"], timestamp_column="ts")
    assert got.to_arrow().equals(result)


@pytest.mark.parametrize("sign", [1, -1])
def test_nanoseconds_round_as_duckdb_rounds_them(sign: int) -> None:
    import duckdb

    rest = np.array([0, 1, 499, 500, 501, 999, 1000, 1499, 1500, 1501], dtype=np.int64)
    ns = sign * (1_700_000_000_000_000_000 + rest)
    column = pa.chunked_array([pa.array(ns).cast(pa.timestamp("ns", tz="UTC"))])
    got, valid = asof.entity_times(column)
    con = duckdb.connect()
    con.register("t", pa.table({"t": column}))
    rows = con.execute("SELECT epoch_us(CAST(t AS TIMESTAMPTZ)) FROM t").fetchall()
    assert got.tolist() == [r[0] for r in rows]
    assert valid.all()


ARROW_TYPES = [
    *INT_TYPES,
    pa.uint16(),
    pa.float32(),
    pa.float64(),
    pa.bool_(),
    pa.string(),
    pa.large_string(),
    pa.string_view(),
    pa.binary(),
    pa.large_binary(),
    pa.date32(),
    pa.dictionary(pa.int32(), pa.string()),
    *(pa.timestamp(unit) for unit in UNITS),
    *(pa.timestamp(unit, tz="UTC") for unit in UNITS),
    pa.timestamp("us", tz="Europe/Paris"),
]


def test_entity_types_are_named_as_duckdb_names_them() -> None:
    """In-memory entity rows are checked without DuckDB, by the names it would show."""
    import duckdb

    from shipyard.features.offline import duckdb_types

    table = pa.table({f"c{i}": pa.array([None], type=t) for i, t in enumerate(ARROW_TYPES)})
    con = duckdb.connect()
    con.register("t", table)
    described = {str(r[0]): str(r[1]) for r in con.execute("DESCRIBE t").fetchall()}
    assert duckdb_types(table.schema) == described
    assert duckdb_types(pa.schema([("d", pa.decimal128(10, 2))])) is None  # DuckDB decides
