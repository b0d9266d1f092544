"""Long metric series made short enough to draw, keeping their shape (min/max buckets).

A chart a few hundred pixels wide cannot show 100,000 points, and sending them costs more
than drawing them. ``downsample`` keeps at most ``max_points`` of a series:

- the first and the last point, always;
- the points in between split into ``(max_points - 2) // 2`` buckets of consecutive points
  (equal counts, give or take one), and from each bucket the point with the lowest and
  the one with the highest value (one point when they are the same): every spike, every
  dip and the envelope of a noisy curve survive, which plain striding loses;
- ``+Infinity`` counts as the highest value and ``-Infinity`` as the lowest, so they are
  kept; NaN points are left out of a bucket that holds numbers and a bucket of NaN only
  keeps one of them (the chart shows a gap there);
- the points kept are the original points (no averaging), in their original order.

A series of at most ``max_points`` points is returned as it is. ``x`` says what the chart
plots on its horizontal axis: ``"step"`` (the stored order: step, then time) or ``"time"``
(the points sorted by timestamp first); the buckets follow that order.

numpy is imported on the first call that needs it (``import shipyard`` stays light).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from shipyard.store.base import Metric

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

Axis = Literal["step", "time"]
MIN_POINTS = 2


def downsample_indices(values: Sequence[float], max_points: int) -> list[int]:
    """The positions of the points to keep, ascending (see the module docstring)."""
    if max_points < MIN_POINTS:
        raise ValueError(f"max_points must be at least {MIN_POINTS}, got {max_points}")
    n = len(values)
    if n <= max_points:
        return list(range(n))
    import numpy as np

    buckets = (max_points - 2) // 2
    if buckets == 0:
        return [0, n - 1]
    inner = np.asarray(values[1 : n - 1], dtype=np.float64)
    # bucket of each inner point: equal counts, give or take one
    bucket = (np.arange(inner.size, dtype=np.int64) * buckets) // inner.size
    nan = np.isnan(inner)
    lows = _first_of_groups(bucket, np.where(nan, np.inf, inner), nan)
    highs = _first_of_groups(bucket, np.where(nan, np.inf, -inner), nan)
    kept = np.unique(np.concatenate(([0], lows + 1, highs + 1, [n - 1])))
    return [int(i) for i in kept]


def _first_of_groups(
    group: NDArray[np.int64], key: NDArray[np.float64], nan: NDArray[np.bool_]
) -> NDArray[np.intp]:
    """Per group, the position of its smallest ``key`` (NaN points last, ties: first)."""
    import numpy as np

    order = np.lexsort((np.arange(group.size), key, nan, group))
    sorted_groups = group[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    return order[starts]


def downsample(points: Sequence[Metric], max_points: int | None, x: Axis = "step") -> list[Metric]:
    """``points`` (one series, in the stored order) in ``x`` order, at most ``max_points``
    of them (None: all of them)."""
    ordered = list(points)
    if x == "time":
        ordered.sort(key=lambda m: (m.timestamp_ms, m.step))
    if max_points is None or len(ordered) <= max_points:
        return ordered
    keep = downsample_indices([m.value for m in ordered], max_points)
    return [ordered[i] for i in keep]
