"""LightGBM models. A ``Booster`` is saved in LightGBM's text format (``model.txt``) and
loaded with ``lightgbm.Booster(model_file=...)``. A scikit-learn wrapper (LGBMClassifier,
LGBMRegressor, LGBMRanker) is pickled with cloudpickle (``estimator.pkl``): LightGBM has
no way to load a wrapper from its text file, and the pickle keeps ``predict``,
``predict_proba`` and the class labels exactly as fitted (inside it the booster is LightGBM's
text model again). ``requirements()`` pins the version, which such a pickle needs.
"""

from __future__ import annotations

import os
from typing import Any

from shipyard.registry.flavors._common import (
    EstimatorModel,
    by_value,
    from_package,
    in_fitted_order,
    pinned,
    require,
)

MODEL_FILE = "model.txt"
ESTIMATOR_FILE = "estimator.pkl"


def _lightgbm() -> Any:
    return require("lightgbm", "lightgbm", "lightgbm")


class BoosterModel:
    """A loaded ``lightgbm.Booster``: ``predict`` on a DataFrame (columns matched to the
    booster's feature names when it has them all) or an array."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster

    def predict(self, model_input: Any) -> Any:
        import pandas as pd

        if isinstance(model_input, pd.DataFrame):
            model_input = in_fitted_order(model_input, self.booster.feature_name())
        return self.booster.predict(model_input)


class LightGBMFlavor:
    name = "lightgbm"

    def detect(self, model: Any) -> bool:
        return from_package(model, "lightgbm") and hasattr(model, "predict")

    def save(self, model: Any, folder: str) -> None:
        lgb = _lightgbm()
        if isinstance(model, lgb.Booster):
            model.save_model(os.path.join(folder, MODEL_FILE))
            return
        import cloudpickle

        with by_value(model), open(os.path.join(folder, ESTIMATOR_FILE), "wb") as out:
            cloudpickle.dump(model, out)

    def load(self, folder: str) -> Any:
        lgb = _lightgbm()
        estimator_file = os.path.join(folder, ESTIMATOR_FILE)
        if not os.path.exists(estimator_file):
            return BoosterModel(lgb.Booster(model_file=os.path.join(folder, MODEL_FILE)))
        import cloudpickle

        with open(estimator_file, "rb") as src:
            return EstimatorModel(cloudpickle.load(src))

    def requirements(self) -> list[str]:
        _lightgbm()
        return pinned("lightgbm", "cloudpickle")


FLAVOR = LightGBMFlavor()
