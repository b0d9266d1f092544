"""``/api/2.0/mlflow/registered-models`` and ``model-versions``: Shipyard's model registry.

A version registered through MLflow packs the files of its source (a logged model, or a
run's artifact folder) into one content-addressed blob, like every registry version, with
the ``mlflow`` flavor; its MLflow source and model id are kept as private version tags.
Shipyard creates a registered model with its first version, so ``registered-models/create``
only checks the name is free; the model appears once a version is registered.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from shipyard._names import model_name
from shipyard.errors import NotFound
from shipyard.governance import Need
from shipyard.server.authz import rule
from shipyard.server.routes.mlflow.context import Context, JsonBody, required, tag_dict, tag_list
from shipyard.server.routes.mlflow.errors import (
    EXISTS,
    INVALID,
    NOT_FOUND,
    MlflowError,
    MlflowRoute,
)
from shipyard.server.routes.mlflow.packing import MODEL_ID_TAG, SOURCE_TAG, Packer
from shipyard.server.routes.mlflow.search import filter_json, page, page_size, sort_json
from shipyard.store.base import ModelVersionRecord, NewModelVersion, RegisteredModel

Body = dict[str, Any]
_PRIVATE = (SOURCE_TAG, MODEL_ID_TAG)
_MODEL_ORDER = {  # the first is the default and the tie-breaker
    "name": lambda m: m["name"],
    "creation_timestamp": lambda m: m["creation_timestamp"],
    "last_updated_timestamp": lambda m: m["last_updated_timestamp"],
}


def version_json(record: ModelVersionRecord, aliases: dict[str, int]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": record.name,
        "version": str(record.version),
        "creation_timestamp": record.created_ms,
        "last_updated_timestamp": record.created_ms,
        "user_id": record.created_by,
        "current_stage": "Archived" if record.status == "ARCHIVED" else "None",
        "description": record.description,
        "source": record.tags.get(SOURCE_TAG, f"models:/{record.name}/{record.version}"),
        "status": "READY",
        "tags": tag_list({k: v for k, v in record.tags.items() if k not in _PRIVATE}),
        "aliases": sorted(a for a, v in aliases.items() if v == record.version),
    }
    if record.run_id:
        data["run_id"] = record.run_id
    if MODEL_ID_TAG in record.tags:
        data["model_id"] = record.tags[MODEL_ID_TAG]
    return data


def model_json(model: RegisteredModel, latest: ModelVersionRecord | None) -> dict[str, Any]:
    return {
        "name": model.name,
        "creation_timestamp": model.created_ms,
        "last_updated_timestamp": model.updated_ms,
        "description": model.description,
        "tags": tag_list(model.tags),
        "aliases": [{"alias": a, "version": str(v)} for a, v in sorted(model.aliases.items())],
        **({"latest_versions": [version_json(latest, model.aliases)]} if latest else {}),
    }


def _version_number(body: Body) -> int:
    raw = required(body, "version")
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise MlflowError(INVALID, f"Model version must be an integer, got '{raw}'") from None


def router(ctx: Context) -> APIRouter:
    api = APIRouter(prefix="/api/2.0/mlflow", route_class=MlflowRoute, include_in_schema=False)
    packer = Packer(ctx)

    def models_store() -> Any:
        return ctx.store.models

    def get_model(name: Any) -> RegisteredModel:
        try:
            model: RegisteredModel = models_store().get_model(str(name))
        except NotFound:
            raise MlflowError(NOT_FOUND, f"Registered Model with name={name} not found") from None
        return model

    def get_version(name: Any, version: int) -> ModelVersionRecord:
        get_model(name)
        try:
            record: ModelVersionRecord = models_store().get_model_version(str(name), version)
        except NotFound:
            raise MlflowError(
                NOT_FOUND, f"Model Version (name={name}, version={version}) not found"
            ) from None
        return record

    def registered(model: RegisteredModel) -> dict[str, Any]:
        latest = models_store().get_model_version(model.name, model.latest_version)
        return model_json(model, latest if model.latest_version else None)

    @api.post("/registered-models/create")
    @rule(Need.WRITE, "body", names="model")
    def create_model(body: JsonBody) -> Body:
        name = model_name(required(body, "name"))
        try:
            models_store().get_model(name)
        except NotFound:
            now = ctx.now_ms()
            return {
                "registered_model": {
                    "name": name,
                    "creation_timestamp": now,
                    "last_updated_timestamp": now,
                    "description": str(body.get("description") or ""),
                    "tags": tag_list(tag_dict(body.get("tags"))),
                }
            }
        raise MlflowError(EXISTS, f"Registered Model (name={name}) already exists.")

    @api.get("/registered-models/get")
    @rule(Need.READ, "body", names="model")
    def get_registered(body: JsonBody) -> Body:
        return {"registered_model": registered(get_model(required(body, "name")))}

    @api.api_route("/registered-models/search", methods=["GET", "POST"])
    @rule(Need.READ, "body", names="model")
    def search_models(body: JsonBody) -> Body:
        text = str(body.get("filter") or "")
        found = [registered(m) for m in models_store().list_models()]
        found = filter_json(found, text, {"name": "name"}, registry=True)
        order = body.get("order_by") or []
        found = sort_json(found, [order] if isinstance(order, str) else order, _MODEL_ORDER)
        items, token = page(found, page_size(body, 100), body.get("page_token"))
        return {"registered_models": items, **({"next_page_token": token} if token else {})}

    @api.post("/model-versions/create")
    @rule(Need.WRITE, "body", names="model")
    def create_version(body: JsonBody) -> Body:
        name = model_name(required(body, "name"))
        source = str(required(body, "source"))
        blob, run_id, model_id = packer.pack(source, body.get("model_id"), body.get("run_id"))
        tags = tag_dict(body.get("tags"))
        tags[SOURCE_TAG] = source
        if model_id:
            tags[MODEL_ID_TAG] = model_id
        new = NewModelVersion(
            flavor="mlflow",
            blob_hash=blob,
            run_id=run_id,
            description=str(body.get("description") or ""),
            tags=tags,
            metrics=packer.metrics(run_id),
        )
        user = str(body.get("user_id") or "mlflow")
        record = models_store().create_model_version(name, new, user, ctx.now_ms())
        return {"model_version": version_json(record, {})}

    @api.get("/model-versions/get")
    @rule(Need.READ, "body", names="model")
    def get_model_version(body: JsonBody) -> Body:
        name = required(body, "name")
        record = get_version(name, _version_number(body))
        return {"model_version": version_json(record, get_model(name).aliases)}

    @api.get("/model-versions/get-download-uri")
    @rule(Need.READ, "body", names="model")
    def download_uri(body: JsonBody) -> Body:
        record = get_version(required(body, "name"), _version_number(body))
        return {"artifact_uri": packer.download_uri(record)}

    @api.post("/registered-models/alias")
    @rule(Need.WRITE, "body", names="model")
    def set_alias(body: JsonBody) -> Body:
        name = required(body, "name")
        version = _version_number(body)
        get_version(name, version)
        user = str(body.get("user_id") or "mlflow")
        models_store().move_alias(
            str(name), str(required(body, "alias")), version, user, ctx.now_ms()
        )
        return {}

    @api.delete("/registered-models/alias")
    @rule(Need.WRITE, "body", names="model")
    def delete_alias(body: JsonBody) -> Body:
        name = required(body, "name")
        get_model(name)
        models_store().move_alias(
            str(name), str(required(body, "alias")), None, "mlflow", ctx.now_ms()
        )
        return {}

    @api.get("/registered-models/alias")
    @rule(Need.READ, "body", names="model")
    def get_by_alias(body: JsonBody) -> Body:
        name = required(body, "name")
        alias = str(required(body, "alias"))
        model = get_model(name)
        if alias not in model.aliases:
            raise MlflowError(INVALID, f"Registered model alias {alias} not found.")
        record = get_version(name, model.aliases[alias])
        return {"model_version": version_json(record, model.aliases)}

    @api.api_route("/model-versions/search", methods=["GET", "POST"])
    @rule(Need.READ, "body", names="model")
    def search_versions(body: JsonBody) -> Body:
        found = []
        for model in models_store().list_models():
            for record in models_store().list_model_versions(model.name):
                found.append(version_json(record, model.aliases))
        text = str(body.get("filter") or "")
        found = filter_json(found, text, {"name": "name", "run_id": "run_id"}, registry=True)
        items, token = page(found, page_size(body, 10_000), body.get("page_token"))
        return {"model_versions": items, **({"next_page_token": token} if token else {})}

    return api
