"""``PythonModel``: any model as a user class with ``load_context`` and ``predict``, for
frameworks without a flavor (MLflow's pyfunc idea)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from shipyard.registry.flavors._common import by_value

MODEL_FILE = "python_model.pkl"


@dataclass
class ModelContext:
    """What ``load_context`` receives: the folder the model was unpacked into."""

    folder: str
    artifacts: dict[str, str] = field(default_factory=dict)


class PythonModel:
    """Subclass and implement ``predict(context, model_input)``; ``load_context`` runs once
    after loading (open files, warm caches)."""

    def load_context(self, context: ModelContext) -> None:
        """Called once when the model is loaded."""

    def predict(self, context: ModelContext, model_input: Any) -> Any:
        raise NotImplementedError("implement predict(context, model_input)")


class _Loaded:
    """Gives a PythonModel the plain ``predict(model_input)`` every flavor has."""

    def __init__(self, model: PythonModel, context: ModelContext) -> None:
        self.model = model
        self.context = context

    def predict(self, model_input: Any) -> Any:
        return self.model.predict(self.context, model_input)


class PythonModelFlavor:
    name = "python_model"

    def detect(self, model: Any) -> bool:
        return isinstance(model, PythonModel)

    def save(self, model: Any, folder: str) -> None:
        import cloudpickle

        # a class in the user's files travels with the model
        with by_value(model), open(os.path.join(folder, MODEL_FILE), "wb") as out:
            cloudpickle.dump(model, out)

    def load(self, folder: str) -> Any:
        import cloudpickle

        with open(os.path.join(folder, MODEL_FILE), "rb") as src:
            model: PythonModel = cloudpickle.load(src)
        context = ModelContext(folder)
        model.load_context(context)
        return _Loaded(model, context)

    def requirements(self) -> list[str]:
        import cloudpickle

        return [f"cloudpickle=={cloudpickle.__version__}"]


FLAVOR = PythonModelFlavor()
