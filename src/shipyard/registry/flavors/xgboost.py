"""XGBoost models in XGBoost's own format (``model.ubj``, UBJSON), which later XGBoost
releases promise to read; a pickle carries no such promise.

A ``Booster`` is loaded back behind a small adapter whose ``predict`` takes a DataFrame or
an array. A scikit-learn wrapper (XGBClassifier, XGBRegressor, XGBRanker...) is saved
with its own ``save_model`` and its class name in ``wrapper.json``: loading makes that
class again and calls ``load_model``, which restores the wrapper's attributes too (number
of classes, objective), so ``predict`` and ``predict_proba`` behave as they did. A
subclass defined in the user's code comes back as the XGBoost class it derives from.
"""

from __future__ import annotations

import json
import os
from typing import Any

from shipyard.errors import InvalidArgument
from shipyard.registry.flavors._common import (
    EstimatorModel,
    from_package,
    in_fitted_order,
    pinned,
    require,
)

MODEL_FILE = "model.ubj"
WRAPPER_FILE = "wrapper.json"


def _xgboost() -> Any:
    return require("xgboost", "xgboost", "xgboost")


class BoosterModel:
    """A loaded ``xgboost.Booster``: ``predict`` on a DataFrame (columns matched to the
    booster's feature names when it has them) or an array."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster

    def predict(self, model_input: Any) -> Any:
        import numpy as np
        import pandas as pd

        xgb = _xgboost()
        names = self.booster.feature_names
        if isinstance(model_input, pd.DataFrame):
            if names is None:  # fitted on an array: columns by position
                data = xgb.DMatrix(model_input.to_numpy())
            else:
                frame = in_fitted_order(model_input, names)
                data = xgb.DMatrix(frame, enable_categorical=True)
        else:
            data = xgb.DMatrix(np.asarray(model_input), feature_names=names)
        return self.booster.predict(data)


class XGBoostFlavor:
    name = "xgboost"

    def detect(self, model: Any) -> bool:
        return from_package(model, "xgboost") and hasattr(model, "predict")

    def save(self, model: Any, folder: str) -> None:
        xgb = _xgboost()
        if isinstance(model, xgb.Booster):
            model.save_model(os.path.join(folder, MODEL_FILE))
            return
        wrapper = _xgboost_class(model)
        if wrapper is None:
            raise InvalidArgument(
                f"a {type(model).__qualname__} is neither an xgboost.Booster nor one of "
                "XGBoost's scikit-learn estimators"
            )
        model.save_model(os.path.join(folder, MODEL_FILE))
        with open(os.path.join(folder, WRAPPER_FILE), "w") as out:
            json.dump({"class": wrapper}, out)

    def load(self, folder: str) -> Any:
        xgb = _xgboost()
        path = os.path.join(folder, MODEL_FILE)
        wrapper_file = os.path.join(folder, WRAPPER_FILE)
        if not os.path.exists(wrapper_file):
            booster = xgb.Booster()
            booster.load_model(path)
            return BoosterModel(booster)
        with open(wrapper_file) as src:
            module_name, _, class_name = json.load(src)["class"].rpartition(".")
        if module_name.partition(".")[0] != "xgboost":
            raise InvalidArgument(f"{folder}: {module_name!r} is not an XGBoost module")
        estimator = getattr(require(module_name, "xgboost", "xgboost"), class_name)()
        estimator.load_model(path)
        return EstimatorModel(estimator)

    def requirements(self) -> list[str]:
        _xgboost()
        return pinned("xgboost")


def _xgboost_class(model: Any) -> str | None:
    """The dotted name of the first class of XGBoost's own among ``model``'s classes, when
    it is a scikit-learn wrapper (it has ``save_model`` and ``get_params``)."""
    if not (hasattr(model, "save_model") and hasattr(model, "get_params")):
        return None
    for cls in type(model).__mro__:
        if cls.__module__.partition(".")[0] == "xgboost":
            return f"{cls.__module__}.{cls.__qualname__}"
    return None


FLAVOR = XGBoostFlavor()
