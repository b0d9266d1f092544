"""Model registry: immutable model versions with flavors, signatures, lineage and aliases."""

from shipyard.registry.flavors.python_model import ModelContext, PythonModel
from shipyard.registry.models import LoadedModel, ModelRegistry, ModelVersion
from shipyard.registry.signature import infer_signature

__all__ = [
    "LoadedModel",
    "ModelContext",
    "ModelRegistry",
    "ModelVersion",
    "PythonModel",
    "infer_signature",
    "load_model",
    "register_model",
    "set_model_alias",
]


def register_model(name: str, model: object = None, **kwargs: object) -> ModelVersion:
    """Register a model as the next version of ``name`` (see ModelRegistry.register_model)."""
    return ModelRegistry().register_model(name, model, **kwargs)  # type: ignore[arg-type]


def load_model(uri: str) -> LoadedModel:
    """Load ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``."""
    return ModelRegistry().load_model(uri)


def set_model_alias(name: str, alias: str, version: int | None) -> object:
    """Point an alias (production, staging, ...) at a version; None removes it."""
    return ModelRegistry().set_alias(name, alias, version)
