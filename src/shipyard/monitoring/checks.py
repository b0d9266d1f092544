"""What each check kind measures on a window of predictions, and whether it fires.

``evaluate(monitor, current, reference)`` is pure: a DataFrame of the window in, an Outcome
out. Problems a user can fix (an unknown feature or metric, an empty window, no labels) raise
InvalidArgument; the runner records them as the monitor's result with status ``error``.

Failed calls are rows with an ``error`` (see ``read_window``): ``volume``, ``latency`` and
``error_rate`` count them; ``drift`` and ``performance`` look at the successful rows only
(a failed call's inputs are null, and it has no prediction nor label).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidArgument
from shipyard.monitoring.monitors import Monitor

if TYPE_CHECKING:
    import pandas as pd

# columns of a window that describe the log rather than the model's inputs
LOG_COLUMNS = frozenset(
    {"prediction_id", "ts", "version", "variant", "shadow", "latency_ms", "label", "error"}
)
_PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}


@dataclass(frozen=True)
class Outcome:
    value: float | None
    fired: bool
    details: dict[str, Any] = field(default_factory=dict)


def evaluate(monitor: Monitor, current: pd.DataFrame, reference: Callable[[], Any]) -> Outcome:
    """Evaluate ``monitor`` on the window ``current``; ``reference`` is called only by drift
    checks (it loads the model version's reference profile or rows)."""
    if monitor.check == "volume":
        return _compare(monitor, float(len(current)), {"rows": len(current)})
    if len(current) == 0:
        raise empty_window(monitor)
    if monitor.check == "latency":
        return _latency(monitor, current)
    if monitor.check == "error_rate":
        return _error_rate(monitor, current)
    succeeded = successes(current)
    if len(succeeded) == 0:
        raise all_failed(monitor, len(current))
    if monitor.check == "drift":
        return _drift(monitor, succeeded, reference())
    return _performance(monitor, succeeded)


def empty_window(monitor: Monitor) -> InvalidArgument:
    return InvalidArgument(
        f"monitor {monitor.name!r}: the window of the last {monitor.window} holds no predictions"
    )


def all_failed(monitor: Monitor, calls: int) -> InvalidArgument:
    return InvalidArgument(
        f"monitor {monitor.name!r}: every one of the {calls:,} calls in the window "
        f"of the last {monitor.window} failed; there is no prediction to check"
    )


def successes(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of successful calls (all of them when the frame has no ``error``)."""
    if "error" not in frame.columns:
        return frame
    return frame[frame["error"].isna()]


def _compare(monitor: Monitor, value: float, details: dict[str, Any]) -> Outcome:
    threshold = monitor.threshold
    assert threshold is not None  # checked at declaration for every kind but drift
    if math.isnan(value):
        fired = False
    elif monitor.fires_when == "above":
        fired = value > threshold
    else:
        fired = value < threshold
    metric = monitor.metric or monitor.check
    return Outcome(value, fired, {"metric": metric, **details, "fires_when": monitor.fires_when})


def _columns_of(reference: Any) -> list[str]:
    columns = getattr(reference, "columns", None)
    return [str(c) for c in columns] if columns is not None else []


def drift_features(monitor: Monitor, window_columns: list[str], reference: Any) -> list[str]:
    """The features a drift monitor tests: its own (each must be in the window and the
    reference), else every input column and the prediction shared by both."""
    reference_columns = _columns_of(reference)
    if monitor.features is None:
        shared = [c for c in window_columns if c not in LOG_COLUMNS and c in reference_columns]
        if not shared:
            raise InvalidArgument(
                f"monitor {monitor.name!r}: the window and the reference share no column to "
                f"test; window: {', '.join(window_columns)}; reference: "
                f"{', '.join(reference_columns)}"
            )
        return shared
    for where, columns in (("window", window_columns), ("reference", reference_columns)):
        missing = [f for f in monitor.features if f not in columns]
        if missing:
            known = ", ".join(c for c in columns if c not in LOG_COLUMNS)
            raise InvalidArgument(
                f"monitor {monitor.name!r}: unknown feature(s) {', '.join(missing)} (not in "
                f"the {where}); columns are: {known}"
            )
    return list(monitor.features)


def _drift(monitor: Monitor, current: pd.DataFrame, reference: Any) -> Outcome:
    from shipyard.monitoring._drift import drift

    features = drift_features(monitor, [str(c) for c in current.columns], reference)
    report = drift(
        reference, current[features], features=features, tests=drift_tests(monitor, features)
    )
    return drift_outcome(monitor, report, len(current))


def drift_tests(monitor: Monitor, features: list[str]) -> dict[str, str] | None:
    return None if monitor.test is None else dict.fromkeys(features, monitor.test)


def drift_outcome(monitor: Monitor, report: Any, rows: int) -> Outcome:
    """A drift report as the monitor's outcome: one row per (feature, test) with the
    monitor's threshold when it sets one; its value is the number of drifted features."""
    frame = report.to_df()
    rows_out: list[dict[str, Any]] = []
    for r in frame.to_dict("records"):
        p_value, statistic = _num(r.get("p_value")), _num(r.get("statistic"))
        drifted = bool(r.get("drifted"))
        if monitor.threshold is not None:
            if p_value is not None:
                drifted = p_value < monitor.threshold
            elif statistic is not None:
                drifted = statistic > monitor.threshold
        rows_out.append(
            {
                "feature": str(r.get("feature")),
                "test": str(r.get("test")),
                "statistic": statistic,
                "p_value": p_value,
                "threshold": monitor.threshold
                if monitor.threshold is not None
                else _num(r.get("threshold")),
                "drifted": drifted,
            }
        )
    drifted_features = sorted({r["feature"] for r in rows_out if r["drifted"]})
    details = {"features": rows_out, "drifted": drifted_features, "rows": rows}
    return Outcome(float(len(drifted_features)), bool(drifted_features), details)


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _performance(monitor: Monitor, current: pd.DataFrame) -> Outcome:
    from shipyard.monitoring._performance import performance

    labelled = current[current["label"].notna()] if "label" in current.columns else current[:0]
    if len(labelled) == 0:
        raise InvalidArgument(
            f"monitor {monitor.name!r}: none of the {len(current):,} predictions in the window "
            "has a label yet; log labels with log_labels"
        )
    metrics = performance(labelled)
    metric = str(monitor.metric)
    value = _metric_value(metrics, metric)
    if value is None:
        available = [c for c in getattr(metrics, "columns", []) if _is_metric(metrics, c)]
        raise InvalidArgument(
            f"monitor {monitor.name!r}: metric {metric!r} is not available for this model's "
            f"predictions; available: {', '.join(map(str, available)) or 'none'}"
        )
    return _compare(monitor, value, {"metric": metric, "labelled_rows": len(labelled)})


def _is_metric(metrics: Any, column: Any) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(metrics[column])) and str(column) not in (
        "rows",
        "labelled",
        "calls",
        "errors",
        "window_start",
        "window_end",
    )


def _metric_value(metrics: Any, metric: str) -> float | None:
    """The metric over the whole window: the last row of a per-window frame."""
    if metric not in getattr(metrics, "columns", []) or len(metrics) == 0:
        return None
    return _num(metrics[metric].dropna().iloc[-1]) if metrics[metric].notna().any() else None


def _latency(monitor: Monitor, current: pd.DataFrame) -> Outcome:
    import numpy as np

    if "latency_ms" not in current.columns:
        raise InvalidArgument(f"monitor {monitor.name!r}: the window has no latency_ms column")
    values = current["latency_ms"].dropna().to_numpy(dtype=float)
    metric = str(monitor.metric)
    if metric in _PERCENTILES:
        value = float(np.percentile(values, _PERCENTILES[metric]))
    else:
        value = float(values.mean() if metric == "mean" else values.max())
    return _compare(monitor, value, {"metric": metric, "rows": len(values)})


def _error_rate(monitor: Monitor, current: pd.DataFrame) -> Outcome:
    """Failed calls over all calls of the window: a call is a request (or the part of it
    one variant answered), whatever its row count; a failed one has an ``error``."""
    from shipyard.monitoring._perf_metrics import call_counts

    if "error" not in current.columns:
        raise InvalidArgument(
            f"monitor {monitor.name!r}: the window has no error column; pass a frame from "
            "read_window"
        )
    calls, failed = call_counts(current)
    value = failed / calls if calls else math.nan
    return _compare(monitor, value, {"failed": failed, "calls": calls, "rows": len(current)})
