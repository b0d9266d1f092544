"""A faster way into scikit-learn models with numeric inputs: a float matrix instead of
a DataFrame.

For one row, building a DataFrame and letting scikit-learn validate its column names
costs several times the prediction itself. The server already checks every input against
the signature and puts the columns in the order the model was fitted on, so for a model
that gives the same answers on a matrix, it skips both. A model qualifies only if a probe
predicts identically both ways without a warning; otherwise the DataFrame path is kept.
The server's own copy of the model loses its ``feature_names_in_`` (the reason for the
warning), which is safe because every input reaches it through the server's checks.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from shipyard.serving.kernels import method_kernel, transform_kernel

NUMERIC = {"double", "float", "long", "integer", "boolean"}
PROBE_ROWS = 4
BATCH_PROBE_ROWS = 9


def matrix_order(flavor: str, model: Any, signature: dict[str, Any]) -> list[str] | None:
    """The column order to feed ``model`` a float matrix in, or None to keep DataFrames."""
    inputs = signature.get("inputs", [])
    if flavor != "sklearn" or not inputs or any(c["type"] not in NUMERIC for c in inputs):
        return None
    names = [c["name"] for c in inputs]
    fitted = getattr(model, "feature_names_in_", None)
    order = [str(n) for n in fitted] if fitted is not None else names
    if sorted(order) != sorted(names):
        return None
    probe = _probe_frame(inputs)[order]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            expected = np.asarray(model.predict(probe))
    except Exception:
        return None
    saved = list(_drop_feature_names(model))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = np.asarray(model.predict(probe.to_numpy(dtype=np.float64)))
        if caught or expected.shape != got.shape or not np.array_equal(expected, got):
            raise ValueError("differs")
    except Exception:
        for estimator, names_in in saved:  # not fit for a matrix: leave it as it was
            estimator.feature_names_in_ = names_in
        return None
    return order


def row_independent(model: Any, order: list[str], signature: dict[str, Any]) -> bool:
    """Whether ``model.predict`` on a matrix (in ``order``) answers each row of a batch
    exactly as it answers that row alone, on a probe of random rows: then requests may share
    a call (``serving.coalesce``). Exact equality, so a model whose arithmetic depends on the
    batch (even in the last bit) never shares."""
    inputs = {c["name"]: c for c in signature.get("inputs", [])}
    probe = _probe_frame([inputs[n] for n in order], BATCH_PROBE_ROWS, seed=1)
    matrix = probe.to_numpy(dtype=np.float64)
    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            together = np.asarray(model.predict(matrix))
            parts = [np.asarray(model.predict(matrix[i : i + 1])) for i in range(len(matrix))]
            pairs = [np.asarray(model.predict(matrix[i : i + 3])) for i in (0, 3, 6)]
    except Exception:
        return False
    if together.shape[:1] != (len(matrix),):
        return False
    alone = np.concatenate(parts)
    return bool(
        together.shape == alone.shape
        and np.array_equal(together, alone)
        and np.array_equal(np.concatenate(pairs), together)
    )


def _probe_frame(
    inputs: list[dict[str, Any]], rows: int = PROBE_ROWS, seed: int = 0
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {}
    for c in inputs:
        if c["type"] == "boolean":
            data[c["name"]] = rng.integers(0, 2, rows).astype(bool)
        elif c["type"] in ("long", "integer"):
            data[c["name"]] = rng.integers(-3, 4, rows)
        else:
            data[c["name"]] = rng.normal(size=rows)
    return pd.DataFrame(data)


def _drop_feature_names(model: Any) -> Iterator[tuple[Any, Any]]:
    """Remove ``feature_names_in_`` from the model and the estimators inside it."""
    for estimator in _estimators(model):
        names = estimator.__dict__.pop("feature_names_in_", None)
        if names is not None:
            yield estimator, names


def _estimators(model: Any) -> Iterator[Any]:
    yield model
    for _, step in getattr(model, "steps", []) or []:
        if step is not None and step != "passthrough":
            yield from _estimators(step)
    for _, transformer, _ in getattr(model, "transformers_", []) or []:
        if not isinstance(transformer, str):
            yield from _estimators(transformer)
    for estimator in getattr(model, "estimators_", []) or []:
        if hasattr(estimator, "__dict__"):
            yield from _estimators(estimator)


METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function")


def direct_methods(
    model: Any, order: list[str], signature: dict[str, Any]
) -> dict[str, Callable[[Any], Any]]:
    """A scikit-learn model's methods as plain calls: a ``Pipeline``'s steps one after the
    other, and each step as its numpy kernel where ``serving.kernels`` has one.

    ``Pipeline.predict_proba`` (and the others) checks that the pipeline is fitted, which
    computes the tags of every step, then calls each step's ``transform`` and the final
    step's method; nested pipelines do it again, and each step validates its input again.
    On one row that bookkeeping costs a hundred times the arithmetic. The server calls the
    same ``transform`` methods (or kernels) and the same final method itself, in the same
    order (nested pipelines flattened, ``None`` and ``"passthrough"`` steps skipped, as
    ``Pipeline`` does), for a plain fitted pipeline without caching (``memory``),
    ``transform_input`` or metadata routing, or for a bare estimator with a kernel; each
    method only if, on probes of one row and of a batch in ``order``, it answers exactly as
    the model does and without a warning, and refuses rows with NaN or infinity exactly when
    the model refuses them. Anything else keeps the model's own methods."""
    try:
        from sklearn import get_config
        from sklearn.pipeline import Pipeline
    except ImportError:
        return {}
    if get_config().get("enable_metadata_routing"):
        return {}
    chain = _flatten(model, Pipeline) if type(model) is Pipeline else ([], model)
    if chain is None:
        return {}
    steps, final = chain
    transforms = tuple(transform_kernel(step) or step.transform for step in steps)
    inputs = {c["name"]: c for c in signature.get("inputs", [])}
    probe = _probe_frame([inputs[n] for n in order], BATCH_PROBE_ROWS, seed=2)
    matrix = probe.to_numpy(dtype=np.float64)
    unusual = [_with(matrix, np.nan), _with(matrix, np.inf), _with(matrix, -np.inf)]
    found: dict[str, Callable[[Any], Any]] = {}
    for method in METHODS:
        own = getattr(model, method, None)
        last = getattr(final, method, None)
        if own is None or last is None:
            continue
        kernel = method_kernel(final, method)
        if not steps and kernel is None:
            continue  # a bare estimator without a kernel: nothing to gain
        direct = _chained(transforms, kernel or last)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            same = all(_same_answer(direct, own, m, must_answer=True) for m in (matrix[:1], matrix))
            same = same and all(_same_answer(direct, own, m) for m in unusual)
        if same and not caught:
            found[method] = direct
    return found


def _with(matrix: np.ndarray, value: float) -> np.ndarray:
    """The probe with ``value`` in one cell of each row, in a different column each."""
    out = matrix.copy()
    rows = np.arange(len(out))
    out[rows, rows % out.shape[1]] = value
    return out


def _same_answer(direct: Any, own: Any, x: np.ndarray, must_answer: bool = False) -> bool:
    """Whether ``direct(x)`` gives exactly ``own(x)``, or both raise (unless the model
    must answer)."""
    try:
        want = own(x.copy())
    except Exception:
        if must_answer:
            return False
        try:
            direct(x.copy())
        except Exception:
            return True
        return False
    try:
        return _identical(direct(x.copy()), want)
    except Exception:
        return False


def _chained(transforms: tuple[Callable[[Any], Any], ...], last: Callable[[Any], Any]) -> Any:
    def call(x: Any) -> Any:
        for transform in transforms:
            x = transform(x)
        return last(x)

    return call


def _identical(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


def _flatten(pipeline: Any, kind: type) -> tuple[list[Any], Any] | None:
    """(every transforming step in order, the final estimator) of a pipeline, or None if it
    is not a plain one (or its final step is not an estimator)."""
    if getattr(pipeline, "memory", None) is not None:
        return None
    if getattr(pipeline, "transform_input", None) is not None:
        return None
    transforms: list[Any] = []
    for _, step in pipeline.steps[:-1]:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        if type(step) is kind:  # a nested pipeline as a transformer: all of its steps
            inner = _flatten(step, kind)
            if inner is None:
                return None
            transforms += inner[0]
            if inner[1] is not None:
                if not hasattr(inner[1], "transform"):
                    return None
                transforms.append(inner[1])
        elif hasattr(step, "transform"):
            transforms.append(step)
        else:
            return None
    final = pipeline.steps[-1][1]
    if final is None or (isinstance(final, str) and final == "passthrough"):
        return transforms, None
    if type(final) is kind:
        inner = _flatten(final, kind)
        if inner is None:
            return None
        transforms += inner[0]
        final = inner[1]
    return transforms, final
