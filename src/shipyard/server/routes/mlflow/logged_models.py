"""MLflow 3's ``/api/2.0/mlflow/logged-models`` routes and ``/api/3.0/mlflow/server-info``.

A logged model is kept as a hidden Shipyard run of kind ``mlflow_model`` in the
experiment's project: run id = the model id without ``m-``, parent = the source run, the
model's params and tags are the run's, its files are the run's artifacts, and its status
is a tag (the run itself is FINISHED so that the dead-run reaper leaves it alone).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from shipyard.errors import FilterSyntaxError, NotFound
from shipyard.governance import Need
from shipyard.server.authz import public, rule
from shipyard.server.routes.mlflow.artifacts import model_run_id
from shipyard.server.routes.mlflow.context import (
    MODEL_KIND,
    Context,
    JsonBody,
    metric_list,
    required,
    tag_dict,
    tag_list,
)
from shipyard.server.routes.mlflow.errors import INVALID, NOT_FOUND, MlflowError, MlflowRoute
from shipyard.server.routes.mlflow.search import offset_of, page_size, rename, token_for
from shipyard.store.base import NewRun, RunRecord, RunStatus

Body = dict[str, Any]
STATUS_TAG = "shipyard.mlflow.status"
TYPE_TAG = "shipyard.mlflow.model_type"
_PRIVATE = (STATUS_TAG, TYPE_TAG)


def model_json(run: RunRecord, experiment_id: str) -> dict[str, Any]:
    model_id = f"m-{run.id}"
    tags = {k: v for k, v in run.tags.items() if k not in _PRIVATE}
    info = {
        "model_id": model_id,
        "experiment_id": experiment_id,
        "name": run.name,
        "artifact_uri": f"mlflow-artifacts:/{experiment_id}/models/{model_id}/artifacts",
        "creation_timestamp_ms": run.start_ms,
        "last_updated_timestamp_ms": run.heartbeat_ms or run.start_ms,
        "status": run.tags.get(STATUS_TAG, "LOGGED_MODEL_PENDING"),
        "model_type": run.tags.get(TYPE_TAG, ""),
        "tags": tag_list(tags),
        "params": [{"key": k, "value": v} for k, v in sorted(run.params.items())],
    }
    if run.parent_id:
        info["source_run_id"] = run.parent_id
    return {"info": info, "data": {"params": info["params"], "metrics": metric_list(run.metrics)}}


class LoggedModels:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def get(self, model_id: str) -> RunRecord:
        try:
            run: RunRecord = self.ctx.store.get_run(model_run_id(model_id))
        except (NotFound, ValueError):
            run = None  # type: ignore[assignment]
        if run is None or run.kind != MODEL_KIND:
            raise MlflowError(NOT_FOUND, f"Logged model with ID '{model_id}' not found.")
        return run

    def json(self, run: RunRecord) -> dict[str, Any]:
        return model_json(run, self.ctx.experiment_id(run.project))


def router(ctx: Context) -> APIRouter:
    api = APIRouter(
        prefix="/api/2.0/mlflow/logged-models", route_class=MlflowRoute, include_in_schema=False
    )
    models = LoggedModels(ctx)

    @api.post("")
    @rule(Need.WRITE, "body")
    def create(body: JsonBody) -> Body:
        project = ctx.project(required(body, "experiment_id"))
        source = body.get("source_run_id") or None
        if source:
            ctx.store.get_run(str(source))
        run_id = uuid.uuid4().hex
        name = str(body.get("name") or f"model-{run_id[:8]}")
        now = ctx.now_ms()
        ctx.store.create_run(
            NewRun(
                id=run_id,
                project=project.name,
                name=name,
                start_ms=now,
                parent_id=source,
                kind=MODEL_KIND,
            )
        )
        ctx.store.set_run_status(run_id, RunStatus.FINISHED, now)
        tags = tag_dict(body.get("tags"))
        tags[STATUS_TAG] = "LOGGED_MODEL_PENDING"
        tags[TYPE_TAG] = str(body.get("model_type") or "")
        ctx.client.set_tags(run_id, tags)
        params = tag_dict(body.get("params"))
        if params:
            ctx.client.log_params(run_id, params)
        return {"model": models.json(models.get(run_id))}

    @api.get("/{model_id}")
    @rule(Need.READ)
    def get(model_id: str) -> Body:
        return {"model": models.json(models.get(model_id))}

    @api.patch("/{model_id}")
    @rule(Need.WRITE, "body")
    def finalize(model_id: str, body: JsonBody) -> Body:
        run = models.get(model_id)
        status = str(required(body, "status"))
        ctx.client.set_tags(run.id, {STATUS_TAG: status})
        return {"model": models.json(models.get(model_id))}

    @api.patch("/{model_id}/tags")
    @rule(Need.WRITE, "body")
    def set_tags(model_id: str, body: JsonBody) -> Body:
        run = models.get(model_id)
        tags = tag_dict(body.get("tags"))
        if tags:
            ctx.client.set_tags(run.id, tags)
        return {}

    @api.delete("/{model_id}/tags/{key}")
    @rule(Need.WRITE)
    def delete_tag(model_id: str, key: str) -> Body:
        ctx.client.delete_tag(models.get(model_id).id, key)
        return {}

    @api.post("/{model_id}/params")
    @rule(Need.WRITE, "body")
    def log_params(model_id: str, body: JsonBody) -> Body:
        params = tag_dict(body.get("params"))
        if params:
            ctx.client.log_params(models.get(model_id).id, params)
        return {}

    @api.post("/search")
    @rule(Need.READ, "body")
    def search(body: JsonBody) -> Body:
        ids = body.get("experiment_ids") or []
        projects = [ctx.project(i).name for i in ids] or None
        text = str(body.get("filter") or "").strip()
        condition = f"kind = '{MODEL_KIND}'" + (f" and ({rename(text)})" if text else "")
        size = page_size(body, 100)
        offset = offset_of(body.get("page_token"))
        try:
            found = ctx.store.search_runs(projects, condition, (), size + 1, offset, False)
        except FilterSyntaxError as exc:
            raise MlflowError(INVALID, exc.message) from None
        ids_by_name = ctx.experiment_ids()
        items = [model_json(r, ids_by_name[r.project]) for r in found[:size]]
        more = {"next_page_token": token_for(offset + size)} if len(found) > size else {}
        return {"models": items, **more}

    return api


def server_info_router() -> APIRouter:
    api = APIRouter(route_class=MlflowRoute, include_in_schema=False)

    @api.get("/api/3.0/mlflow/server-info")
    @public
    def server_info() -> Body:
        return {
            "store_type": "SqlStore",
            "workspaces_enabled": False,
            "trace_archival_enabled": False,
            "multipart_uploads_enabled": False,
            "multipart_downloads_enabled": False,
            "presigned_upload_run_id_supported": False,
            "presigned_upload_model_id_supported": False,
            "features_enabled": {"gateway": False},
        }

    return api
