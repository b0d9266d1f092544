"""Materialization picks each entity's latest row from the view's prepared rows
(``online.write.latest_prepared``): it must give exactly the rows (keys, event times and
payload texts) that the SQL over the source rows gives (``latest_rows_sql``), for ties of
event time broken by created time (null = oldest) and source position, any time range,
one or two join keys, nulls and every payload type; and a materialization after apply
reuses what apply prepared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.features import (
    Bool,
    Bytes,
    DataFrameSource,
    Entity,
    FeatureStore,
    FeatureView,
    Field,
    Float64,
    Int64,
    String,
    Timestamp,
    offline,
    training,
)
from shipyard.features import materialize as materialize_module
from shipyard.features.online.write import latest_prepared, latest_rows_sql, prepared_rows_sql
from shipyard.features.prepared import build
from shipyard.features.sources import SourceContext
from shipyard.tracking import Client

T0 = datetime(2024, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)

row = st.fixed_dictionaries(
    {
        "id": st.integers(0, 3),
        "tag": st.sampled_from(["a", "b", "é"]),
        "hour": st.integers(0, 6),
        "created": st.one_of(st.none(), st.integers(0, 3)),
        "x": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
        "n": st.one_of(st.none(), st.integers(-(2**40), 2**40)),
        "s": st.one_of(st.none(), st.text(max_size=3)),
        "flag": st.one_of(st.none(), st.booleans()),
        "when": st.one_of(st.none(), st.integers(0, 10**6)),
        "raw": st.one_of(st.none(), st.binary(max_size=3)),
    }
)
THING = Entity("thing", join_keys=["id"])
bound = st.one_of(st.none(), st.integers(-1, 8))


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": pd.array([r["id"] for r in rows], dtype="int64"),
            "tag": [r["tag"] for r in rows],
            "event_timestamp": pd.to_datetime([T0 + r["hour"] * HOUR for r in rows], utc=True),
            "created": pd.to_datetime(
                [None if r["created"] is None else T0 + r["created"] * HOUR for r in rows],
                utc=True,
            ),
            "x": pd.array([r["x"] for r in rows], dtype="Float64"),
            "n": pd.array([r["n"] for r in rows], dtype="Int64"),
            "s": pd.array([r["s"] for r in rows], dtype="string"),
            "flag": pd.array([r["flag"] for r in rows], dtype="boolean"),
            "when": pd.to_datetime(
                [None if r["when"] is None else T0 + r["when"] * HOUR / 7 for r in rows], utc=True
            ),
            "raw": pd.Series([r["raw"] for r in rows], dtype=pd.ArrowDtype(pa.binary())),
        }
    )


def view_of(df: pd.DataFrame, two_keys: bool) -> FeatureView:
    entities = [THING]
    if two_keys:
        entities.append(Entity("label", join_keys=["tag"], value_type=String))
    schema = [
        Field("x", Float64),
        Field("n", Int64),
        Field("s", String),
        Field("flag", Bool),
        Field("when", Timestamp),
        Field("raw", Bytes),
    ]
    source = DataFrameSource(name="src", df=df, created_timestamp_column="created")
    return FeatureView("v", source=source, entities=entities, schema=schema)


def both_ways(
    df: pd.DataFrame, two_keys: bool, start: int | None, end: int | None
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    view = view_of(df, two_keys)
    begin = None if start is None else T0 + start * HOUR
    until = None if end is None else T0 + end * HOUR
    sources = SourceContext(pushed_dir="/nonexistent")
    con = offline.connect()
    try:
        relation = offline.source_relation(con, view, 0, sources)
        expected = con.sql(latest_rows_sql(view, relation, begin, until)).fetchall()
        prepared = build(con.cursor(), view, sources)
        con.register("__latest", latest_prepared(prepared, begin, until))
        got = con.sql(prepared_rows_sql(view, "__latest", in_key_order=True)).fetchall()
        unordered = con.sql(prepared_rows_sql(view, "__latest", in_key_order=False)).fetchall()
    finally:
        con.close()
    assert sorted(unordered) == sorted(got)
    return got, expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, min_size=1, max_size=30), st.booleans(), bound, bound)
def test_latest_rows_from_prepared_rows_equal_the_sql_over_the_source(
    rows: list[dict[str, Any]], two_keys: bool, start: int | None, end: int | None
) -> None:
    got, expected = both_ways(frame(rows), two_keys, start, end)
    assert got == expected


def test_ties_and_ranges_by_hand() -> None:
    rows = [
        {"id": 1, "hour": 2, "created": 1, "x": 1.0},
        {"id": 1, "hour": 2, "created": 3, "x": 2.0},  # wins the tie: created later
        {"id": 1, "hour": 2, "created": None, "x": 3.0},  # null created: oldest
        {"id": 1, "hour": 5, "created": 0, "x": 4.0},
        {"id": 2, "hour": 1, "created": None, "x": 5.0},
        {"id": 2, "hour": 1, "created": None, "x": 6.0},  # equal: the later source row
    ]
    full = [
        {"tag": "a", "n": None, "s": None, "flag": None, "when": None, "raw": None, **r}
        for r in rows
    ]
    df = frame(full)
    got, expected = both_ways(df, False, None, None)
    assert got == expected
    assert [(k, p.split(",")[0]) for k, _, p in got] == [("1", '{"x":4.0'), ("2", '{"x":6.0')]
    got, expected = both_ways(df, False, None, 5)  # before hour 5: the tie's winner
    assert got == expected
    assert [p.split(",")[0] for _, _, p in got] == ['{"x":2.0', '{"x":6.0']
    got, expected = both_ways(df, False, 3, None)
    assert got == expected and [k for k, _, _ in got] == ["1"]
    assert both_ways(df, False, 6, 7) == ([], [])


@pytest.fixture
def store(shipyard_client: Client, online_uri: str | None) -> Any:
    fs = FeatureStore("matprep", client=shipyard_client, online_uri=online_uri)
    yield fs
    for name in fs.definitions(refresh=True).views:
        fs.online.drop(name)
    fs.close()


def test_materialize_reuses_what_apply_prepared(
    store: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        {"id": i % 5, "tag": "a", "hour": i % 4, "created": i % 3, "x": float(i)} for i in range(40)
    ]
    full = [{"n": 1, "s": "z", "flag": True, "when": 3, "raw": b"\x00", **r} for r in rows]
    df = frame(full)
    view = view_of(df, two_keys=False)
    store.apply([THING, view])
    calls = 0
    real = training.build

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "build", counting)
    picked: list[int] = []
    real_pick = materialize_module.latest_prepared

    def picking(*args: Any, **kwargs: Any) -> Any:
        table = real_pick(*args, **kwargs)
        picked.append(table.num_rows)
        return table

    monkeypatch.setattr(materialize_module, "latest_prepared", picking)
    store.context.prepared.forget()  # a new process: the rows are on disk
    written = store.materialize(T0 - HOUR, T0 + 10 * HOUR, ["v"])
    assert written == {"v": 5}
    assert calls == 0  # prepared by apply
    assert picked == [5]  # from the prepared rows, not the SQL over the source
    got = store.get_online_features(["v:x"], [{"id": i} for i in range(6)]).to_dict()
    # per id, the latest hour; among equal hours the greatest created, then the later row
    latest = df.sort_values(["event_timestamp", "created"], kind="stable").groupby("id").last()
    assert got["x"] == [float(latest.loc[i, "x"]) for i in range(5)] + [None]


def test_materialize_without_prepared_rows_reads_the_source_and_builds_nothing(
    store: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New data (or apply(prepare=False)): one SQL pass over the source's range, no full
    preparation (which would sort the whole source)."""
    rows = [
        {"id": i % 5, "tag": "a", "hour": i % 4, "created": i % 3, "x": float(i)} for i in range(40)
    ]
    full = [{"n": 1, "s": "z", "flag": True, "when": 3, "raw": b"\x00", **r} for r in rows]
    df = frame(full)
    store.apply([THING, view_of(df, two_keys=False)], prepare=False)
    calls = 0
    real = training.build

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "build", counting)
    monkeypatch.setattr(materialize_module, "latest_prepared", None)  # not called
    assert store.materialize(T0 - HOUR, T0 + 2 * HOUR + HOUR / 2, ["v"]) == {"v": 5}
    assert calls == 0
    got = store.get_online_features(["v:x"], [{"id": i} for i in range(5)]).to_dict()
    inside = df[df["event_timestamp"] <= T0 + 2 * HOUR]
    latest = inside.sort_values(["event_timestamp", "created"], kind="stable").groupby("id").last()
    assert got["x"] == [float(latest.loc[i, "x"]) for i in range(5)]


@pytest.mark.parametrize("in_key_order", [True, False])
def test_latest_rows_sql_in_or_out_of_key_order_has_the_same_rows(in_key_order: bool) -> None:
    rows = [
        {"id": i % 7, "tag": "a", "hour": i % 4, "created": None, "x": float(i)} for i in range(30)
    ]
    full = [{"n": None, "s": None, "flag": None, "when": None, "raw": None, **r} for r in rows]
    view = view_of(frame(full), two_keys=False)
    con = offline.connect()
    try:
        relation = offline.source_relation(con, view, 0, SourceContext(pushed_dir="/x"))
        ordered = con.sql(latest_rows_sql(view, relation, None, None)).fetchall()
        got = con.sql(latest_rows_sql(view, relation, None, None, in_key_order)).fetchall()
    finally:
        con.close()
    assert [k for k, _, _ in ordered] == sorted(k for k, _, _ in ordered)
    assert sorted(got) == ordered
