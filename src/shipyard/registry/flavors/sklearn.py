"""scikit-learn estimators and pipelines, pickled with cloudpickle (custom transformers
defined in a notebook travel by value)."""

from __future__ import annotations

import os
from typing import Any

MODEL_FILE = "model.pkl"


class SklearnFlavor:
    name = "sklearn"

    def detect(self, model: Any) -> bool:
        module = type(model).__module__
        return (module.startswith("sklearn.") or _is_estimator(model)) and hasattr(model, "predict")

    def save(self, model: Any, folder: str) -> None:
        import cloudpickle

        with open(os.path.join(folder, MODEL_FILE), "wb") as out:
            cloudpickle.dump(model, out)

    def load(self, folder: str) -> Any:
        import cloudpickle

        with open(os.path.join(folder, MODEL_FILE), "rb") as src:
            return cloudpickle.load(src)

    def requirements(self) -> list[str]:
        import sklearn

        return [f"scikit-learn=={sklearn.__version__}"]


def _is_estimator(model: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:
        return False
    return isinstance(model, BaseEstimator)


FLAVOR = SklearnFlavor()
