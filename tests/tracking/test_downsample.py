"""Downsampling a metric series: never more than asked, endpoints and extrema kept, exact
when short, non-finite values handled."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.store.base import Metric
from shipyard.tracking.downsample import downsample, downsample_indices

values = st.lists(
    st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=0, max_size=400
)
budgets = st.integers(min_value=2, max_value=120)


@settings(deadline=None)  # the first call imports numpy
@given(values, budgets)
def test_never_more_than_max_points_endpoints_kept_ascending(ys, max_points):
    kept = downsample_indices(ys, max_points)
    assert len(kept) <= max_points
    assert kept == sorted(set(kept))
    assert all(0 <= i < len(ys) for i in kept)
    if ys:
        assert kept[0] == 0 and kept[-1] == len(ys) - 1


@settings(deadline=None)  # the first call imports numpy
@given(values, budgets)
def test_a_short_series_is_returned_as_it_is(ys, max_points):
    if len(ys) <= max_points:
        assert downsample_indices(ys, max_points) == list(range(len(ys)))


@settings(deadline=None)  # the first call imports numpy
@given(st.lists(st.floats(allow_nan=False, width=64), min_size=3, max_size=400), budgets)
def test_the_extrema_survive(ys, max_points):
    kept = downsample_indices(ys, max_points)
    if max_points >= 4:
        values_kept = [ys[i] for i in kept]
        assert min(ys) in values_kept and max(ys) in values_kept


def test_each_bucket_keeps_its_lowest_and_highest_point():
    ys = [0.0, 5.0, -1.0, math.nan, math.inf, 2.0, 3.0, math.nan, math.nan, 1.0]
    # inner points split in 2 buckets: [5, -1, nan, inf] and [2, 3, nan, nan]
    assert downsample_indices(ys, 6) == [0, 2, 4, 5, 6, 9]
    # a bucket of NaN only keeps one of them
    assert downsample_indices([1.0, math.nan, math.nan, math.nan, math.nan, 2.0], 4) == [0, 1, 5]
    assert downsample_indices([1.0, 2.0, 3.0, 4.0], 3) == [0, 3]  # no room for a bucket


def test_a_spike_survives_where_striding_would_lose_it():
    ys = [0.0] * 10_000
    ys[4_321] = 100.0
    kept = downsample_indices(ys, 50)
    assert 4_321 in kept and len(kept) <= 50


def test_max_points_below_two_is_refused():
    with pytest.raises(ValueError, match="at least 2"):
        downsample_indices([1.0, 2.0], 1)


def test_metrics_by_step_or_by_time():
    points = [Metric("m", float(i % 7), i, 1_000 - i) for i in range(100)]
    assert downsample(points, None) == points
    by_time = downsample(points, None, "time")
    assert [m.step for m in by_time] == list(range(99, -1, -1))
    short = downsample(points, 10)
    assert len(short) <= 10 and short[0] == points[0] and short[-1] == points[-1]
    assert downsample(points, 10, "time")[0] == points[-1]
