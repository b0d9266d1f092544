"""``PythonModel``: any model as a user class with ``load_context`` and ``predict``, for
frameworks without a flavor (MLflow's pyfunc idea)."""

from __future__ import annotations

import os
import sys
import sysconfig
from dataclasses import dataclass, field
from typing import Any

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

        module = sys.modules.get(type(model).__module__)
        by_value = module is not None and _is_users_code(module)
        if by_value:  # the class lives in the user's files: ship its code with the model
            cloudpickle.register_pickle_by_value(module)
        try:
            with open(os.path.join(folder, MODEL_FILE), "wb") as out:
                cloudpickle.dump(model, out)
        finally:
            if by_value:
                cloudpickle.unregister_pickle_by_value(module)

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


def _is_users_code(module: Any) -> bool:
    """A module of the user's project, not an installed package or the standard library."""
    path = getattr(module, "__file__", None) or ""
    if module.__name__ == "__main__" or not path:
        return False  # cloudpickle already pickles __main__ by value
    installed = ("site-packages", "dist-packages", sysconfig.get_paths()["stdlib"])
    return not any(marker in path for marker in installed)


FLAVOR = PythonModelFlavor()
