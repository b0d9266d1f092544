"""profile(frame): checked against numpy/pandas computed here, and its JSON round-trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.errors import InvalidArgument
from shipyard.monitoring import Profile, profile

Q = np.linspace(0.0, 1.0, 11)


def oracle_bins(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin k = number of inner edges <= value (first and last bins open-ended)."""
    return np.bincount(np.searchsorted(edges[1:-1], values, side="right"), minlength=10)


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    x = rng.normal(10, 3, 5_000)
    x[rng.random(5_000) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "x": x,
            "n": rng.integers(0, 50, 5_000),
            "color": pd.Series(rng.choice(["red", "green", "blue", None], 5_000), dtype=object),
            "flag": rng.random(5_000) < 0.3,
            "ts": pd.date_range("2026-01-01", periods=5_000, freq="min", tz="UTC"),
        }
    )


def test_numeric_column_matches_numpy(frame: pd.DataFrame) -> None:
    p = profile(frame)
    x = frame["x"].to_numpy()
    finite = x[~np.isnan(x)]
    col = p.columns["x"]
    assert col.kind == "numeric"
    assert (col.rows, col.nulls) == (5_000, int(np.isnan(x).sum()))
    assert col.null_rate == pytest.approx(np.isnan(x).mean())
    assert col.min == finite.min() and col.max == finite.max()
    assert col.mean == pytest.approx(finite.mean()) and col.std == pytest.approx(finite.std())
    edges = np.quantile(finite, Q)
    np.testing.assert_array_equal(col.bin_edges, edges)
    np.testing.assert_array_equal(col.bin_counts, oracle_bins(finite, edges))
    assert sum(col.bin_counts) == finite.size


def test_integer_column_with_repeated_edges(frame: pd.DataFrame) -> None:
    col = profile(frame, columns=["n"]).columns["n"]
    n = frame["n"].to_numpy().astype(float)
    edges = np.quantile(n, Q)
    np.testing.assert_array_equal(col.bin_edges, edges)
    np.testing.assert_array_equal(col.bin_counts, oracle_bins(n, edges))


def test_categorical_columns_match_value_counts(frame: pd.DataFrame) -> None:
    p = profile(frame)
    color = p.columns["color"]
    assert color.kind == "categorical"
    assert color.categories == frame["color"].value_counts().to_dict()
    assert list(color.categories.values()) == sorted(color.categories.values(), reverse=True)
    assert color.nulls == int(frame["color"].isna().sum())
    assert (color.other_count, color.distinct, color.capped) == (0, 3, False)
    flag = p.columns["flag"]
    assert flag.kind == "categorical"
    assert flag.categories == {str(k): v for k, v in frame["flag"].value_counts().items()}


def test_category_cap_keeps_the_most_frequent_and_counts_the_rest() -> None:
    values = [f"v{i}" for i in range(30) for _ in range(i + 1)]  # v29 most frequent
    col = profile(pd.DataFrame({"c": values}), category_cap=10).columns["c"]
    assert list(col.categories) == [f"v{i}" for i in range(29, 19, -1)]
    assert col.other_count == sum(i + 1 for i in range(20))
    assert (col.distinct, col.capped) == (30, True)


def test_category_and_string_dtypes_are_categorical() -> None:
    frame = pd.DataFrame(
        {
            "cat": pd.Categorical(["a", "b", "a"], categories=["a", "b", "z"]),
            "s": pd.Series(["x", None, "x"], dtype="string"),
            "i": pd.array([1, None, 3], dtype="Int64"),
        }
    )
    p = profile(frame)
    assert p.columns["cat"].categories == {"a": 2, "b": 1}  # unused category "z" left out
    assert (p.columns["s"].categories, p.columns["s"].nulls) == ({"x": 2}, 1)
    assert (p.columns["i"].kind, p.columns["i"].nulls, p.columns["i"].max) == ("numeric", 1, 3.0)


def test_other_dtypes_are_skipped_with_a_reason_or_refused_when_named(
    frame: pd.DataFrame,
) -> None:
    p = profile(frame)
    assert "ts" not in p.columns and "datetime64" in p.skipped["ts"]
    with pytest.raises(InvalidArgument, match=r"'ts'.*neither numeric nor categorical"):
        profile(frame, columns=["ts"])


def test_missing_column_names_the_available_ones(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidArgument, match=r"no column 'age'; columns are: x, n, color"):
        profile(frame, columns=["age"])


def test_not_a_frame_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="DataFrame or a pyarrow Table"):
        profile([1, 2, 3])


def test_arrow_table_gives_the_same_profile(frame: pd.DataFrame) -> None:
    plain = frame.drop(columns=["ts"])
    assert profile(pa.Table.from_pandas(plain, preserve_index=False)).columns.keys() == (
        profile(plain).columns.keys()
    )
    a = profile(pa.Table.from_pandas(plain, preserve_index=False)).to_json()
    b = profile(plain).to_json()
    for ca, cb in zip(a["columns"], b["columns"], strict=True):
        ca.pop("dtype"), cb.pop("dtype")
        assert ca == cb


def test_all_null_and_infinite_values() -> None:
    frame = pd.DataFrame({"none": [np.nan] * 4, "inf": [1.0, np.inf, -np.inf, 2.0]})
    p = profile(frame)
    assert p.columns["none"].nulls == 4 and p.columns["none"].bin_edges == ()
    inf = p.columns["inf"]
    assert (inf.min, inf.max, inf.nulls) == (-np.inf, np.inf, 0)
    np.testing.assert_array_equal(inf.bin_edges, np.quantile([1.0, 2.0], Q))
    assert inf.bin_counts[0] == 2 and inf.bin_counts[-1] == 2  # 1.0 is e0: first bin
    assert np.isnan(inf.mean)  # inf - inf
    restored = Profile.from_json(json.loads(json.dumps(p.to_json(), allow_nan=False)))
    assert restored.to_json() == p.to_json()
    assert restored.columns["inf"].max == np.inf and np.isnan(restored.columns["inf"].mean)


def test_from_json_refuses_other_dicts() -> None:
    with pytest.raises(InvalidArgument, match="not a Shipyard profile"):
        Profile.from_json({"rows": 3})
    damaged = profile(pd.DataFrame({"x": [1.0]})).to_json()
    del damaged["columns"][0]["bin_edges"]
    with pytest.raises(InvalidArgument, match="damaged Shipyard profile"):
        Profile.from_json(damaged)


floats = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**6), 10**6)
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(floats, min_size=1, max_size=60),
    st.lists(st.one_of(st.none(), st.text(max_size=3)), min_size=1, max_size=60),
)
def test_profile_round_trips_through_json(numbers: list, labels: list) -> None:
    n = min(len(numbers), len(labels))
    frame = pd.DataFrame(
        {
            "x": pd.Series([np.nan if v is None else float(v) for v in numbers[:n]]),
            "c": pd.Series(labels[:n], dtype=object),
        }
    )
    p = profile(frame, category_cap=5)
    text = json.dumps(p.to_json(), allow_nan=False)  # plain JSON: no NaN/inf literals
    restored = Profile.from_json(json.loads(text))
    assert restored.to_json() == p.to_json()
    assert restored.rows == n and list(restored.columns) == ["x", "c"]
