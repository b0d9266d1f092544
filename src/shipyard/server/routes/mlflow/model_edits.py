"""Registry edits MLflow's client can ask for: descriptions, model tags, stages (as
Shipyard's READY/ARCHIVED status), latest versions. Versions are immutable in Shipyard, and
nothing in the registry is deleted, so those requests are refused with MLflow's
INVALID_PARAMETER_VALUE and a message that says so."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from shipyard.errors import NotFound
from shipyard.governance import Need
from shipyard.server.authz import rule
from shipyard.server.routes.mlflow.context import Context, JsonBody, required
from shipyard.server.routes.mlflow.errors import INVALID, NOT_FOUND, MlflowError, MlflowRoute
from shipyard.server.routes.mlflow.models import version_json
from shipyard.store.base import RegisteredModel

Body = dict[str, Any]
_IMMUTABLE = "Shipyard's model versions are immutable: register a new version instead"
_KEPT = "Shipyard keeps every registered model and version (archive a version instead)"


def router(ctx: Context) -> APIRouter:
    api = APIRouter(prefix="/api/2.0/mlflow", route_class=MlflowRoute, include_in_schema=False)

    def model(name: Any) -> RegisteredModel:
        try:
            found: RegisteredModel = ctx.store.models.get_model(str(name))
        except NotFound:
            raise MlflowError(NOT_FOUND, f"Registered Model with name={name} not found") from None
        return found

    def summary(found: RegisteredModel) -> Body:
        return {
            "name": found.name,
            "creation_timestamp": found.created_ms,
            "last_updated_timestamp": found.updated_ms,
            "description": found.description,
            "tags": [{"key": k, "value": v} for k, v in sorted(found.tags.items())],
        }

    @api.patch("/registered-models/update")
    @rule(Need.WRITE, "body", names="model")
    def update(body: JsonBody) -> Body:
        found = model(required(body, "name"))
        description = body.get("description")
        updated = ctx.store.models.update_model(found.name, description=str(description or ""))
        return {"registered_model": summary(updated)}

    @api.post("/registered-models/set-tag")
    @rule(Need.WRITE, "body", names="model")
    def set_tag(body: JsonBody) -> Body:
        found = model(required(body, "name"))
        tags = {**found.tags, str(required(body, "key")): str(body.get("value", ""))}
        ctx.store.models.update_model(found.name, tags=tags)
        return {}

    @api.delete("/registered-models/delete-tag")
    @rule(Need.WRITE, "body", names="model")
    def delete_tag(body: JsonBody) -> Body:
        found = model(required(body, "name"))
        key = str(required(body, "key"))
        if key not in found.tags:
            raise MlflowError(NOT_FOUND, f"No tag with name: {key} in registered model")
        ctx.store.models.update_model(
            found.name, tags={k: v for k, v in found.tags.items() if k != key}
        )
        return {}

    @api.post("/model-versions/transition-stage")
    @rule(Need.WRITE, "body", names="model")
    def transition(body: JsonBody) -> Body:
        found = model(required(body, "name"))
        version = int(required(body, "version"))
        stage = str(required(body, "stage")).lower()
        status = {"archived": "ARCHIVED", "none": "READY"}.get(stage)
        if status is None:
            raise MlflowError(
                INVALID,
                f"stage {stage!r}: Shipyard has aliases instead of stages "
                "(set_registered_model_alias); only Archived and None map to a status",
            )
        record = ctx.store.models.set_version_status(found.name, version, status)
        return {"model_version": version_json(record, found.aliases)}

    @api.api_route("/registered-models/get-latest-versions", methods=["GET", "POST"])
    @rule(Need.READ, "body", names="model")
    def latest(body: JsonBody) -> Body:
        found = model(required(body, "name"))
        if not found.latest_version:
            return {"model_versions": []}
        record = ctx.store.models.get_model_version(found.name, found.latest_version)
        return {"model_versions": [version_json(record, found.aliases)]}

    @api.patch("/model-versions/update")
    @api.post("/model-versions/set-tag")
    @api.delete("/model-versions/delete-tag")
    @rule(Need.WRITE, "body", names="model")
    def immutable() -> Body:
        raise MlflowError(INVALID, _IMMUTABLE)

    @api.delete("/registered-models/delete")
    @api.delete("/model-versions/delete")
    @rule(Need.WRITE, "body", names="model")
    def kept() -> Body:
        raise MlflowError(INVALID, _KEPT)

    @api.api_route("/{rest:path}", methods=["GET", "POST", "PATCH", "DELETE", "PUT"])
    @rule(Need.READ, "any")
    def unknown(rest: str) -> Body:
        raise MlflowError(
            "ENDPOINT_NOT_FOUND", f"Shipyard does not serve MLflow's /api/2.0/mlflow/{rest}"
        )

    return api
