"""Model registry: immutable model versions with flavors, signatures, lineage and aliases."""

from collections.abc import Iterable

from shipyard._names import parse_model_ref
from shipyard.registry.build import build_model
from shipyard.registry.cards import ModelCard, model_card
from shipyard.registry.flavors.python_model import ModelContext, PythonModel
from shipyard.registry.gates import parse_gate
from shipyard.registry.models import (
    LoadedModel,
    ModelRegistry,
    ModelVersion,
    load_model_dir,
)
from shipyard.registry.signature import infer_signature
from shipyard.registry.status import ModelStatus, mark_owner_gone, model_statuses
from shipyard.store.base import AliasMove

__all__ = [
    "AliasMove",
    "LoadedModel",
    "ModelCard",
    "ModelContext",
    "ModelRegistry",
    "ModelStatus",
    "ModelVersion",
    "PythonModel",
    "build_model",
    "infer_signature",
    "load_model",
    "load_model_dir",
    "mark_owner_gone",
    "model_card",
    "model_statuses",
    "parse_gate",
    "parse_model_ref",
    "promote_model",
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


def promote_model(
    name: str, version: int, to: str = "production", require: Iterable[str] = ()
) -> AliasMove:
    """Move alias ``to`` to ``version`` if every gate in ``require`` holds (GateFailed
    otherwise, and nothing moves); see ModelRegistry.promote."""
    return ModelRegistry().promote(name, version, to, require)
