"""The drift statistics, on arrays already reduced by ``_stats_columns``.

Each function returns ``(statistic, p_value)``; ``p_value`` is None for distances. The
formulas are written out in docs/monitoring.md ("Drift").
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.spatial import distance

FLOOR = 1e-4  # proportions below this (empty bins) are raised to it for PSI and JS


def ks(reference: np.ndarray, current: np.ndarray) -> tuple[float, float | None]:
    """Two-sample Kolmogorov-Smirnov, two-sided (``scipy.stats.ks_2samp``, method auto)."""
    result = stats.ks_2samp(reference, current, alternative="two-sided")
    return float(result.statistic), float(result.pvalue)


def wasserstein_sorted(u: np.ndarray, v: np.ndarray) -> float:
    """``scipy.stats.wasserstein_distance(u, v)`` for sorted, unweighted samples, as the
    area between the two quantile functions: ``∫0^1 |Q_u(t) - Q_v(t)| dt``. On the common
    grid of ``n·m`` steps, step ``b`` sits at ``u[b // m]`` and ``v[b // n]``."""
    n, m = u.size, v.size
    if n == m:
        return float(np.mean(np.abs(u - v)))
    breaks = np.concatenate((np.arange(n, dtype=np.int64) * m, np.arange(m, dtype=np.int64) * n))
    breaks.sort()
    widths = np.diff(breaks, append=np.int64(n) * m).astype(np.float64)
    gaps = np.abs(u[breaks // m] - v[breaks // n])
    return float(np.dot(widths, gaps) / (float(n) * float(m)))


def normed(distance: float, reference_std: float) -> float:
    """A Wasserstein distance in units of the reference's (population) standard deviation.
    A constant reference (std 0) gives 0 when the current values are that constant too,
    else +inf (any movement is infinitely many standard deviations)."""
    if reference_std > 0:
        return distance / reference_std
    return 0.0 if distance == 0 else float("inf")


def chi2(observed: np.ndarray, proportions: np.ndarray, unseen: int) -> tuple[float, float | None]:
    """Chi-square goodness of fit of the current counts to the reference proportions:
    expected_k = p_k · (current non-null count). A value in a category the reference never
    had (``unseen`` > 0) has expected 0: statistic +inf, p-value 0. One category only (and
    nothing unseen): statistic 0, p-value 1 (no degree of freedom to test)."""
    if unseen > 0:
        return float("inf"), 0.0
    if observed.size < 2:
        return 0.0, 1.0
    total = float(observed.sum())
    result = stats.chisquare(observed, f_exp=proportions * total)
    return float(result.statistic), float(result.pvalue)


def floored(counts: np.ndarray) -> np.ndarray:
    """Proportions of ``counts``, each raised to at least ``FLOOR``."""
    total = counts.sum()
    shares = counts / total if total else np.zeros(counts.size)
    return np.maximum(shares, FLOOR)


def psi(reference_counts: np.ndarray, current_counts: np.ndarray) -> tuple[float, float | None]:
    """Population stability index Σ (c - r)·ln(c / r) over floored proportions."""
    r, c = floored(reference_counts), floored(current_counts)
    return float(np.sum((c - r) * np.log(c / r))), None


def js(reference_counts: np.ndarray, current_counts: np.ndarray) -> tuple[float, float | None]:
    """Jensen-Shannon distance (natural log) of the floored proportions
    (``scipy.spatial.distance.jensenshannon``, which rescales each to sum 1)."""
    r, c = floored(reference_counts), floored(current_counts)
    return float(distance.jensenshannon(r, c, base=np.e)), None
