"""drift(): every statistic checked against scipy/numpy computed here on the same data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance

from shipyard.errors import InvalidArgument
from shipyard.monitoring import drift, profile
from shipyard.monitoring._drift import COLUMNS, LARGE_SAMPLE, TESTS

Q = np.linspace(0.0, 1.0, 11)


def row(report, feature: str, test: str) -> pd.Series:
    df = report.to_df()
    hit = df[(df.feature == feature) & (df.test == test)]
    assert len(hit) == 1
    return hit.iloc[0]


def oracle_numeric_bins(reference: np.ndarray, current: np.ndarray) -> tuple:
    ref = reference[~np.isnan(reference)]
    cur = current[~np.isnan(current)]
    inner = np.quantile(ref, Q)[1:-1]
    r = np.bincount(np.searchsorted(inner, ref, side="right"), minlength=10) / ref.size
    c = np.bincount(np.searchsorted(inner, cur, side="right"), minlength=10) / cur.size
    return np.maximum(r, 1e-4), np.maximum(c, 1e-4)


def oracle_psi(r: np.ndarray, c: np.ndarray) -> float:
    return float(np.sum((c - r) * np.log(c / r)))


@pytest.fixture
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(11)
    n, m = 3_000, 2_000
    ref_x, cur_x = rng.normal(0, 2, n), rng.normal(0.4, 2, m)
    ref_x[rng.random(n) < 0.05] = np.nan
    cur_x[rng.random(m) < 0.2] = np.nan
    ref = pd.DataFrame(
        {
            "x": ref_x,
            "const": np.full(n, 3.0),
            "color": rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2]).astype(object),
        }
    )
    colors = rng.choice(["red", "green", "blue", "pink"], m, p=[0.4, 0.3, 0.25, 0.05])
    cur = pd.DataFrame(
        {"x": cur_x, "const": np.full(m, 3.0), "color": pd.Series(colors, dtype=object)}
    )
    cur.loc[cur.index[:50], "color"] = None
    return ref, cur


def test_ks_equals_scipy_with_nulls(frames) -> None:
    ref, cur = frames
    report = drift(ref, cur, features=["x"], tests={"x": "ks"})
    want = stats.ks_2samp(ref.x.dropna(), cur.x.dropna())
    got = row(report, "x", "ks")
    assert got.statistic == pytest.approx(want.statistic, rel=1e-12)
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-9)
    assert got.drifted == (want.pvalue < 0.05) and got.threshold == 0.05
    assert (got.reference_nulls, got.current_nulls) == (ref.x.isna().sum(), cur.x.isna().sum())
    assert (got.reference_rows, got.current_rows) == (3_000, 2_000)


@pytest.mark.parametrize("m", [2_000, 3_000, 1_777])
def test_wasserstein_equals_scipy_over_reference_std(frames, m: int) -> None:
    ref, _ = frames
    cur = pd.DataFrame({"x": np.random.default_rng(m).standard_t(3, m)})
    report = drift(ref, cur, features=["x"], tests={"x": "wasserstein"})
    r = ref.x.dropna().to_numpy()
    want = stats.wasserstein_distance(r, cur.x) / np.std(r)
    got = row(report, "x", "wasserstein")
    assert got.statistic == pytest.approx(want, rel=1e-9)
    assert np.isnan(got.p_value) and got.drifted == (want >= 0.1)


def test_psi_and_js_over_reference_quantile_bins(frames) -> None:
    ref, cur = frames
    report = drift(ref, cur, features=["x"], tests={"x": ["psi", "js"]})
    r, c = oracle_numeric_bins(ref.x.to_numpy(), cur.x.to_numpy())
    assert row(report, "x", "psi").statistic == pytest.approx(oracle_psi(r, c), rel=1e-9)
    want_js = distance.jensenshannon(r, c, base=np.e)
    assert row(report, "x", "js").statistic == pytest.approx(want_js, rel=1e-9)
    assert row(report, "x", "psi").threshold == 0.2 and row(report, "x", "js").threshold == 0.1


def test_constant_column(frames) -> None:
    ref, cur = frames
    report = drift(ref, cur, features=["const"], tests={"const": ["ks", "wasserstein", "psi"]})
    assert row(report, "const", "wasserstein").statistic == 0.0  # no division by zero
    assert row(report, "const", "ks").statistic == stats.ks_2samp(ref.const, cur.const).statistic
    assert row(report, "const", "psi").statistic == pytest.approx(0.0)
    assert report.drifted_features == []
    moved = cur.assign(const=3.5)
    report = drift(ref, moved, features=["const"], tests={"const": "wasserstein"})
    assert row(report, "const", "wasserstein").statistic == np.inf
    assert report.drifted_features == ["const"]
    assert report.out_of_range == {"const": len(cur)}


def test_chi2_equals_scipy_with_reference_proportions() -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"c": rng.choice(["a", "b", "c"], 4_000, p=[0.5, 0.3, 0.2])})
    cur = pd.DataFrame({"c": rng.choice(["a", "b", "c", None], 900, p=[0.45, 0.3, 0.2, 0.05])})
    report = drift(ref, cur, tests={"c": "chi2"})
    ref_counts = ref.c.value_counts()
    observed = cur.c.value_counts().reindex(ref_counts.index).to_numpy()
    expected = ref_counts.to_numpy() / ref_counts.sum() * observed.sum()
    want = stats.chisquare(observed, expected)
    got = row(report, "c", "chi2")
    assert got.statistic == pytest.approx(want.statistic, rel=1e-9)
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-9)
    assert got.current_nulls == cur.c.isna().sum()


def test_unseen_category(frames) -> None:
    ref, cur = frames
    report = drift(ref, cur, features=["color"], tests={"color": ["chi2", "psi", "js"]})
    chi2 = row(report, "color", "chi2")
    assert (chi2.statistic, chi2.p_value, chi2.drifted) == (np.inf, 0.0, True)
    pink = int((cur.color == "pink").sum())
    assert report.unseen_categories == {"color": {"pink": pink}}
    assert report.out_of_range == {"color": pink}
    # PSI/JS: the reference's categories plus one bin for unseen values, floored at 1e-4
    order = ref.color.value_counts().index
    r = np.append(ref.color.value_counts().to_numpy(), 0) / len(ref)
    seen = cur.color.value_counts().reindex(order).to_numpy()
    c = np.append(seen, pink) / cur.color.notna().sum()
    r, c = np.maximum(r, 1e-4), np.maximum(c, 1e-4)
    assert row(report, "color", "psi").statistic == pytest.approx(oracle_psi(r, c), rel=1e-9)
    want_js = distance.jensenshannon(r, c, base=np.e)
    assert row(report, "color", "js").statistic == pytest.approx(want_js, rel=1e-9)


def test_capped_reference_counts_other_categories_as_other_not_unseen() -> None:
    ref = pd.DataFrame({"c": [f"v{i}" for i in range(1_200) for _ in range(2)]})
    cur = pd.DataFrame({"c": ["v1", "v1199", "new"]})
    report = drift(profile(ref), cur, tests={"c": "psi"})
    assert report.unseen_categories == {} and report.out_of_range == {"c": 0}


def test_extras_null_rate_change_and_out_of_range(frames) -> None:
    ref, cur = frames
    report = drift(ref, cur)
    x = report.features["x"]
    assert x.null_rate_change == pytest.approx(cur.x.isna().mean() - ref.x.isna().mean())
    r = ref.x.dropna()
    assert x.out_of_range == int(((cur.x < r.min()) | (cur.x > r.max())).sum())
    extras = report.extras_df().set_index("feature")
    assert extras.loc["x", "null_rate_change"] == pytest.approx(x.null_rate_change)
    assert extras.loc["color", "unseen_categories"] == 1


def test_to_df_has_one_row_per_feature_and_test(frames) -> None:
    ref, cur = frames
    df = drift(ref, cur, tests={"x": ["ks", "psi"]}).to_df()
    assert tuple(df.columns) == COLUMNS
    assert list(zip(df.feature, df.test, strict=True)) == [
        ("x", "ks"),
        ("x", "psi"),
        ("const", "ks"),
        ("color", "chi2"),
    ]
    assert df.loc[df.test == "psi", "p_value"].isna().all()
    assert df.p_value[df.test == "ks"].notna().all()


def test_default_tests_by_kind_size_and_reference() -> None:
    rng = np.random.default_rng(0)
    big = LARGE_SAMPLE + 1
    ref = pd.DataFrame({"x": rng.normal(size=1_000), "c": rng.choice(["a", "b"], 1_000)})
    small = pd.DataFrame({"x": rng.normal(size=500), "c": rng.choice(["a", "b"], 500)})
    large = pd.DataFrame({"x": rng.normal(size=big), "c": rng.choice(["a", "b"], big)})

    def chosen(reference, current) -> list[str]:
        return list(drift(reference, current).to_df().test)

    assert chosen(ref, small) == ["ks", "chi2"]
    assert chosen(ref, large) == ["wasserstein", "js"]
    assert chosen(profile(ref), small) == ["psi", "chi2"]
    assert chosen(profile(ref), large) == ["psi", "js"]


@pytest.mark.parametrize("test", ["psi", "js"])
def test_profile_reference_gives_the_same_bin_statistics(frames, test: str) -> None:
    ref, cur = frames
    tests = {"x": test, "color": test}
    a = drift(ref, cur, features=["x", "color"], tests=tests).to_df()
    b = drift(profile(ref), cur, features=["x", "color"], tests=tests).to_df()
    pd.testing.assert_frame_equal(a, b)


def test_no_shift_does_not_flag_and_a_known_shift_does() -> None:
    rng = np.random.default_rng(2026)

    def sample(n: int, shift: float, p_red: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "age": rng.normal(40 + shift, 10, n),
                "income": rng.lognormal(10, 0.5, n),
                "plan": rng.choice(["red", "blue"], n, p=[p_red, 1 - p_red]),
            }
        )

    ref = sample(20_000, 0, 0.5)
    for n in (5_000, 200_000):  # KS/chi2 and Wasserstein/JS
        assert drift(ref, sample(n, 0, 0.5)).drifted_features == []
        assert drift(profile(ref), sample(n, 0, 0.5)).drifted_features == []
        shifted = sample(n, 5, 0.2)
        assert drift(ref, shifted).drifted_features == ["age", "plan"]
        assert drift(profile(ref), shifted).drifted_features == ["age", "plan"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=200),
    st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=200),
)
def test_a_sample_against_itself_does_not_drift(values: list, labels: list) -> None:
    n = min(len(values), len(labels))
    frame = pd.DataFrame({"x": values[:n], "c": labels[:n]})
    tests = {"x": ["psi", "js", "ks", "wasserstein"], "c": ["psi", "js", "chi2"]}
    report = drift(frame, frame, tests=tests)
    stat = report.to_df().set_index(["feature", "test"]).statistic
    for key in [("x", "psi"), ("x", "js"), ("x", "wasserstein"), ("c", "psi"), ("c", "js")]:
        assert stat[key] == pytest.approx(0.0, abs=1e-12)
    assert report.drifted_features == []


def test_empty_window_is_refused(frames) -> None:
    ref, cur = frames
    with pytest.raises(InvalidArgument, match="current window is empty"):
        drift(ref, cur.iloc[:0])
    with pytest.raises(InvalidArgument, match="current window is empty"):
        drift(profile(ref), cur.iloc[:0])


def test_all_null_feature_is_not_computable(frames) -> None:
    ref, cur = frames
    cur = cur.assign(x=np.nan, color=None)
    report = drift(ref, cur, tests={"x": ["ks", "psi"], "color": "chi2"})
    df = report.to_df()
    assert df.statistic.iloc[[0, 1, 3]].isna().all() and not df.drifted.iloc[[0, 1, 3]].any()
    assert "no non-null value" in (report.features["x"].note or "")
    assert report.features["color"].null_rate_change == pytest.approx(1 - ref.color.isna().mean())


def test_missing_feature_names_it_and_the_columns(frames) -> None:
    ref, cur = frames
    with pytest.raises(InvalidArgument, match=r"'age' is not in the reference; .*x, const, color"):
        drift(ref, cur, features=["age"])
    with pytest.raises(InvalidArgument, match=r"'const' is not in the current data; .*x, color"):
        drift(ref, cur.drop(columns=["const"]), features=["const"])
    report = drift(ref, cur.drop(columns=["const"]).assign(extra=1))
    assert report.skipped == {"const": "not in the current data", "extra": "not in the reference"}


def test_unknown_or_misapplied_test_lists_the_tests(frames) -> None:
    ref, cur = frames
    with pytest.raises(InvalidArgument, match="unknown drift test 'kl'.*" + ", ".join(TESTS)):
        drift(ref, cur, tests={"x": "kl"})
    with pytest.raises(InvalidArgument, match="'ks' does not apply to categorical"):
        drift(ref, cur, tests={"color": "ks"})
    with pytest.raises(InvalidArgument, match=r"needs the reference rows.*Profile"):
        drift(profile(ref), cur, tests={"x": "ks"})
    with pytest.raises(InvalidArgument, match="'age', which is not a compared feature"):
        drift(ref, cur, tests={"age": "psi"})


def test_kind_mismatch_and_bad_inputs(frames) -> None:
    ref, cur = frames
    with pytest.raises(InvalidArgument, match="'x' is numeric in the reference"):
        drift(ref, cur.assign(x="a"))
    with pytest.raises(InvalidArgument, match="DataFrame or a pyarrow Table"):
        drift(ref, {"x": [1.0]})


def test_arrow_tables_give_the_same_report(frames) -> None:
    ref, cur = frames
    a = drift(ref, cur).to_df()
    b = drift(pa.Table.from_pandas(ref), pa.Table.from_pandas(cur)).to_df()
    pd.testing.assert_frame_equal(a, b)
    assert drift(ref, cur).sampled is False
