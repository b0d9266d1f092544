"""The model registry: models, immutable versions, aliases and their moves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class RegisteredModel:
    """A named model; its versions are numbered 1, 2, ... in order of registration."""

    name: str
    owner: str
    description: str
    tags: dict[str, str]
    created_ms: int
    updated_ms: int
    aliases: dict[str, int] = field(default_factory=dict)  # alias -> version
    latest_version: int = 0


@dataclass(frozen=True)
class NewModelVersion:
    """What ``register_model`` records. The model files are one content-addressed blob."""

    flavor: str  # sklearn | xgboost | lightgbm | pytorch | onnx | python_model
    blob_hash: str
    run_id: str | None = None  # the run (or flow task) that produced it
    dataset: str | None = None  # "project/name/version" of the training dataset
    feature_service: str | None = None  # "project/name" of the feature service it consumes
    signature: dict[str, Any] = field(default_factory=dict)  # inputs/outputs, from an example
    requirements: tuple[str, ...] = ()
    metrics: dict[str, float] = field(default_factory=dict)
    owner: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    profile_hash: str | None = None  # the reference profile (JSON blob) monitoring uses


@dataclass(frozen=True)
class ModelVersionRecord:
    name: str
    version: int
    flavor: str
    blob_hash: str
    run_id: str | None
    dataset: str | None
    feature_service: str | None
    signature: dict[str, Any]
    requirements: tuple[str, ...]
    metrics: dict[str, float]
    owner: str
    description: str
    tags: dict[str, str]
    status: str  # READY | ARCHIVED
    created_by: str
    created_ms: int
    profile_hash: str | None = None


@dataclass(frozen=True)
class AliasMove:
    """One move of an alias, kept forever: who moved it, when, from and to which version,
    and the results of the promotion gates checked before the move."""

    name: str
    alias: str
    from_version: int | None
    to_version: int | None  # None: the alias was removed
    moved_by: str
    moved_ms: int
    gates: list[dict[str, Any]] = field(default_factory=list)


UNCHECKED = -1  # move_alias: do not check where the alias pointed before


class ModelRegistryStore(Protocol):
    """Registered models, immutable versions, aliases and their history.

    Every method is one transaction.
    """

    def create_model_version(
        self, name: str, new: NewModelVersion, user: str, now_ms: int
    ) -> ModelVersionRecord:
        """The next version of ``name`` (the model is created on first registration; its
        owner and description default to the version's), with its ``model.registered``
        event in the same transaction."""
        ...

    def get_model(self, name: str) -> RegisteredModel: ...
    def list_models(self) -> list[RegisteredModel]: ...
    def update_model(
        self,
        name: str,
        owner: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> RegisteredModel: ...
    def get_model_version(self, name: str, version: int) -> ModelVersionRecord: ...
    def list_model_versions(self, name: str) -> list[ModelVersionRecord]:
        """Newest first."""
        ...

    def set_version_status(self, name: str, version: int, status: str) -> ModelVersionRecord: ...

    def move_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        user: str,
        now_ms: int,
        gates: Sequence[dict[str, Any]] = (),
        expected_from: int | None = UNCHECKED,
    ) -> AliasMove:
        """Point ``alias`` at ``version`` (None removes it) and record the move, atomically.

        Unless ``expected_from`` is UNCHECKED, the move is refused (Conflict) when the alias
        no longer points there (None: not set): a promotion decided against the old
        champion cannot race another one.
        """
        ...

    def resolve_alias(self, name: str, alias: str) -> int: ...
    def mark_owner_gone(self, owner: str, gone: bool, user: str, now_ms: int) -> None:
        """Record that ``owner`` left (or came back); their models then count as stale."""
        ...

    def gone_owners(self) -> dict[str, tuple[str, int]]:
        """Owner -> (marked by, when)."""
        ...

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        """Newest first."""
        ...
