"""Shared by ``performance`` and ``segments``: the labelled rows, the task, and the metrics
of one group (kept apart so that importing one never shadows the other's lazy export)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidArgument

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

TASKS = ("classification", "regression")
CLASSIFICATION = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION = ("mae", "rmse", "r2")
_WINDOW = re.compile(r"^(\d+)\s*(s|min|m|h|d|w)$")
_UNITS = {"s": "s", "min": "min", "m": "min", "h": "h", "d": "D", "w": "W"}


CALL_ID = 26  # hex digits of a call id: a prediction id is the call id and 6 for its row


def call_counts(frame: pd.DataFrame) -> tuple[int, int]:
    """(calls, failed calls) of a frame shaped like ``read_window``'s: a failed call is one
    row with an ``error``; the calls are the distinct call ids (every row is one call when
    the frame has no ``prediction_id``)."""
    errors = int(frame["error"].notna().sum()) if "error" in frame.columns else 0
    if "prediction_id" in frame.columns:
        calls = int(frame["prediction_id"].astype(str).str[:CALL_ID].nunique())
    else:
        calls = len(frame)
    return calls, errors


def labelled_rows(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("prediction", "label"):
        if column not in frame.columns:
            raise InvalidArgument(
                f"the frame has no {column!r} column; pass a frame from read_window"
            )
    labelled = frame[frame["label"].notna()]
    if len(labelled) == 0:
        raise InvalidArgument(
            f"none of the {len(frame):,} predictions has a label; attach ground truth with "
            "shipyard.serving.log_labels(prediction_ids, labels) first"
        )
    return labelled


def is_scores(predictions: pd.Series) -> bool:
    first = predictions.dropna()
    return (
        len(first) > 0
        and hasattr(first.iloc[0], "__len__")
        and not isinstance(first.iloc[0], str | dict)
    )


def infer_task(labelled: pd.DataFrame, task: str | None = None) -> str:
    import pandas as pd

    if task is not None:
        if task not in TASKS:
            raise InvalidArgument(f"task must be one of {', '.join(TASKS)}, not {task!r}")
        return task
    if is_scores(labelled["prediction"]):
        return "classification"
    labels = pd.Series(labelled["label"].tolist())
    predictions = pd.Series(labelled["prediction"].tolist())
    if not all(pd.api.types.is_number(v) and not isinstance(v, bool) for v in labels):
        return "classification"
    numbers = pd.to_numeric(labels), pd.to_numeric(predictions, errors="coerce")
    whole = all(bool((s.dropna() % 1 == 0).all()) for s in numbers)
    return "classification" if whole else "regression"


def metrics(labels: Sequence[Any], predictions: pd.Series, task: str) -> dict[str, float]:
    """The task's metrics of one group of labelled rows."""
    import numpy as np

    if task == "regression":
        from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

        y = np.asarray(labels, dtype=float)
        p = np.asarray(predictions.tolist(), dtype=float)
        return {
            "mae": float(mean_absolute_error(y, p)),
            "rmse": float(np.sqrt(mean_squared_error(y, p))),
            "r2": float(r2_score(y, p)) if len(y) > 1 else float("nan"),
        }
    return _classification(list(labels), predictions)


def _classification(labels: list[Any], predictions: pd.Series) -> dict[str, float]:
    import numpy as np
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    proba = None
    y = _labels_array(labels)
    if is_scores(predictions):
        proba = np.vstack([np.asarray(v, dtype=float) for v in predictions])
        classes = _classes(y, proba.shape[1])
        predicted = classes[proba.argmax(axis=1)]
    else:
        predicted = _labels_array(predictions.tolist())
        classes = np.unique(np.concatenate([y, predicted]))
    binary = len(classes) <= 2
    kw: dict[str, Any] = {"zero_division": 0}
    if binary and len(classes) == 2:
        kw.update(average="binary", pos_label=classes[-1])
    else:
        kw.update(average="macro", labels=classes)
    out = {
        "accuracy": float(accuracy_score(y, predicted)),
        "precision": float(precision_score(y, predicted, **kw)),
        "recall": float(recall_score(y, predicted, **kw)),
        "f1": float(f1_score(y, predicted, **kw)),
    }
    if proba is not None:
        two = len(np.unique(y)) >= 2
        if proba.shape[1] == 2:
            auc = roc_auc_score(y, proba[:, 1]) if two else float("nan")
        else:
            auc = roc_auc_score(y, proba, multi_class="ovr", labels=classes) if two else np.nan
        out["roc_auc"] = float(auc)
        out["log_loss"] = float(log_loss(y, proba, labels=classes))
    return out


def _labels_array(values: list[Any]) -> np.ndarray:
    import numpy as np

    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        array = np.asarray(values, dtype=float)
        return array.astype(int) if bool((array % 1 == 0).all()) else array
    return np.asarray([str(v) if not isinstance(v, bool) else v for v in values])


def _classes(y: np.ndarray, k: int) -> np.ndarray:
    import numpy as np

    classes = np.unique(y)
    if len(classes) == k:
        return classes
    if np.issubdtype(classes.dtype, np.integer) and classes.min() >= 0 and classes.max() < k:
        return np.arange(k)  # labels are the column indexes (0..k-1)
    raise InvalidArgument(
        f"the predictions are probability vectors of {k} classes but the labels hold "
        f"{len(classes)} ({', '.join(map(str, classes[:5]))}); label with the class indexes "
        "0..k-1 or with every class"
    )


def window_floor(ts: pd.Series, window: str) -> tuple[pd.Series, Any]:
    import pandas as pd

    match = _WINDOW.match(window.strip())
    if match is None:
        raise InvalidArgument(f"window {window!r} is not a duration like 15min, 1h or 1d")
    freq = pd.Timedelta(f"{match[1]}{_UNITS[match[2]]}")
    return ts.dt.floor(freq), freq
