"""Point-in-time joins checked against a brute-force reference.

The contract (``shipyard.features.offline``): for each entity row (join keys, time T) and
each requested view, take the view's rows with the same keys and event time <= T (and
>= T - ttl when the view has a ttl, both ends inclusive); pick the greatest event time,
ties broken by the greatest created time (null created = oldest), then by the later
position in the source. No qualifying row gives null features. Every entity row comes back
exactly once, in input order, with all its columns; feature values have the declared type.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.features import (
    DataFrameSource,
    Dtype,
    Entity,
    FeatureStore,
    FeatureView,
    Field,
    Float64,
    Int32,
    Int64,
    String,
)
from shipyard.tracking import Client

BASE = datetime(2024, 3, 1, tzinfo=UTC)
STEP = timedelta(seconds=1)  # feature event times sit on a grid of STEP
US = timedelta(microseconds=1)
OLDEST = datetime.min.replace(tzinfo=UTC)

ARROW_TYPES = {
    Dtype.INT32: pa.int32(),
    Dtype.INT64: pa.int64(),
    Dtype.FLOAT64: pa.float64(),
    Dtype.STRING: pa.string(),
}


# -- the reference -------------------------------------------------------------------------


@dataclass
class ViewData:
    """What the reference needs to know about one feature view."""

    name: str
    keys: list[str]
    features: list[str]
    ttl: timedelta | None
    timestamp: str = "event_timestamp"
    created: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)


def reference(
    entity_rows: list[dict[str, Any]], ts_col: str, views: list[ViewData], refs: list[str]
) -> list[dict[str, Any]]:
    """The contract, by loops."""
    by_name = {v.name: v for v in views}
    out = []
    for entity in entity_rows:
        t = entity[ts_col]
        result = dict(entity)
        for ref in refs:
            view_name, feature = ref.split(":")
            view = by_name[view_name]
            best: dict[str, Any] | None = None
            best_rank: tuple[Any, ...] | None = None
            for position, row in enumerate(view.rows):
                if any(row[k] != entity[k] for k in view.keys):
                    continue
                event = row[view.timestamp]
                if event > t:
                    continue
                if view.ttl is not None and event < t - view.ttl:
                    continue
                created = row[view.created] if view.created else None
                rank = (event, created if created is not None else OLDEST, position)
                if best_rank is None or rank > best_rank:
                    best, best_rank = row, rank
            result[feature] = None if best is None else best[feature]
        out.append(result)
    return out


def is_null(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def same(got: Any, expected: Any) -> bool:
    if is_null(got) or is_null(expected):
        return is_null(got) and is_null(expected)
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        return float(got) == float(expected)  # ints come back as floats next to nulls
    if isinstance(expected, datetime):
        return pd.Timestamp(got) == pd.Timestamp(expected)
    return bool(got == expected)


def assert_matches(
    got: pd.DataFrame,
    expected: list[dict[str, Any]],
    entity_columns: list[str],
    features: list[str],
) -> None:
    """Entity columns first, in order; then the features (grouped by view: order not
    part of the contract); values compared row by row."""
    n = len(entity_columns)
    assert list(got.columns)[:n] == entity_columns
    assert sorted(got.columns[n:]) == sorted(features)
    assert len(got.columns) == n + len(features)
    columns = entity_columns + features
    assert len(got) == len(expected)
    for i, want in enumerate(expected):
        have = got.iloc[i].to_dict()
        bad = {c: (have[c], want[c]) for c in columns if not same(have[c], want[c])}
        assert not bad, f"row {i} ({want}): column -> (got, expected): {bad}"


# -- building stores -------------------------------------------------------------------------


def frame(rows: list[dict[str, Any]], dtypes: dict[str, str]) -> pd.DataFrame:
    """A DataFrame with explicit dtypes, so empty and all-null columns keep their type."""
    return pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype=t) for c, t in dtypes.items()})


def new_store(client: Client) -> FeatureStore:
    return FeatureStore(f"pit_{uuid.uuid4().hex[:12]}", client=client)


def training_set(
    fs: FeatureStore, entity_df: Any, refs: list[str], ts_col: str
) -> tuple[pd.DataFrame, pa.Schema]:
    kwargs = {} if ts_col == "event_timestamp" else {"timestamp_column": ts_col}
    table = fs.get_training_set(entity_df, refs, **kwargs).to_arrow()
    return table.to_pandas(), table.schema


CUSTOMER_DTYPES = {
    "customer_id": "int64",
    "event_timestamp": "datetime64[us, UTC]",
    "created": "datetime64[us, UTC]",
    "spend": "float64",
    "orders": "Int64",
    "segment": "string",
}
MERCHANT_DTYPES = {
    "merchant_id": "string",
    "at": "datetime64[us, UTC]",
    "risk": "Int64",  # declared Float64: comes back as float
}
PAIR_DTYPES = {
    "customer_id": "int64",
    "merchant_id": "string",
    "event_timestamp": "datetime64[us, UTC]",
    "created": "datetime64[us, UTC]",
    "n": "Int64",  # declared Int32: comes back as int32
}
DECLARED = {
    "spend": Float64,
    "orders": Int64,
    "segment": String,
    "risk": Float64,
    "n": Int32,
}
ALL_REFS = [
    "customer_stats:spend",
    "customer_stats:orders",
    "customer_stats:segment",
    "merchant_risk:risk",
    "pair_counts:n",
]


def apply_views(fs: FeatureStore, customer: ViewData, merchant: ViewData, pair: ViewData) -> None:
    """customer_stats: Int64 key, created column; merchant_risk: String key, its own
    timestamp name, no created column; pair_counts: both keys, created column."""
    customer_e = Entity("customer", join_keys=["customer_id"], value_type=Int64)
    merchant_e = Entity("merchant", join_keys=["merchant_id"], value_type=String)
    views = [
        FeatureView(
            "customer_stats",
            source=DataFrameSource(
                name="customer_src",
                df=frame(customer.rows, CUSTOMER_DTYPES),
                created_timestamp_column="created",
            ),
            entities=[customer_e],
            schema=[Field("spend", Float64), Field("orders", Int64), Field("segment", String)],
            ttl=customer.ttl,
        ),
        FeatureView(
            "merchant_risk",
            source=DataFrameSource(
                name="merchant_src", df=frame(merchant.rows, MERCHANT_DTYPES), timestamp_field="at"
            ),
            entities=[merchant_e],
            schema=[Field("risk", Float64)],
            ttl=merchant.ttl,
        ),
        FeatureView(
            "pair_counts",
            source=DataFrameSource(
                name="pair_src",
                df=frame(pair.rows, PAIR_DTYPES),
                created_timestamp_column="created",
            ),
            entities=[customer_e, merchant_e],
            schema=[Field("n", Int32)],
            ttl=pair.ttl,
        ),
    ]
    fs.apply([customer_e, merchant_e, *views])


T = BASE + timedelta(days=10)


def one_view_store(
    client: Client,
    rows: list[dict[str, Any]],
    ttl: timedelta | None = None,
    created: bool = True,
) -> FeatureStore:
    """customer_stats over ``rows`` (customer_id, event_timestamp, [created], spend)."""
    fs = new_store(client)
    customer = Entity("customer", join_keys=["customer_id"])
    dtypes = {"customer_id": "int64", "event_timestamp": "datetime64[us, UTC]"}
    if created:
        dtypes["created"] = "datetime64[us, UTC]"
    dtypes["spend"] = "float64"
    view = FeatureView(
        "customer_stats",
        source=DataFrameSource(
            name="src",
            df=frame(rows, dtypes),
            created_timestamp_column="created" if created else None,
        ),
        entities=[customer],
        schema=[Field("spend", Float64)],
        ttl=ttl,
    )
    fs.apply([customer, view])
    return fs


def spend_at(fs: FeatureStore, *times: datetime, customer_id: int = 1) -> list[Any]:
    entity_df = pd.DataFrame(
        {
            "customer_id": [customer_id] * len(times),
            "ts": pd.Series(list(times), dtype="datetime64[us, UTC]"),
        }
    )
    got = fs.get_training_set(entity_df, ["customer_stats:spend"], timestamp_column="ts").to_df()
    return [None if is_null(v) else v for v in got["spend"]]


def row(ts: datetime, spend: float | None, created: datetime | None = None, cid: int = 1) -> dict:
    return {"customer_id": cid, "event_timestamp": ts, "created": created, "spend": spend}


# -- strategies ------------------------------------------------------------------------------

# TTLs whose edges land exactly on the grid, or 1 us off it, for the offsets below;
# 1 s + 1 us is a value that float arithmetic on seconds gets wrong.
TTLS = [None, STEP, 2 * STEP, STEP + US, 2 * STEP + US]
OFFSETS = [-US, timedelta(0), US, 2 * US]  # entity time = grid point + offset
GRID = range(6)

event_times = st.sampled_from(GRID).map(lambda k: BASE + k * STEP)
created_times = st.one_of(st.none(), st.sampled_from(range(3)).map(lambda k: BASE + k * STEP))
customer_ids = st.sampled_from([1, 2, 3])
merchant_ids = st.sampled_from(["a", "b", "c"])


def nullable(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), values)


@st.composite
def customer_rows(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "customer_id": draw(customer_ids),
        "event_timestamp": draw(event_times),
        "created": draw(created_times),
        "spend": draw(nullable(st.sampled_from([0.5, 1.5, 2.5, -3.0]))),
        "orders": draw(nullable(st.integers(0, 9))),
        "segment": draw(nullable(st.sampled_from(["x", "y", ""]))),
    }


@st.composite
def merchant_rows(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "merchant_id": draw(merchant_ids),
        "at": draw(event_times),
        "risk": draw(nullable(st.integers(-5, 5))),
    }


@st.composite
def pair_rows(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "customer_id": draw(customer_ids),
        "merchant_id": draw(merchant_ids),
        "event_timestamp": draw(event_times),
        "created": draw(created_times),
        "n": draw(nullable(st.integers(0, 3))),
    }


@st.composite
def entity_rows(draw: st.DrawFn, ts_col: str) -> dict[str, Any]:
    return {
        "customer_id": draw(st.sampled_from([1, 2, 3, 4])),  # 4: no feature rows
        "note": draw(st.sampled_from(["p", "q"])),
        ts_col: BASE + draw(st.sampled_from(range(8))) * STEP + draw(st.sampled_from(OFFSETS)),
        "merchant_id": draw(st.sampled_from(["a", "b", "c", "zz"])),  # zz: none
        "label": draw(st.integers(0, 2)),
    }


@dataclass
class Case:
    customer: ViewData
    merchant: ViewData
    pair: ViewData
    ts_col: str
    entities: list[dict[str, Any]]
    refs: list[str]

    def entity_df(self) -> pd.DataFrame:
        dtypes = {
            "customer_id": "int64",
            "note": "string",
            self.ts_col: "datetime64[us, UTC]",
            "merchant_id": "string",
            "label": "int64",
        }
        return frame(self.entities, dtypes)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    ts_col = draw(st.sampled_from(["event_timestamp", "ts"]))
    rows = draw(st.lists(entity_rows(ts_col), min_size=1, max_size=8))
    copies = draw(st.lists(st.sampled_from(rows), max_size=3))  # exact duplicate rows
    entities = draw(st.permutations(rows + [dict(r) for r in copies]))
    refs = draw(st.lists(st.sampled_from(ALL_REFS), min_size=1, unique=True))
    return Case(
        customer=ViewData(
            "customer_stats",
            ["customer_id"],
            ["spend", "orders", "segment"],
            draw(st.sampled_from(TTLS)),
            created="created",
            rows=draw(st.lists(customer_rows(), max_size=12)),
        ),
        merchant=ViewData(
            "merchant_risk",
            ["merchant_id"],
            ["risk"],
            draw(st.sampled_from(TTLS)),
            timestamp="at",
            rows=draw(st.lists(merchant_rows(), max_size=8)),
        ),
        pair=ViewData(
            "pair_counts",
            ["customer_id", "merchant_id"],
            ["n"],
            draw(st.sampled_from(TTLS)),
            created="created",
            rows=draw(st.lists(pair_rows(), max_size=8)),
        ),
        ts_col=ts_col,
        entities=entities,
        refs=refs,
    )


PROPERTY_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY_SETTINGS
@given(case=cases())
def test_matches_reference(shipyard_client: Client, case: Case) -> None:
    fs = new_store(shipyard_client)
    apply_views(fs, case.customer, case.merchant, case.pair)
    entity_df = case.entity_df()
    got, schema = training_set(fs, entity_df, case.refs, case.ts_col)
    expected = reference(
        case.entities, case.ts_col, [case.customer, case.merchant, case.pair], case.refs
    )
    features = [r.split(":")[1] for r in case.refs]
    assert_matches(got, expected, list(entity_df.columns), features)
    for name in features:
        assert schema.field(name).type == ARROW_TYPES[DECLARED[name]], name


@st.composite
def tie_cases(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Many rows of one customer at one or two event times: only the tie-breaks decide."""
    rows = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "customer_id": st.just(1),
                    "event_timestamp": st.sampled_from([BASE, BASE + STEP]),
                    "created": st.one_of(
                        st.none(), st.sampled_from([BASE - STEP, BASE, BASE + 5 * STEP])
                    ),
                    "spend": st.floats(0, 100, allow_nan=False),
                    "orders": nullable(st.integers(0, 9)),
                    "segment": nullable(st.text("ab", max_size=2)),
                }
            ),
            min_size=1,
            max_size=10,
        )
    )
    entities = [
        {"customer_id": 1, "event_timestamp": BASE + k * STEP + d}
        for k in (0, 1)
        for d in (-US, timedelta(0), US)
    ]
    return rows, entities


@PROPERTY_SETTINGS
@given(data=tie_cases(), ttl=st.sampled_from([None, STEP, 2 * STEP]))
def test_tie_breaks_match_reference(
    shipyard_client: Client,
    data: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    ttl: timedelta | None,
) -> None:
    rows, entities = data
    fs = new_store(shipyard_client)
    customer = Entity("customer", join_keys=["customer_id"])
    view = FeatureView(
        "customer_stats",
        source=DataFrameSource(
            name="src", df=frame(rows, CUSTOMER_DTYPES), created_timestamp_column="created"
        ),
        entities=[customer],
        schema=[Field("spend", Float64), Field("orders", Int64), Field("segment", String)],
        ttl=ttl,
    )
    fs.apply([customer, view])
    refs = ALL_REFS[:3]
    entity_df = frame(entities, {"customer_id": "int64", "event_timestamp": "datetime64[us, UTC]"})
    got, _ = training_set(fs, entity_df, refs, "event_timestamp")
    spec = ViewData(
        "customer_stats", ["customer_id"], ["spend", "orders", "segment"], ttl, created="created"
    )
    spec.rows = rows
    expected = reference(entities, "event_timestamp", [spec], refs)
    assert_matches(
        got, expected, ["customer_id", "event_timestamp"], ["spend", "orders", "segment"]
    )


ttls = st.one_of(
    st.sampled_from(
        [STEP + US, 2 * STEP + US, timedelta(days=30), timedelta(days=400, microseconds=999_999)]
    ),
    st.integers(1, 10**14).map(lambda n: timedelta(microseconds=n)),
)


@st.composite
def ttl_edge_cases(draw: st.DrawFn) -> tuple[timedelta, list[dict[str, Any]], list[datetime]]:
    """Entity times placed on each row's TTL edge (and 1 us either side) and on the row's
    own time (and 1 us either side)."""
    ttl = draw(ttls)
    times = draw(
        st.lists(st.integers(0, 5 * 10**6).map(lambda n: BASE + n * US), min_size=1, max_size=4)
    )
    rows = [row(t, float(i)) for i, t in enumerate(times)]
    entity_times = [
        t + shift + d for t in times for shift in (timedelta(0), ttl) for d in (-US, 0 * US, US)
    ]
    return ttl, rows, entity_times


@PROPERTY_SETTINGS
@given(data=ttl_edge_cases())
def test_ttl_edges_match_reference(
    shipyard_client: Client, data: tuple[timedelta, list[dict[str, Any]], list[datetime]]
) -> None:
    ttl, rows, entity_times = data
    fs = one_view_store(shipyard_client, rows, ttl=ttl, created=False)
    spec = ViewData("customer_stats", ["customer_id"], ["spend"], ttl, rows=rows)
    entities = [{"customer_id": 1, "ts": t} for t in entity_times]
    expected = [r["spend"] for r in reference(entities, "ts", [spec], ["customer_stats:spend"])]
    assert spend_at(fs, *entity_times) == expected


# -- named examples ----------------------------------------------------------------------------


def test_future_row_never_leaks(shipyard_client: Client) -> None:
    fs = one_view_store(shipyard_client, [row(T + US, 1.0)])
    assert spend_at(fs, T, T - timedelta(days=1)) == [None, None]
    assert spend_at(fs, T + US) == [1.0]
    # An older row is used rather than the one just after T, whatever their order.
    fs = one_view_store(shipyard_client, [row(T + US, 1.0), row(T - STEP, 2.0)])
    assert spend_at(fs, T, T + US, T + 2 * US) == [2.0, 1.0, 1.0]


def test_future_row_never_leaks_even_if_created_earlier(shipyard_client: Client) -> None:
    rows = [row(T + US, 1.0, created=BASE), row(T, 2.0, created=T + timedelta(days=5))]
    fs = one_view_store(shipyard_client, rows)
    assert spend_at(fs, T) == [2.0]


def test_ttl_boundary_is_inclusive(shipyard_client: Client) -> None:
    ttl = timedelta(days=1)
    fs = one_view_store(shipyard_client, [row(T - ttl, 1.0)], ttl=ttl)
    assert spend_at(fs, T, T + US, T - US) == [1.0, None, 1.0]
    assert spend_at(fs, T - ttl - US) == [None]  # before the row: nothing yet


@pytest.mark.parametrize(
    "ttl",
    [timedelta(seconds=1, microseconds=1), timedelta(hours=1, microseconds=7), timedelta(days=1)],
    ids=str,
)
def test_ttl_boundary_is_exact_to_the_microsecond(shipyard_client: Client, ttl: timedelta) -> None:
    fs = one_view_store(shipyard_client, [row(T - ttl, 1.0)], ttl=ttl)
    assert spend_at(fs, T, T + US) == [1.0, None]


def test_newer_row_outside_ttl_does_not_fall_back_to_older(shipyard_client: Client) -> None:
    # The latest row before T is the candidate; older rows are older still.
    ttl = timedelta(hours=1)
    rows = [row(T - 3 * ttl, 1.0), row(T - 2 * ttl, 2.0)]
    fs = one_view_store(shipyard_client, rows, ttl=ttl)
    assert spend_at(fs, T, T - ttl - US, T - ttl) == [None, 2.0, 2.0]


def test_created_timestamp_breaks_event_time_ties(shipyard_client: Client) -> None:
    rows = [
        row(T, 1.0, created=T + timedelta(hours=2)),  # greatest created wins ...
        row(T, 2.0, created=T + timedelta(hours=1)),  # ... though an earlier row
        row(T, 3.0, created=None),  # null created: oldest
        row(T - STEP, 4.0, created=T + timedelta(days=9)),  # older event: loses
    ]
    fs = one_view_store(shipyard_client, rows)
    assert spend_at(fs, T) == [1.0]


def test_null_created_counts_as_oldest(shipyard_client: Client) -> None:
    rows = [row(T, 1.0, created=BASE - timedelta(days=365)), row(T, 2.0, created=None)]
    fs = one_view_store(shipyard_client, rows)
    assert spend_at(fs, T) == [1.0]


def test_equal_created_later_source_row_wins(shipyard_client: Client) -> None:
    rows = [row(T, 1.0, created=BASE), row(T, 2.0, created=BASE), row(T, 3.0, created=BASE)]
    fs = one_view_store(shipyard_client, rows)
    assert spend_at(fs, T) == [3.0]
    both_null = [row(T, 1.0), row(T, 2.0)]
    assert spend_at(one_view_store(shipyard_client, both_null), T) == [2.0]
    no_created = [row(T, 5.0), row(T, 6.0), row(T - STEP, 7.0)]
    assert spend_at(one_view_store(shipyard_client, no_created, created=False), T) == [6.0]


def test_chosen_row_with_null_value_gives_null(shipyard_client: Client) -> None:
    # The latest row has a null feature: null, not the older non-null value.
    rows = [row(T - STEP, 1.0), row(T, None)]
    fs = one_view_store(shipyard_client, rows)
    assert spend_at(fs, T, T - US) == [None, 1.0]


def test_missing_entity_gives_nulls(shipyard_client: Client) -> None:
    fs = one_view_store(shipyard_client, [row(T, 1.0, cid=1)])
    assert spend_at(fs, T + STEP, customer_id=2) == [None]
    assert spend_at(fs, T + STEP, customer_id=1) == [1.0]


def _two_view_store(client: Client) -> FeatureStore:
    fs = new_store(client)
    customer = Entity("customer", join_keys=["customer_id"])
    merchant = Entity("merchant", join_keys=["merchant_id"], value_type=String)
    spend = pd.DataFrame(
        {
            "customer_id": [1, 2, 1],
            "event_timestamp": pd.Series([T - STEP, T, T + STEP], dtype="datetime64[us, UTC]"),
            "spend": [10.0, 20.0, 11.0],
        }
    )
    risk = pd.DataFrame(
        {
            "merchant_id": ["m1", "m2"],
            "event_timestamp": pd.Series([T - STEP, T - STEP], dtype="datetime64[us, UTC]"),
            "risk": pd.array([3, 4], dtype="int32"),
        }
    )
    fs.apply(
        [
            customer,
            merchant,
            FeatureView(
                "customer_stats",
                source=DataFrameSource(name="spend_src", df=spend),
                entities=[customer],
                schema=[Field("spend", Float64)],
            ),
            FeatureView(
                "merchant_risk",
                source=DataFrameSource(name="risk_src", df=risk),
                entities=[merchant],
                schema=[Field("risk", Int64)],
                ttl=timedelta(days=1),
            ),
        ]
    )
    return fs


def _entities() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "label": [True, False, True, False, True],
            "merchant_id": ["m2", "m1", "m9", "m1", "m2"],
            "ts": pd.Series(
                [T + STEP, T, T - timedelta(days=3), T, T + timedelta(days=2)],
                dtype="datetime64[us, UTC]",
            ),
            "customer_id": [1, 2, 1, 2, 3],
            "weight": [0.5, 1.5, 2.5, 1.5, 3.5],
        }
    )


EXPECTED_SPEND = [11.0, 20.0, None, 20.0, None]
EXPECTED_RISK = [4, 3, None, 3, None]  # m9 unknown; T + 2 days: past the ttl


def test_input_order_and_extra_columns_preserved(shipyard_client: Client) -> None:
    fs = _two_view_store(shipyard_client)
    entity_df = _entities()
    table = fs.get_training_set(
        entity_df, ["merchant_risk:risk", "customer_stats:spend"], timestamp_column="ts"
    ).to_arrow()
    got = table.to_pandas()
    assert list(got.columns) == [*entity_df.columns, "risk", "spend"]
    pd.testing.assert_frame_equal(got[list(entity_df.columns)], entity_df, check_dtype=False)
    assert got["ts"].tolist() == entity_df["ts"].tolist()
    assert [None if is_null(v) else v for v in got["risk"]] == EXPECTED_RISK
    assert [None if is_null(v) else v for v in got["spend"]] == EXPECTED_SPEND
    assert table.schema.field("risk").type == pa.int64()  # int32 data, declared Int64


def test_duplicate_entity_rows_both_returned(shipyard_client: Client) -> None:
    fs = _two_view_store(shipyard_client)
    entity_df = _entities()
    entity_df = pd.concat([entity_df, entity_df.iloc[[1, 1, 0]]], ignore_index=True)
    got = fs.get_training_set(
        entity_df, ["customer_stats:spend", "merchant_risk:risk"], timestamp_column="ts"
    ).to_df()
    assert len(got) == 8
    pd.testing.assert_frame_equal(got[list(entity_df.columns)], entity_df, check_dtype=False)
    spend = [None if is_null(v) else v for v in got["spend"]]
    assert spend == [*EXPECTED_SPEND, 20.0, 20.0, 11.0]


def test_entity_parquet_path_gives_same_result(shipyard_client: Client, tmp_path: Path) -> None:
    fs = _two_view_store(shipyard_client)
    entity_df = _entities()
    entity_df = pd.concat([entity_df, entity_df.iloc[[3, 0]]], ignore_index=True)
    path = tmp_path / "entities.parquet"
    entity_df.to_parquet(path, index=False)
    refs = ["customer_stats:spend", "merchant_risk:risk"]
    from_frame = fs.get_training_set(entity_df, refs, timestamp_column="ts").to_df()
    for entity_input in (path, str(path)):
        from_file = fs.get_training_set(entity_input, refs, timestamp_column="ts").to_df()
        pd.testing.assert_frame_equal(from_file, from_frame)
    assert [None if is_null(v) else v for v in from_frame["spend"]] == [
        *EXPECTED_SPEND,
        20.0,
        11.0,
    ]


def test_nanosecond_utc_timestamps_work_like_microsecond_ones(shipyard_client: Client) -> None:
    # pandas and Parquet files written by other tools often hold datetime64[ns, UTC].
    ns = "datetime64[ns, UTC]"
    rows = [row(T - STEP, 1.0, created=T), row(T, 2.0), row(T + US, 3.0)]
    dtypes = {"customer_id": "int64", "event_timestamp": ns, "created": ns, "spend": "float64"}
    fs = new_store(shipyard_client)
    customer = Entity("customer", join_keys=["customer_id"])
    view = FeatureView(
        "customer_stats",
        source=DataFrameSource(
            name="src",
            df=frame(rows, dtypes),
            created_timestamp_column="created",
        ),
        entities=[customer],
        schema=[Field("spend", Float64)],
        ttl=STEP,
    )
    fs.apply([customer, view])
    times = [T - STEP - US, T - US, T, T + US, T + 2 * STEP]
    entity_df = pd.DataFrame({"customer_id": [1] * 5, "ts": pd.Series(times, dtype=ns)})
    got = fs.get_training_set(entity_df, ["customer_stats:spend"], timestamp_column="ts").to_df()
    assert [None if is_null(v) else v for v in got["spend"]] == [None, 1.0, 2.0, 3.0, None]
    assert got["ts"].tolist() == times
