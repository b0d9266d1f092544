"""The arithmetic of a few common scikit-learn estimators, in numpy, without the checks.

On one row, scikit-learn spends almost all of a ``transform`` or ``predict_proba`` in
input validation (dataframe detection, tags, dtype and finiteness checks): ~300 µs per
step, against a few µs of arithmetic. The server already validates every input, so for
the estimators below it can run the same numpy operations, in the same order, itself.
A kernel is only a candidate: ``fastpath.direct_methods`` uses it only if it answers a
probe exactly as the estimator does (and refuses NaN and infinity where the estimator
does). Anything not listed, or configured in a way not covered here, keeps its own
methods.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

Kernel = Callable[[np.ndarray], np.ndarray]


def transform_kernel(step: Any) -> Kernel | None:
    """A numpy ``step.transform`` for a fitted imputer or scaler, or None."""
    kind = _sklearn_type(step)
    if kind == "SimpleImputer":
        return _imputer(step)
    if kind == "StandardScaler":
        return _standard_scaler(step)
    if kind == "MinMaxScaler":
        return _min_max_scaler(step)
    return None


def method_kernel(estimator: Any, method: str) -> Kernel | None:
    """A numpy ``estimator.<method>`` for a fitted linear model, or None."""
    kind = _sklearn_type(estimator)
    if kind == "LogisticRegression":
        return _logistic(estimator, method)
    if kind in ("LinearRegression", "Ridge") and method == "predict":
        return _decision(estimator, flatten=False)
    return None


def _sklearn_type(estimator: Any) -> str | None:
    module = type(estimator).__module__
    return type(estimator).__name__ if module.startswith("sklearn.") else None


def _width(estimator: Any) -> int | None:
    width = getattr(estimator, "n_features_in_", None)
    return int(width) if isinstance(width, int | np.integer) else None


def _check(x: np.ndarray, width: int, allow_nan: bool) -> None:
    """The checks scikit-learn makes on a float matrix that can change the answer."""
    if x.ndim != 2 or x.shape[1] != width:
        raise ValueError(f"X has {x.shape[-1]} features, but the model expects {width}")
    if allow_nan:
        if np.isinf(x).any():
            raise ValueError("Input X contains infinity or a value too large for float64.")
    elif not np.isfinite(x).all():
        raise ValueError("Input X contains NaN or infinity.")


def _imputer(step: Any) -> Kernel | None:
    missing = step.missing_values
    width = _width(step)
    try:  # "constant" keeps its fill values as objects
        fill = np.asarray(step.statistics_, dtype=np.float64)
    except (AttributeError, TypeError, ValueError):
        return None
    if (
        width is None
        or step.add_indicator
        or not (isinstance(missing, float) and math.isnan(missing))
        or fill.shape != (width,)
        or not np.isfinite(fill).all()
    ):
        return None

    def transform(x: np.ndarray) -> np.ndarray:
        _check(x, width, allow_nan=True)
        return np.where(np.isnan(x), fill, x)

    return transform


def _standard_scaler(step: Any) -> Kernel | None:
    width = _width(step)
    mean, scale = getattr(step, "mean_", None), getattr(step, "scale_", None)
    if width is None or (step.with_mean and mean is None) or (step.with_std and scale is None):
        return None

    def transform(x: np.ndarray) -> np.ndarray:
        _check(x, width, allow_nan=True)
        out = x - mean if step.with_mean else x.copy()
        if step.with_std:
            out /= scale
        return out

    return transform


def _min_max_scaler(step: Any) -> Kernel | None:
    width = _width(step)
    low, high = step.feature_range
    if width is None or getattr(step, "scale_", None) is None:
        return None

    def transform(x: np.ndarray) -> np.ndarray:
        _check(x, width, allow_nan=True)
        out: np.ndarray = x * step.scale_
        out += step.min_
        if step.clip:
            np.clip(out, low, high, out=out)
        return out

    return transform


def _decision(model: Any, flatten: bool = True) -> Kernel | None:
    """``X @ coef_.T + intercept_``, as linear models compute it; ``flatten`` makes one
    column one dimension, as classifiers' ``decision_function`` does."""
    coef, intercept, width = (
        model.__dict__.get("coef_"),
        model.__dict__.get("intercept_"),
        (_width(model)),
    )
    if width is None or not isinstance(coef, np.ndarray) or coef.dtype != np.float64:
        return None
    coef_t = coef.T

    def decision(x: np.ndarray) -> np.ndarray:
        _check(x, width, allow_nan=False)
        scores = np.asarray(x @ coef_t + intercept)
        if flatten and scores.ndim > 1 and scores.shape[1] == 1:
            return scores.reshape(-1)
        return scores

    return decision


def _logistic(model: Any, method: str) -> Kernel | None:
    decision = _decision(model)
    classes = getattr(model, "classes_", None)
    if decision is None or not isinstance(classes, np.ndarray):
        return None
    if method == "decision_function":
        return decision
    if method == "predict":

        def predict(x: np.ndarray) -> np.ndarray:
            scores = decision(x)
            indices = (scores > 0).astype(np.intp) if scores.ndim == 1 else scores.argmax(axis=1)
            return classes.take(indices, axis=0)

        return predict
    if method not in ("predict_proba", "predict_log_proba"):
        return None
    from scipy.special import expit
    from sklearn.utils.extmath import softmax

    def predict_proba(x: np.ndarray) -> np.ndarray:
        scores = decision(x)
        if len(classes) > 2:
            return np.asarray(softmax(scores, copy=False))
        prob = expit(scores, out=scores)
        return np.stack([1 - prob, prob], axis=1)

    if method == "predict_proba":
        return predict_proba
    return lambda x: np.log(predict_proba(x))
