"""Drift between a reference (a frame or its Profile) and a current window, per feature.

    drift(reference, current, features=None, tests=None) -> DriftReport
    report.to_df()               one row per (feature, test)
    report.extras_df()           one row per feature: null-rate change, out-of-range, unseen
    report.drifted_features      the features with at least one drifted test

Tests (thresholds in ``THRESHOLDS``; formulas in docs/monitoring.md, "Drift"):

    ks           numeric      Kolmogorov-Smirnov two-sided p-value      drifted when p < 0.05
    wasserstein  numeric      Wasserstein distance / reference std      drifted when >= 0.1
    chi2         categorical  chi-square, expected from reference shares drifted when p < 0.05
    psi          both         PSI over the reference's 10 quantile bins drifted when >= 0.2
                              (numeric) or its categories (categorical)
    js           both         Jensen-Shannon distance, same bins          drifted when >= 0.1

Default per feature: numeric ``ks`` up to ``LARGE_SAMPLE`` current rows, ``wasserstein``
beyond (KS p-values go to 0 for tiny shifts at large N); categorical ``chi2`` up to
``LARGE_SAMPLE``, ``js`` beyond. A Profile holds no rows, so against one only the bin-based
tests run: ``psi`` for numeric, ``chi2``/``js`` for categorical. ``tests={"age": "psi"}``
or ``{"age": ["ks", "psi"]}`` overrides per feature. Nothing is ever sampled
(``DriftReport.sampled`` is always False).

Statistics use the non-null values of each side. An empty current window (0 rows) raises
InvalidArgument. A feature with no non-null value on one side gets NaN statistics, is not
drifted, and ``FeatureDrift.note`` says why (its null rate says the rest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from shipyard.errors import InvalidArgument
from shipyard.monitoring import _stats
from shipyard.monitoring import _stats_columns as cols
from shipyard.monitoring._stats_report import COLUMNS, DriftReport, FeatureDrift, TestResult
from shipyard.monitoring.profiles import (
    DEFAULT_CATEGORY_CAP,
    ColumnProfile,
    Profile,
    categorical_profile,
    numeric_profile,
)

THRESHOLDS: dict[str, float] = {"ks": 0.05, "wasserstein": 0.1, "chi2": 0.05, "psi": 0.2, "js": 0.1}
TESTS = tuple(THRESHOLDS)
P_VALUE_TESTS = frozenset({"ks", "chi2"})
RAW_TESTS = frozenset({"ks", "wasserstein"})  # need the reference rows, not a Profile
KIND_TESTS = {
    cols.NUMERIC: ("ks", "wasserstein", "psi", "js"),
    cols.CATEGORICAL: ("chi2", "psi", "js"),
}
LARGE_SAMPLE = 100_000
MAX_UNSEEN_LISTED = 20

__all__ = [
    "COLUMNS",
    "LARGE_SAMPLE",
    "TESTS",
    "THRESHOLDS",
    "DriftReport",
    "FeatureDrift",
    "TestResult",
    "drift",
]


def drift(
    reference: Any,
    current: Any,
    features: Sequence[str] | None = None,
    tests: Mapping[str, str | Sequence[str]] | None = None,
    *,
    thresholds: Mapping[str, float] | None = None,
) -> DriftReport:
    """Compare ``current`` (a DataFrame or pyarrow Table) with ``reference`` (the same, or
    a Profile), feature by feature; see the module docstring for the tests and defaults.

    ``features`` defaults to the reference's columns that the current data also has (the
    others are listed in ``report.skipped``); a named feature missing on either side raises
    InvalidArgument. ``thresholds`` overrides the thresholds of ``THRESHOLDS`` by test."""
    source = ReferenceSide(reference)
    cols.check_frame(current, "current")
    current_rows = cols.row_count(current)
    check_rows(source, current_rows)
    names, skipped = select_features(source, cols.column_names(current), features)
    plan = plan_tests(names, source, tests, current_rows)
    limits = check_thresholds(thresholds)
    results = {}
    for name in names:
        ref, ref_values = reference_column(source, name)
        series = cols.column(current, name)
        if source.kind(name) == cols.NUMERIC:
            side = numeric_side(name, series, ref, ref_values, plan[name])
            results[name] = numeric_drift(name, ref, side, plan[name], limits)
        else:
            results[name] = categorical_drift(
                name, ref, categorical_side(series), plan[name], limits
            )
    return DriftReport(results, source.rows, current_rows, skipped)


def check_rows(source: ReferenceSide, current_rows: int) -> None:
    if current_rows == 0:
        raise InvalidArgument(
            "the current window is empty (0 rows): there is nothing to compare; "
            "widen the window or wait for predictions"
        )
    if source.rows == 0:
        raise InvalidArgument("the reference is empty (0 rows): profile non-empty data")


class ReferenceSide:
    """The reference side: a frame (raw values available) or a Profile (bins only)."""

    def __init__(self, reference: Any) -> None:
        self.profile = reference if isinstance(reference, Profile) else None
        self.frame = None if self.profile is not None else reference
        if self.profile is None:
            cols.check_frame(reference, "reference")
            self.rows = cols.row_count(reference)
            self.names = cols.column_names(reference)
            self.kinds = {n: cols.kind_of(cols.column(reference, n).dtype) for n in self.names}
            self.unsupported = {
                n: f"dtype {cols.column(reference, n).dtype} is neither numeric nor categorical"
                for n, k in self.kinds.items()
                if k is None
            }
        else:
            self.rows = self.profile.rows
            self.names = [*self.profile.columns, *self.profile.skipped]
            self.kinds = {n: c.kind for n, c in self.profile.columns.items()}
            self.unsupported = dict(self.profile.skipped)

    @property
    def raw(self) -> bool:
        return self.frame is not None

    def kind(self, name: str) -> cols.Kind:
        kind = self.kinds[name]
        assert kind is not None
        return kind


def select_features(
    source: ReferenceSide, current_names: list[str], features: Sequence[str] | None
) -> tuple[list[str], dict[str, str]]:
    if features is not None:
        names = [str(f) for f in features]
        for name in names:
            if name not in source.names:
                raise InvalidArgument(
                    f"feature {name!r} is not in the reference; its columns are: "
                    f"{', '.join(source.names)}"
                )
            if name not in current_names:
                raise InvalidArgument(
                    f"feature {name!r} is not in the current data; its columns are: "
                    f"{', '.join(current_names)}"
                )
            if name in source.unsupported:
                raise InvalidArgument(f"feature {name!r}: {source.unsupported[name]}")
        return names, {}
    skipped = dict(source.unsupported)
    skipped.update({n: "not in the current data" for n in source.names if n not in current_names})
    skipped.update({n: "not in the reference" for n in current_names if n not in source.names})
    names = [n for n in source.names if n not in skipped]
    if not names:
        raise InvalidArgument(
            f"no feature to compare: reference columns are {', '.join(source.names) or 'none'}; "
            f"current columns are {', '.join(current_names) or 'none'}"
        )
    return names, skipped


def plan_tests(
    names: list[str],
    source: ReferenceSide,
    tests: Mapping[str, str | Sequence[str]] | None,
    current_rows: int,
) -> dict[str, tuple[str, ...]]:
    tests = dict(tests or {})
    for name in tests:
        if name not in names:
            raise InvalidArgument(
                f"tests names {name!r}, which is not a compared feature; features are: "
                f"{', '.join(names)}"
            )
    plan: dict[str, tuple[str, ...]] = {}
    for name in names:
        kind = source.kind(name)
        chosen = tests.get(name)
        if chosen is None:
            plan[name] = (_default_test(kind, source.raw, current_rows),)
            continue
        chosen_tests = (chosen,) if isinstance(chosen, str) else tuple(chosen)
        if not chosen_tests:
            raise InvalidArgument(
                f"tests for feature {name!r} is empty; tests are: {', '.join(TESTS)}"
            )
        for test in chosen_tests:
            _check_test(name, kind, test, source.raw)
        plan[name] = tuple(dict.fromkeys(chosen_tests))
    return plan


def _default_test(kind: cols.Kind, raw: bool, current_rows: int) -> str:
    large = current_rows > LARGE_SAMPLE
    if kind == cols.CATEGORICAL:
        return "js" if large else "chi2"
    if not raw:
        return "psi"
    return "wasserstein" if large else "ks"


def _check_test(name: str, kind: cols.Kind, test: str, raw: bool) -> None:
    if test not in THRESHOLDS:
        raise InvalidArgument(
            f"unknown drift test {test!r} for feature {name!r}; tests are: {', '.join(TESTS)}"
        )
    if test not in KIND_TESTS[kind]:
        raise InvalidArgument(
            f"test {test!r} does not apply to {kind} feature {name!r}; "
            f"use one of: {', '.join(KIND_TESTS[kind])}"
        )
    if test in RAW_TESTS and not raw:
        raise InvalidArgument(
            f"test {test!r} for feature {name!r} needs the reference rows, and the reference "
            "is a Profile (bins only): use psi or js, or give the reference rows (a "
            "DataFrame to drift(); for a monitor, register the version with dataset=)"
        )


def check_thresholds(overrides: Mapping[str, float] | None) -> dict[str, float]:
    limits = dict(THRESHOLDS)
    for test, value in (overrides or {}).items():
        if test not in THRESHOLDS:
            raise InvalidArgument(
                f"thresholds names unknown test {test!r}; tests are: {', '.join(TESTS)}"
            )
        limits[test] = float(value)
    return limits


@dataclass(frozen=True)
class NumericSide:
    """The current side of one numeric feature, reduced to what the tests read: counts,
    the reference's bins, and the statistics against the reference rows (``ks``,
    ``wasserstein``: the raw distance), each None when not computed. Made from a column
    here (``numeric_side``), or merged from slices of a window on Ray (``_drift_ray``)."""

    rows: int
    nulls: int
    non_null: int
    below: int = 0  # values under the reference's min
    above: int = 0  # values over its max
    bins: np.ndarray | None = None
    ks: tuple[float, float | None] | None = None
    wasserstein: float | None = None


@dataclass(frozen=True)
class CategoricalSide:
    """The current side of one categorical feature: its categories' counts and nulls."""

    rows: int
    nulls: int
    keys: list[str]
    counts: np.ndarray


def reference_column(source: ReferenceSide, name: str) -> tuple[ColumnProfile, np.ndarray | None]:
    """The reference's profile of ``name`` and, for a numeric column of a frame, its sorted
    non-null values (what ks and wasserstein compare with)."""
    if source.profile is not None:
        return source.profile.columns[name], None
    series = cols.column(source.frame, name)
    if source.kind(name) == cols.NUMERIC:
        values, nulls = cols.numeric_values(series)
        return numeric_profile(name, str(series.dtype), len(series), nulls, values), values
    keys, counts, nulls = cols.category_counts(series)
    profile = categorical_profile(
        name, str(series.dtype), len(series), nulls, keys, counts, DEFAULT_CATEGORY_CAP
    )
    return profile, None


def check_numeric_dtype(name: str, series: Any) -> None:
    """A column numeric in the reference must be numeric here too (or all null)."""
    if cols.kind_of(series.dtype) != cols.NUMERIC and int(series.notna().sum()) > 0:
        raise InvalidArgument(
            f"feature {name!r} is numeric in the reference but has dtype {series.dtype} "
            "in the current data"
        )


def current_values(name: str, series: Any) -> tuple[np.ndarray, int]:
    """A current column's sorted non-null values and its null count (a column numeric in
    the reference must be numeric here too, or all null)."""
    check_numeric_dtype(name, series)
    if cols.kind_of(series.dtype) == cols.NUMERIC:
        return cols.numeric_values(series)
    return np.empty(0), len(series)  # all null, of some other dtype


def numeric_counts(values: np.ndarray, rows: int, nulls: int, ref: ColumnProfile) -> NumericSide:
    """The counts of sorted current ``values`` against the reference column ``ref``:
    outside its range, in its bins (what adds up across parts of a window)."""
    if values.size == 0 or ref.non_null == 0:
        return NumericSide(rows, nulls, int(values.size))
    assert ref.min is not None and ref.max is not None
    below = int(np.searchsorted(values, ref.min, side="left"))
    above = values.size - int(np.searchsorted(values, ref.max, side="right"))
    bins = cols.bin_counts(values, np.asarray(ref.bin_edges)) if ref.bin_edges else None
    return NumericSide(rows, nulls, int(values.size), below, above, bins)


def numeric_side(
    name: str, series: Any, ref: ColumnProfile, ref_values: np.ndarray | None, tests: Any
) -> NumericSide:
    """A current column reduced for ``tests`` against the reference column ``ref``."""
    values, nulls = current_values(name, series)
    side = numeric_counts(values, len(series), nulls, ref)
    if values.size == 0 or ref.non_null == 0 or ref_values is None:
        return side
    ks = _stats.ks(ref_values, values) if "ks" in tests else None
    distance = _stats.wasserstein_sorted(ref_values, values) if "wasserstein" in tests else None
    return replace(side, ks=ks, wasserstein=distance)


def categorical_side(series: Any) -> CategoricalSide:
    keys, counts, nulls = cols.category_counts(series)
    return CategoricalSide(len(series), nulls, keys, counts)


def _result(test: str, value: tuple[float, float | None], limits: dict[str, float]) -> TestResult:
    statistic, p_value = value
    threshold = limits[test]
    if test in P_VALUE_TESTS:
        drifted = p_value is not None and p_value < threshold
    else:
        drifted = bool(statistic >= threshold)  # NaN compares False
    return TestResult(test, statistic, p_value, threshold, drifted)


def _not_computable(tests: tuple[str, ...], limits: dict[str, float]) -> tuple[TestResult, ...]:
    return tuple(
        TestResult(t, float("nan"), float("nan") if t in P_VALUE_TESTS else None, limits[t], False)
        for t in tests
    )


def _empty_side_note(reference: ColumnProfile, current_non_null: int) -> str | None:
    if reference.non_null == 0:
        return "the reference has no non-null value; nothing to compare"
    if current_non_null == 0:
        return "the current window has no non-null value; see the null rate"
    return None


def _base(
    name: str, kind: cols.Kind, ref: ColumnProfile, side: NumericSide | CategoricalSide
) -> dict[str, Any]:
    """The FeatureDrift fields every feature has: its kind and both sides' row counts."""
    return {
        "feature": name,
        "kind": kind,
        "reference_rows": ref.rows,
        "current_rows": side.rows,
        "reference_nulls": ref.nulls,
        "current_nulls": side.nulls,
    }


def numeric_drift(
    name: str,
    ref: ColumnProfile,
    side: NumericSide,
    tests: tuple[str, ...],
    limits: dict[str, float],
) -> FeatureDrift:
    base = _base(name, cols.NUMERIC, ref, side)
    note = _empty_side_note(ref, side.non_null)
    if note is None and not ref.bin_edges and ({"psi", "js"} & set(tests)):
        note = "the reference has no finite value to bin"
    if note is not None:
        return FeatureDrift(**base, results=_not_computable(tests, limits), note=note)
    results = tuple(_result(t, _numeric_test(t, ref, side), limits) for t in tests)
    return FeatureDrift(**base, results=results, out_of_range=side.below + side.above)


def _numeric_test(test: str, ref: ColumnProfile, side: NumericSide) -> tuple[float, float | None]:
    if test == "ks":
        assert side.ks is not None
        return side.ks
    if test == "wasserstein":
        assert side.wasserstein is not None and ref.std is not None
        return _stats.normed(side.wasserstein, ref.std), None
    ref_counts = np.asarray(ref.bin_counts, dtype=np.int64)
    assert side.bins is not None
    return _stats.psi(ref_counts, side.bins) if test == "psi" else _stats.js(ref_counts, side.bins)


def categorical_drift(
    name: str,
    ref: ColumnProfile,
    side: CategoricalSide,
    tests: tuple[str, ...],
    limits: dict[str, float],
) -> FeatureDrift:
    base = _base(name, cols.CATEGORICAL, ref, side)
    note = _empty_side_note(ref, int(side.counts.sum()))
    if note is not None:
        return FeatureDrift(**base, results=_not_computable(tests, limits), note=note)
    ref_counts, observed, unseen = _category_bins(ref, side.keys, side.counts)
    unseen_total = sum(unseen.values())
    results = []
    for test in tests:
        if test == "chi2":
            value = _stats.chi2(observed, ref_counts / ref_counts.sum(), unseen_total)
        else:  # psi / js: the reference's bins plus one bin for unseen categories
            r = np.append(ref_counts, 0)
            c = np.append(observed, unseen_total)
            value = _stats.psi(r, c) if test == "psi" else _stats.js(r, c)
        results.append(_result(test, value, limits))
    listed = dict(sorted(unseen.items(), key=lambda kv: -kv[1])[:MAX_UNSEEN_LISTED])
    return FeatureDrift(**base, results=tuple(results), out_of_range=unseen_total, unseen=listed)


def _category_bins(
    ref: ColumnProfile, cur_keys: list[str], cur_counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Reference counts and current counts over the reference's categories (plus its
    "other" bin when it was capped), and the current counts of unseen categories. With a
    capped reference, a category outside the kept ones counts as "other", not unseen."""
    index = {key: i for i, key in enumerate(ref.categories)}
    ref_counts = list(ref.categories.values())
    if ref.capped:
        index_other = len(ref_counts)
        ref_counts.append(ref.other_count)
    observed = np.zeros(len(ref_counts), dtype=np.int64)
    unseen: dict[str, int] = {}
    for key, count in zip(cur_keys, cur_counts.tolist(), strict=True):
        i = index.get(key)
        if i is not None:
            observed[i] += count
        elif ref.capped:
            observed[index_other] += count
        else:
            unseen[key] = count
    return np.asarray(ref_counts, dtype=np.int64), observed, unseen
