"""/api/v1/models: registered models, their versions, aliases, promotion with gates (the
same gates as ``shipyard models promote``) and model cards."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse

from shipyard.errors import GateFailed
from shipyard.governance import Need
from shipyard.registry import ModelRegistry, model_card, model_statuses
from shipyard.server.authz import rule
from shipyard.server.deps import client_of
from shipyard.server.errors import json_error
from shipyard.server.routes._models_registry import (
    AliasIn,
    AliasMoveOut,
    ModelOut,
    ModelStatusOut,
    NewVersionIn,
    PromoteIn,
    VersionOut,
)
from shipyard.server.routes._params import VersionPath

router = APIRouter(prefix="/api/v1", tags=["registry"])

GATE_FAILED = {
    "description": "a gate did not hold; nothing moved. The error lists every gate's result",
    "content": {
        "application/json": {
            "example": {
                "error": {
                    "code": "GATE_FAILED",
                    "message": "churn version 2 was not promoted to 'production': ...",
                    "gates": [{"gate": "metrics.auc >= 0.9", "passed": False, "detail": "..."}],
                }
            }
        }
    },
}


def registry_of(request: Request) -> ModelRegistry:
    return ModelRegistry(client_of(request))


@router.get("/models", response_model=list[ModelOut])
@rule(Need.READ)
def list_models(request: Request) -> list[ModelOut]:
    """Every registered model with its aliases and latest version."""
    return [ModelOut.of(m) for m in registry_of(request).list_models()]


@router.get("/model-statuses", response_model=list[ModelStatusOut])
@rule(Need.READ)
def list_model_statuses(
    request: Request,
    stale_after_days: float | None = Query(
        None, gt=0, le=36_500, description="default: the model_stale_after setting"
    ),
) -> list[ModelStatusOut]:
    """Every model with its production alias, owner, last version and last prediction, and
    whether it is stale (idle too long, or its owner is gone), as ``shipyard models ls``."""
    return [ModelStatusOut.of(s) for s in model_statuses(client_of(request), stale_after_days)]


@router.get("/models/{name}", response_model=ModelOut)
@rule(Need.READ, "request", names="model")
def get_model(request: Request, name: str) -> ModelOut:
    return ModelOut.of(registry_of(request).get_model(name))


@router.get("/models/{name}/versions", response_model=list[VersionOut])
@rule(Need.READ, "request", names="model")
def list_versions(request: Request, name: str) -> list[VersionOut]:
    """A model's versions, newest first."""
    registry = registry_of(request)
    aliases = registry.get_model(name).aliases
    return [VersionOut.of(v.record, aliases) for v in registry.versions(name)]


@router.get("/models/{name}/versions/{version}", response_model=VersionOut)
@rule(Need.READ, "request", names="model")
def get_version(request: Request, name: str, version: VersionPath) -> VersionOut:
    registry = registry_of(request)
    record = registry.get_version(name, version).record
    return VersionOut.of(record, registry.get_model(name).aliases)


@router.post("/models/{name}/versions", response_model=VersionOut, status_code=201)
@rule(Need.WRITE, "body", names="model")
def create_version(request: Request, name: str, body: NewVersionIn) -> VersionOut:
    """Register an object logged as an artifact of a run as the next version of ``name``
    (the model is created on its first version)."""
    registry = registry_of(request)
    created = registry.register_model(
        name,
        run_id=body.run_id,
        artifact=body.artifact,
        flavor=body.flavor,
        feature_service=body.feature_service,
        metrics=body.metrics,
        requirements=body.requirements,
        owner=body.owner,
        description=body.description,
        tags=body.tags,
    )
    return VersionOut.of(created.record, registry.get_model(name).aliases)


@router.get("/models/{name}/aliases/{alias}", response_model=VersionOut)
@rule(Need.READ, "request", names="model")
def resolve_alias(request: Request, name: str, alias: str) -> VersionOut:
    """The version ``alias`` points at."""
    registry = registry_of(request)
    record = registry.get_version(f"models:/{name}@{alias}").record
    return VersionOut.of(record, registry.get_model(name).aliases)


@router.put("/models/{name}/aliases/{alias}", response_model=AliasMoveOut)
@rule(Need.WRITE, "request", names="model")
def set_alias(request: Request, name: str, alias: str, body: AliasIn) -> AliasMoveOut:
    """Point ``alias`` at a version (no gates: see promote); the move is recorded."""
    return AliasMoveOut.of(registry_of(request).set_alias(name, alias, body.version))


@router.delete("/models/{name}/aliases/{alias}", response_model=AliasMoveOut)
@rule(Need.WRITE, "request", names="model")
def delete_alias(request: Request, name: str, alias: str) -> AliasMoveOut:
    """Remove ``alias``; the removal is recorded."""
    return AliasMoveOut.of(registry_of(request).set_alias(name, alias, None))


@router.get("/models/{name}/alias-history", response_model=list[AliasMoveOut])
@rule(Need.READ, "request", names="model")
def alias_history(
    request: Request, name: str, alias: str | None = Query(None, description="only this alias")
) -> list[AliasMoveOut]:
    """Every move of the model's aliases (or of one), newest first, with gate results."""
    registry = registry_of(request)
    registry.get_model(name)  # 404 for an unknown model, not an empty list
    return [AliasMoveOut.of(m) for m in registry.alias_history(name, alias)]


@router.post(
    "/models/{name}/versions/{version}/promote",
    response_model=AliasMoveOut,
    responses={422: GATE_FAILED},
)
@rule(Need.WRITE, "request", names="model")
def promote(
    request: Request, name: str, version: VersionPath, body: PromoteIn
) -> AliasMoveOut | Response:
    """Move alias ``to`` to this version only if every gate holds against the version it
    points at now (the champion); the gate results are recorded with the move."""
    try:
        move = registry_of(request).promote(name, version, body.to, body.require)
    except GateFailed as exc:
        return json_error(exc.code, exc.message, exc.http_status, gates=exc.results)
    return AliasMoveOut.of(move)


@router.get(
    "/models/{name}/versions/{version}/card",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/markdown": {}, "text/html": {}}}},
)
@rule(Need.READ, "request", names="model")
def card(
    request: Request,
    name: str,
    version: VersionPath,
    format: Literal["markdown", "html"] = Query("markdown"),
) -> Response:
    """The version's model card: lineage, signature, metrics, requirements and the alias
    history with gate results, in Markdown or as a self-contained HTML page."""
    found = model_card(registry_of(request), name, version)
    if format == "html":
        return HTMLResponse(found.html)
    return PlainTextResponse(found.markdown, media_type="text/markdown; charset=utf-8")
