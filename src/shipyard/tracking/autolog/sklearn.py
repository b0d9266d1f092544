"""scikit-learn autolog: every estimator's ``fit`` logs params, training metrics and model.

Only the outermost ``fit`` logs (a pipeline or a grid search fits inner estimators many
times). With no active run, each fit gets its own run, ended when the fit returns.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import warnings
from collections.abc import Callable
from typing import Any

from shipyard.store import RunStatus
from shipyard.tracking import fluent

log = logging.getLogger(__name__)
_state = threading.local()
_originals: dict[type, Callable[..., Any]] = {}
_options = {"log_models": True}


def enable(log_models: bool = True) -> None:
    from sklearn.utils import all_estimators

    _options["log_models"] = log_models
    for _name, estimator in all_estimators():
        # abstract bases such as BaseSearchCV define the fit their subclasses use
        for cls in estimator.__mro__:
            fit = cls.__dict__.get("fit")
            if fit is not None and cls not in _originals and cls.__module__.startswith("sklearn"):
                _originals[cls] = fit
                setattr(cls, "fit", _patched(fit))  # noqa: B010


def disable() -> None:
    for cls, fit in _originals.items():
        setattr(cls, "fit", fit)  # noqa: B010
    _originals.clear()


def _patched(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(_state, "depth", 0) > 0:
            return original(self, *args, **kwargs)
        _state.depth = 1
        try:
            return _fit_and_log(original, self, args, kwargs)
        finally:
            _state.depth = 0

    return fit


def _fit_and_log(original: Callable[..., Any], model: Any, args: Any, kwargs: Any) -> Any:
    run = fluent.active_run()
    owned = run is None
    if run is None:
        run = fluent.start_run(run_name=type(model).__name__)
    try:
        run.log_params(_params(model))
        run.set_tags({"estimator_class": f"{type(model).__module__}.{type(model).__name__}"})
        result = original(model, *args, **kwargs)
        X = args[0] if args else kwargs.get("X")
        y = args[1] if len(args) > 1 else kwargs.get("y")
        metrics = _training_metrics(model, X, y) if X is not None and y is not None else {}
        if hasattr(model, "best_score_"):
            metrics["best_cv_score"] = float(model.best_score_)
            run.log_params({f"best_{k}": v for k, v in model.best_params_.items()})
        run.log_metrics({k: v for k, v in metrics.items() if math.isfinite(v)})
        if _options["log_models"]:
            run.client.log_object(run.id, model, "model")
    except BaseException:
        if owned:
            run.end(RunStatus.FAILED)
        raise
    if owned:
        run.end(RunStatus.FINISHED)
    return result


def _params(model: Any) -> dict[str, Any]:
    return {k: v for k, v in model.get_params(deep=False).items() if k != "estimator"}


def _training_metrics(model: Any, X: Any, y: Any) -> dict[str, float]:
    from sklearn import metrics as m
    from sklearn.base import is_classifier, is_regressor

    out: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if is_classifier(model):
                predicted = model.predict(X)
                out["training_accuracy"] = m.accuracy_score(y, predicted)
                out["training_f1"] = m.f1_score(y, predicted, average="weighted")
                out["training_precision"] = m.precision_score(y, predicted, average="weighted")
                out["training_recall"] = m.recall_score(y, predicted, average="weighted")
                if hasattr(model, "predict_proba"):
                    proba = model.predict_proba(X)
                    out["training_log_loss"] = m.log_loss(y, proba, labels=model.classes_)
                    if proba.shape[1] == 2:
                        out["training_roc_auc"] = m.roc_auc_score(y, proba[:, 1])
            elif is_regressor(model):
                predicted = model.predict(X)
                mse = m.mean_squared_error(y, predicted)
                out.update(
                    training_mse=mse,
                    training_rmse=math.sqrt(mse),
                    training_mae=m.mean_absolute_error(y, predicted),
                    training_r2=m.r2_score(y, predicted),
                )
            elif hasattr(model, "score"):
                out["training_score"] = model.score(X, y)
        except Exception as exc:  # metrics are a bonus; never break the user's fit
            log.warning("autolog could not compute training metrics: %s", exc)
    return {k: float(v) for k, v in out.items()}
