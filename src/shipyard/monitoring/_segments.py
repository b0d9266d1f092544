"""``segments``: is the model treating one group worse? Performance and prediction rates per
segment of a column, with the largest gaps flagged.

Segments are the values of ``by``; a numeric column with more than ``bins`` distinct values
is cut into ``bins`` quantile bands (``pandas.qcut``, e.g. ``(18.0, 31.0]``). Per segment:
``rows``, ``labelled``, ``positive_rate`` (classification: the share of rows predicted as the
positive class — the last of the sorted classes; regression: the mean prediction), the
metrics of ``performance``, and for the chosen ``metric`` (default ``f1``, or ``rmse`` for
regression) its gap to the overall value.

Rule: a segment is **flagged** when it has at least ``min_labelled`` labelled rows and its
metric is worse than the overall value by more than ``gap`` — an absolute difference for
scores in [0, 1] (accuracy, precision, recall, f1, roc_auc, r2), a relative one for errors
(mae, rmse, log_loss: more than ``(1 + gap)`` times the overall). ``frame.attrs`` holds the
``overall`` metrics, the ``metric``, and ``max_gap``: the max - min of the metric over the
segments with enough labels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidArgument
from shipyard.monitoring._perf_metrics import (
    CLASSIFICATION,
    REGRESSION,
    infer_task,
    is_scores,
    labelled_rows,
    metrics,
)

if TYPE_CHECKING:
    import pandas as pd

LOWER_IS_BETTER = frozenset({"mae", "rmse", "log_loss"})


def _bands(values: pd.Series, bins: int) -> pd.Series:
    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and values.nunique(dropna=True) > bins:
        return pd.qcut(values, q=bins, duplicates="drop").astype(str)
    return values.astype(object).where(values.notna(), "(missing)").astype(str)


def _positive_rate(predictions: pd.Series, task: str, positive: Any) -> float:
    import numpy as np

    if len(predictions) == 0:
        return float("nan")
    if task == "regression":
        return float(np.mean(np.asarray(predictions.tolist(), dtype=float)))
    if is_scores(predictions):
        proba = np.vstack([np.asarray(v, dtype=float) for v in predictions])
        return float(np.mean(proba.argmax(axis=1) == proba.shape[1] - 1))
    return float(np.mean([str(p) == str(positive) for p in predictions]))


def segments(
    frame: pd.DataFrame,
    by: str,
    *,
    metric: str | None = None,
    task: str | None = None,
    bins: int = 4,
    gap: float = 0.05,
    min_labelled: int = 30,
) -> pd.DataFrame:
    """One row per segment of ``by`` (largest first), flagged by the rule above."""
    import numpy as np
    import pandas as pd

    if by not in frame.columns:
        known = ", ".join(str(c) for c in frame.columns)
        raise InvalidArgument(f"cannot segment by {by!r}: no such column; columns: {known}")
    labelled = labelled_rows(frame)
    task = infer_task(labelled, task)
    names = CLASSIFICATION if task == "classification" else REGRESSION
    metric = metric or ("f1" if task == "classification" else "rmse")
    overall = metrics(labelled["label"].tolist(), labelled["prediction"], task)
    if metric not in overall:
        available = ", ".join(overall) or "none"
        raise InvalidArgument(f"metric {metric!r} is not available here; available: {available}")
    positive = sorted(map(str, labelled["label"].unique()))[-1] if task != "regression" else None
    data = frame.assign(_segment=_bands(frame[by], bins))
    out = []
    for segment, group in data.groupby("_segment", sort=True):
        rows = group[group["label"].notna()]
        found = metrics(rows["label"].tolist(), rows["prediction"], task) if len(rows) else {}
        row: dict[str, Any] = {"segment": segment, "rows": len(group), "labelled": len(rows)}
        row["positive_rate"] = _positive_rate(group["prediction"], task, positive)
        row.update({m: found.get(m, np.nan) for m in names if m in overall})
        out.append(row)
    result = pd.DataFrame(out).sort_values("rows", ascending=False, kind="stable")
    value, base = result[metric], overall[metric]
    worse = value - base if metric in LOWER_IS_BETTER else base - value
    limit = gap * base if metric in LOWER_IS_BETTER else gap
    enough = result["labelled"] >= min_labelled
    result["gap"] = value - base
    result["flagged"] = enough & (worse > limit)
    scored = value[enough].dropna()
    result = result.reset_index(drop=True)
    result.attrs.update(
        by=by,
        task=task,
        metric=metric,
        overall=overall,
        max_gap=float(scored.max() - scored.min()) if len(scored) else float("nan"),
    )
    return result
