"""``performance``: how right a model was on its labelled predictions, per window and variant.

Takes a frame shaped like ``read_window``'s (``prediction``, ``label``, and for windows and
latency ``ts`` and ``latency_ms``). Metrics are scikit-learn's, on the labelled rows:

- classification: ``accuracy``, ``precision``, ``recall``, ``f1`` (binary for two classes,
  else macro-averaged), and when the prediction is a probability vector per row
  (``predict_proba``): the predicted class is the argmax over the sorted classes, ``roc_auc``
  (one-vs-rest for several classes) and ``log_loss``;
- regression: ``mae``, ``rmse``, ``r2``.

The task is inferred unless given: probability vectors, or labels that are strings, booleans
or integer-valued numbers with integer-valued predictions, are classification; other numbers
regression. Each group also reports ``rows`` (every prediction, labelled or not),
``labelled``, ``calls``, ``errors`` and ``error_rate`` (failed calls, rows with an
``error``, over all calls: a call is a request or the part one variant answered), and
``latency_p50``/``latency_p95``/``latency_p99`` in milliseconds over all its rows, failed
calls included. Metrics are over the successful labelled rows only (a failed call has no
label). A metric a group cannot have (one class only, a single row for R²) is NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidArgument
from shipyard.monitoring._perf_metrics import (
    CLASSIFICATION,
    REGRESSION,
    call_counts,
    infer_task,
    labelled_rows,
    metrics,
    window_floor,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["performance"]


def performance(
    frame: pd.DataFrame,
    *,
    task: str | None = None,
    by: str | Sequence[str] | None = None,
    window: str | None = None,
) -> pd.DataFrame:
    """One row per (window, ``by`` value) group — a single row when neither is given —
    with ``rows``, ``labelled``, ``calls``, ``errors``, ``error_rate``, the task's metrics
    and latency percentiles."""
    import numpy as np
    import pandas as pd

    task = infer_task(labelled_rows(frame), task)
    keys = [by] if isinstance(by, str) else list(by or [])
    for key in keys:
        if key not in frame.columns:
            raise InvalidArgument(f"cannot group by {key!r}: the frame has no such column")
    data = frame.copy()
    freq = None
    if window is not None:
        data["window_start"], freq = window_floor(data["ts"], window)
        keys = ["window_start", *keys]
    names = CLASSIFICATION if task == "classification" else REGRESSION
    groups: Any = data.groupby(keys, sort=True, dropna=False) if keys else [((), data)]
    out = []
    for key, group in groups:
        row: dict[str, Any] = dict(
            zip(keys, key if isinstance(key, tuple) else (key,), strict=True)
        )
        if freq is not None:
            row["window_end"] = row["window_start"] + freq
        labelled = group[group["label"].notna()]
        calls, errors = call_counts(group)
        row.update(
            rows=len(group) - errors,
            labelled=len(labelled),
            calls=calls,
            errors=errors,
            error_rate=errors / calls if calls else np.nan,
        )
        found = (
            metrics(labelled["label"].tolist(), labelled["prediction"], task)
            if len(labelled)
            else {}
        )
        row.update({m: found.get(m, np.nan) for m in names if m in found or not found})
        if "latency_ms" in group.columns and len(group):
            p50, p95, p99 = np.percentile(group["latency_ms"].to_numpy(float), [50, 95, 99])
            row.update(latency_p50=p50, latency_p95=p95, latency_p99=p99)
        out.append(row)
    result = pd.DataFrame(out)
    result.attrs["task"] = task
    if freq is not None:
        ordered = ["window_start", "window_end"]
        result = result[ordered + [c for c in result.columns if c not in ordered]]
    return result
