"""Model flavors: how a kind of model is saved into a folder, loaded back and described.

Built-ins register through the same lazy registry as third parties (entry point group
``shipyard.flavors``); detection asks each loaded flavor in order. The framework flavors
(xgboost, lightgbm, pytorch, onnx) import their framework only to save or load, and say
which extra to install when it is missing (``pip install 'shipyard[xgboost]'``).
"""

from __future__ import annotations

from typing import Any, Protocol

from shipyard._plugins import Registry
from shipyard.errors import InvalidArgument


class Flavor(Protocol):
    name: str

    def detect(self, model: Any) -> bool:
        """Is ``model`` of this flavor? Must not import a framework the user lacks."""
        ...

    def save(self, model: Any, folder: str) -> None: ...
    def load(self, folder: str) -> Any:
        """An object with ``predict(model_input)``."""
        ...

    def requirements(self) -> list[str]: ...


FLAVORS = Registry(
    "model flavor",
    {
        "python_model": "shipyard.registry.flavors.python_model:FLAVOR",
        "sklearn": "shipyard.registry.flavors.sklearn:FLAVOR",
        "xgboost": "shipyard.registry.flavors.xgboost:FLAVOR",
        "lightgbm": "shipyard.registry.flavors.lightgbm:FLAVOR",
        "pytorch": "shipyard.registry.flavors.pytorch:FLAVOR",
        "onnx": "shipyard.registry.flavors.onnx:FLAVOR",
        "mlflow": "shipyard.registry.flavors.mlflow:FLAVOR",
    },
    entry_point_group="shipyard.flavors",
)
# XGBoost's and LightGBM's scikit-learn wrappers are scikit-learn estimators too: their own
# flavors (native formats) must be asked first. Framework flavors detect by the model's
# type's module names, so asking them imports no framework.
DETECTION_ORDER = ("python_model", "xgboost", "lightgbm", "sklearn", "pytorch", "onnx")


def flavor_for(model: Any, name: str | None = None) -> Flavor:
    if name is not None:
        flavor: Flavor = FLAVORS.load(name)
        return flavor
    for candidate in DETECTION_ORDER:
        flavor = FLAVORS.load(candidate)
        if flavor.detect(model):
            return flavor
    raise InvalidArgument(
        f"cannot tell the flavor of a {type(model).__module__}.{type(model).__qualname__}; "
        f"pass flavor= (known: {', '.join(FLAVORS.names())}) or wrap it in a "
        "shipyard.PythonModel"
    )


def load_flavor(name: str) -> Flavor:
    flavor: Flavor = FLAVORS.load(name)
    return flavor
