"""Request and response bodies of the registry routes."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shipyard._clock import from_millis


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelOut(BaseModel):
    name: str
    owner: str
    description: str
    tags: dict[str, str]
    created: datetime
    updated: datetime
    aliases: dict[str, int] = Field(description="alias -> version")
    latest_version: int

    @classmethod
    def of(cls, m: Any) -> ModelOut:
        return cls(
            name=m.name,
            owner=m.owner,
            description=m.description,
            tags=m.tags,
            created=from_millis(m.created_ms),
            updated=from_millis(m.updated_ms),
            aliases=m.aliases,
            latest_version=m.latest_version,
        )


class VersionOut(BaseModel):
    name: str
    version: int
    uri: str
    flavor: str
    blob_hash: str
    run_id: str | None
    dataset: str | None
    feature_service: str | None
    signature: dict[str, Any]
    requirements: list[str]
    metrics: dict[str, float]
    owner: str
    description: str
    tags: dict[str, str]
    status: str
    created_by: str
    created: datetime
    profile_hash: str | None
    aliases: list[str] = Field(description="the aliases pointing at this version")

    @classmethod
    def of(cls, r: Any, aliases: dict[str, int]) -> VersionOut:
        data = asdict(r)
        data["requirements"] = list(r.requirements)
        data["created"] = from_millis(data.pop("created_ms"))
        pointing = sorted(a for a, v in aliases.items() if v == r.version)
        return cls(uri=f"models:/{r.name}/{r.version}", aliases=pointing, **data)


class NewVersionIn(_Strict):
    """Register the object logged as ``artifact`` of run ``run_id`` (upload it first
    through the run's artifacts) as the next version of the model."""

    run_id: str
    artifact: str
    flavor: str | None = Field(None, description="default: inferred from the object")
    feature_service: str | None = None
    metrics: dict[str, float] | None = Field(None, description="default: the run's metrics")
    requirements: list[str] | None = None
    owner: str = ""
    description: str = ""
    tags: dict[str, str] = {}


class AliasIn(_Strict):
    version: int = Field(ge=1, le=2**31 - 1)


class PromoteIn(_Strict):
    to: str = Field("production", description="the alias to move")
    require: list[str] = Field(
        [],
        description='gates, as `shipyard models promote --require`: "metrics.auc >= '
        'champion.metrics.auc", "tags.reviewed == \'yes\'"',
    )


class AliasMoveOut(BaseModel):
    name: str
    alias: str
    from_version: int | None
    to_version: int | None = Field(description="None: the alias was removed")
    moved_by: str
    moved: datetime
    gates: list[dict[str, Any]]

    @classmethod
    def of(cls, m: Any) -> AliasMoveOut:
        return cls(
            name=m.name,
            alias=m.alias,
            from_version=m.from_version,
            to_version=m.to_version,
            moved_by=m.moved_by,
            moved=from_millis(m.moved_ms),
            gates=list(m.gates),
        )


class ModelStatusOut(BaseModel):
    """Which model is in production, who owns it, and is it stale."""

    model: ModelOut
    last_version: datetime = Field(description="when its latest version was registered")
    last_prediction: datetime | None
    stale: bool
    stale_reason: str | None

    @classmethod
    def of(cls, s: Any) -> ModelStatusOut:
        last = s.last_prediction_ms
        return cls(
            model=ModelOut.of(s.model),
            last_version=from_millis(s.last_version_ms),
            last_prediction=None if last is None else from_millis(last),
            stale=s.stale,
            stale_reason=s.stale_reason,
        )
