"""On-demand views in their three modes (Feast's names): a pandas function, a row function
(mode="python", singleton=True) and a columnar one (mode="python"). The same logic written
in each mode gives equal values in a training set and online; the python modes run online
without pandas; lookups read every view in one round trip and plan once."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard._clock import FakeClock
from shipyard.errors import InvalidFeature
from shipyard.features import (
    Bool,
    DataFrameSource,
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    Field,
    FileSource,
    Float64,
    Int64,
    OnDemandFeatureView,
    RequestSource,
    String,
    on_demand_feature_view,
)
from shipyard.features.online import read as online_read
from shipyard.tracking import Client

NOW = pd.Timestamp("2024-03-01", tz="UTC")
MODES = ("pandas", "row", "columns")
OUTPUTS = ["per_order", "big", "label", "orders_plus", "log_spend"]
customer = Entity("customer", join_keys=["customer_id"])
request = RequestSource("request", schema=[Field("amount", Float64)])
SCHEMA = [
    Field("per_order", Float64),
    Field("big", Bool),
    Field("label", String),
    Field("orders_plus", Int64),
    Field("log_spend", Float64),
]


def _stats() -> pd.DataFrame:
    """Customers 0..39; every fifth has a null spend, every seventh null orders, some
    zero orders (a division by zero in the view), every third a null segment."""
    rng = np.random.default_rng(5)
    n = 40
    spend = (rng.random(n) * 100).round(2).astype(object)
    spend[::5] = None
    orders = pd.array(rng.integers(0, 4, n), dtype="Int64")
    orders[::7] = pd.NA
    segment = rng.choice(["a", "b"], n).astype(object)
    segment[::3] = None
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "event_timestamp": NOW - pd.to_timedelta(rng.integers(60, 86_400, n), unit="s"),
            "spend": pd.array(spend, dtype="Float64"),
            "orders": orders,
            "segment": segment,
        }
    )


def _stats_view() -> FeatureView:
    return FeatureView(
        "stats",
        source=DataFrameSource(name="stats_source", df=_stats()),
        entities=[customer],
        schema=[Field("spend", Float64), Field("orders", Int64), Field("segment", String)],
        ttl=timedelta(days=5),
    )


def _views(stats: FeatureView) -> list[OnDemandFeatureView]:
    """The same features written in each mode."""

    @on_demand_feature_view(sources=[stats, request], schema=SCHEMA, mode="pandas")
    def by_pandas(df: pd.DataFrame) -> pd.DataFrame:
        orders = df["orders"].fillna(0)
        spend = df["spend"].astype("float64").fillna(0.0)
        return pd.DataFrame(
            {
                "per_order": (spend + df["amount"]) / orders.where(orders > 0),
                "big": spend > 50,
                "label": df["segment"].fillna("none") + "!",
                "orders_plus": orders.astype("int64") + 1,
                "log_spend": np.log1p(spend),
            }
        )

    @on_demand_feature_view(sources=[stats, request], schema=SCHEMA, mode="python", singleton=True)
    def by_row(row: dict[str, Any]) -> dict[str, Any]:
        assert type(row) is dict and not any(isinstance(v, list) for v in row.values()), row
        assert set(row) == {"spend", "orders", "segment", "amount"}, row
        orders = row["orders"] or 0
        spend = row["spend"] or 0.0
        return {
            "per_order": (spend + row["amount"]) / orders if orders > 0 else None,
            "big": spend > 50,
            "label": (row["segment"] or "none") + "!",
            "orders_plus": np.int64(orders + 1),  # numpy scalars are fine
            "log_spend": np.log1p(spend),
        }

    @on_demand_feature_view(sources=[stats, request], schema=SCHEMA, mode="python")
    def by_columns(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
        # Feast's python mode: a dict of lists in, a dict of lists out
        assert all(type(v) is list for v in inputs.values()), inputs
        rows = [
            (s or 0.0, o or 0, g, a)
            for s, o, g, a in zip(
                inputs["spend"], inputs["orders"], inputs["segment"], inputs["amount"], strict=True
            )
        ]
        return {
            "per_order": [(s + a) / o if o > 0 else float("nan") for s, o, _, a in rows],
            "big": [s > 50 for s, _, _, _ in rows],
            "label": [(g or "none") + "!" for _, _, g, _ in rows],
            "orders_plus": [o + 1 for _, o, _, _ in rows],
            "log_spend": [float(np.log1p(s)) for s, _, _, _ in rows],
        }

    return [by_pandas, by_row, by_columns]


def _refs(view: str) -> list[str]:
    return [f"{view}:{f}" for f in OUTPUTS]


VIEW_OF = {"pandas": "by_pandas", "row": "by_row", "columns": "by_columns"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW.to_pydatetime())


@pytest.fixture
def store(
    shipyard_home: object, clock: FakeClock, online_uri: str | None
) -> Iterator[FeatureStore]:
    client = Client(clock=clock)
    fs = FeatureStore(f"p{uuid.uuid4().hex[:8]}", client=client, online_uri=online_uri)
    stats = _stats_view()
    fs.apply([stats, *_views(stats), FeatureService("svc", features=_views(stats))])
    fs.materialize(None, NOW.to_pydatetime())
    yield fs
    fs.online.drop("stats")
    fs.close()
    client.close()


def _entity_df() -> pd.DataFrame:
    ids = list(range(42))  # 40 and 41 have no rows
    return pd.DataFrame(
        {"customer_id": ids, "event_timestamp": [NOW] * len(ids), "amount": [1.5] * len(ids)}
    )


def test_every_mode_gives_the_same_training_set(store: FeatureStore) -> None:
    refs = [r for m in MODES for r in _refs(VIEW_OF[m])]
    df = store.get_training_set(_entity_df(), refs, full_feature_names=True).to_df()
    for mode in ("row", "columns"):
        for f in OUTPUTS:
            pd.testing.assert_series_equal(
                df[f"{VIEW_OF[mode]}__{f}"], df[f"by_pandas__{f}"], check_names=False
            )
    # the data reaches every branch: nulls, division by zero, unknown customers
    assert df["by_pandas__per_order"].isna().sum() >= 5
    assert df["by_pandas__per_order"].notna().sum() >= 20
    assert set(df["by_row__label"]) == {"a!", "b!", "none!"}


def test_online_values_equal_the_training_set_in_every_mode(store: FeatureStore) -> None:
    entity_df = _entity_df()
    rows = entity_df[["customer_id", "amount"]].to_dict("records")
    for mode in MODES:
        refs = _refs(VIEW_OF[mode])
        offline = store.get_training_set(entity_df, refs).to_df()
        online = store.get_online_features(refs, rows)
        for f in OUTPUTS:
            expected = [None if pd.isna(v) else v for v in offline[f].tolist()]
            assert online.values[f] == expected, (mode, f)
            assert [type(v) for v in online.values[f]] == [type(v) for v in expected], (mode, f)
            assert online.statuses[f] == [
                "missing" if v is None else "present" for v in expected
            ], (mode, f)


def test_the_row_function_runs_once_per_entity_row(store: FeatureStore) -> None:
    """Three rows, one of them an unknown customer: three calls, each with one row."""
    r = store.get_online_features(
        _refs("by_row"), {"customer_id": [1, 2, 999], "amount": [1.0, 2.0, 3.0]}
    )
    assert r.values["label"][2] == "none!" and r.values["orders_plus"][2] == 1
    assert r.values["per_order"][2] is None


def test_a_service_lookup_reads_every_view_in_one_round_trip(
    store: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    online = store.online
    calls: list[list[str]] = []
    read_many = online.read_many  # type: ignore[attr-defined]

    def counted(requests: list[tuple[str, list[str]]]) -> Any:
        calls.append([table for table, _ in requests])
        return read_many(requests)

    def refused(*args: object) -> None:
        raise AssertionError("a lookup read one table alone")

    monkeypatch.setattr(online, "read_many", counted)
    monkeypatch.setattr(online, "read", refused)
    lookup = store.online_lookup("svc", full_feature_names=True)
    answer = lookup({"customer_id": [3, 4], "amount": [1.0, 1.0]})
    assert calls == [["stats"]]  # the three views share one source view: read once
    assert answer.values["by_row__label"] == answer.values["by_pandas__label"]


def test_a_planned_lookup_never_plans_on_a_request(
    store: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookup = store.online_lookup(_refs("by_row"))

    def no_planning(*args: object) -> None:
        raise AssertionError("planned on a request")

    monkeypatch.setattr(online_read, "plan_online", no_planning)
    for _ in range(3):
        assert lookup([{"customer_id": 1, "amount": 1.0}]).values["label"] in (["a!"], ["b!"])


def test_a_planned_lookup_follows_changed_definitions(store: FeatureStore) -> None:
    lookup = store.online_lookup("svc", full_feature_names=True)
    row = [{"customer_id": 1, "amount": 1.0}]
    stats = _stats_view()
    views = _views(stats)
    store.apply([stats, *views, FeatureService("svc", features=[views[1][["label"]]])])
    assert "by_pandas__label" in lookup(row).values  # the plan it holds
    lookup._replan()  # what the background thread does every REPLAN_SECONDS
    assert list(lookup(row).values) == ["by_row__label"]


def test_modes_are_kept_by_the_registry(store: FeatureStore) -> None:
    applied = store.definitions(refresh=True).on_demand
    assert (applied["by_row"].mode, applied["by_row"].singleton) == ("python", True)
    assert (applied["by_columns"].mode, applied["by_columns"].singleton) == ("python", False)
    assert (applied["by_pandas"].mode, applied["by_pandas"].singleton) == ("pandas", False)
    # a pandas view's spec is what it was before modes existed: no spurious plan changes
    assert "mode" not in applied["by_pandas"].to_spec()
    assert applied["by_row"].to_spec()["mode"] == "python"


@pytest.mark.parametrize(
    ("mode", "singleton", "message"),
    [
        ("substrait", False, "mode 'substrait' is not supported"),
        ("pandas", True, 'singleton=True needs mode="python"'),
    ],
)
def test_bad_modes_are_refused(mode: str, singleton: bool, message: str) -> None:
    with pytest.raises(InvalidFeature, match=message):
        OnDemandFeatureView(
            "v", sources=[request], schema=SCHEMA, udf=lambda x: x, mode=mode, singleton=singleton
        )


def _single(stats: FeatureView, fn: Any, dtype: Any = Float64) -> OnDemandFeatureView:
    return OnDemandFeatureView(
        "bad", sources=[stats], schema=[Field("out", dtype)], udf=fn, mode="python", singleton=True
    )


@pytest.mark.parametrize(
    ("fn", "dtype", "message"),
    [
        (lambda row: [1.0], Float64, "must return a dict with the keys \\['out'\\]"),
        (lambda row: {"other": 1.0}, Float64, "must return a dict with the keys"),
        (lambda row: {"out": 1.5}, Int64, "feature 'out' is int64"),
        (lambda row: {"out": "x"}, Float64, "feature 'out' is float64"),
        (lambda row: 1 / 0, Float64, "raised ZeroDivisionError"),
    ],
)
def test_a_bad_row_function_is_a_clear_error_in_both_paths(
    store: FeatureStore, fn: Any, dtype: Any, message: str
) -> None:
    stats = _stats_view()
    store.apply([stats, _single(stats, fn, dtype)])
    with pytest.raises(InvalidFeature, match=message):
        store.get_online_features(["bad:out"], [{"customer_id": 1}])
    with pytest.raises(InvalidFeature, match=message):
        store.get_training_set(_entity_df(), ["bad:out"]).to_df()


def test_request_values_are_needed_online(store: FeatureStore) -> None:
    with pytest.raises(InvalidFeature, match=r"needs request values \['amount'\]"):
        store.get_online_features(_refs("by_row"), [{"customer_id": 1}])


def test_a_row_mode_lookup_loads_no_pandas(shipyard_home: Path, tmp_path: Path) -> None:
    """A fresh process (a prediction server) that loads the definitions and looks up a
    service with a row-mode view imports neither pandas nor DuckDB nor Arrow."""
    path = tmp_path / "stats.parquet"
    pd.DataFrame(
        {
            "customer_id": [1, 2],
            "event_timestamp": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True),
            "spend": [10.0, 20.0],
        }
    ).to_parquet(path)
    stats = FeatureView(
        "stats",
        source=FileSource(name="stats_source", path=str(path)),
        entities=[customer],
        schema=[Field("spend", Float64)],
    )

    @on_demand_feature_view(
        sources=[stats], schema=[Field("double", Float64)], mode="python", singleton=True
    )
    def doubled(row: dict[str, Any]) -> dict[str, Any]:
        return {"double": row["spend"] * 2}

    fs = FeatureStore("lean")
    fs.apply([stats, doubled, FeatureService("svc", features=[stats, doubled])])
    fs.materialize(None, NOW.to_pydatetime())
    fs.close()
    code = (
        "import sys, json\n"
        "from shipyard.features import FeatureStore\n"
        "lookup = FeatureStore('lean').online_lookup('svc')\n"
        "answer = lookup([{'customer_id': 2}]).values\n"
        "heavy = [m for m in ('pandas', 'duckdb', 'pyarrow', 'numpy') if m in sys.modules]\n"
        "print(json.dumps([answer, heavy]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    answer, heavy = json.loads(done.stdout)
    assert answer == {"spend": [20.0], "double": [40.0]}
    assert heavy == []
