"""Models in MLflow's format (a folder with an ``MLmodel`` file), as the ``mlflow`` client
registers them through the server's MLflow routes: the version's blob holds the folder
the client logged. Loaded with ``mlflow.pyfunc.load_model``, so loading one in Shipyard
needs the ``mlflow`` package (never a Shipyard dependency); the MLflow client loads them
without Shipyard (``mlflow.pyfunc.load_model("models:/NAME@ALIAS")``).

Never detected: a Python object is saved by its own framework's flavor.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidArgument, ShipyardError

MLMODEL_FILE = "MLmodel"


class MlflowFlavor:
    name = "mlflow"

    def detect(self, model: Any) -> bool:
        return False

    def save(self, model: Any, folder: str) -> None:
        raise InvalidArgument(
            "models in MLflow's format are registered by the mlflow client "
            "(mlflow.<flavor>.log_model(..., registered_model_name=...)) against "
            "`shipyard server`; register a Python object with its own flavor instead"
        )

    def load(self, folder: str) -> Any:
        if not Path(folder, MLMODEL_FILE).is_file():
            raise InvalidArgument(f"{folder} has no {MLMODEL_FILE} file: not an MLflow model")
        try:
            pyfunc = importlib.import_module("mlflow.pyfunc")
        except ModuleNotFoundError as exc:
            if (exc.name or "").partition(".")[0] != "mlflow":
                raise
            raise ShipyardError(
                "this version was registered by the mlflow client; loading it needs the "
                "'mlflow' package: pip install mlflow"
            ) from exc
        return pyfunc.load_model(folder)

    def requirements(self) -> list[str]:
        return ["mlflow"]


FLAVOR = MlflowFlavor()
