"""``/api/2.0/mlflow/experiments/...``: MLflow experiments are Shipyard projects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from shipyard.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from shipyard.governance import Need
from shipyard.server.authz import rule
from shipyard.server.routes.mlflow.context import (
    EXPERIMENT_KIND,
    Context,
    JsonBody,
    experiment_tags_run_id,
    required,
    tag_dict,
    tag_list,
)
from shipyard.server.routes.mlflow.errors import (
    EXISTS,
    INVALID,
    NOT_FOUND,
    MlflowError,
    MlflowRoute,
)
from shipyard.server.routes.mlflow.search import filter_json, page, page_size, sort_json, view_type
from shipyard.store.base import NewRun, Project, RunStatus

Body = dict[str, Any]
_FIELDS = {"name": "name", "start_time": "creation_time"}
_ORDER_KEYS: dict[str, Callable[[Body], Any]] = {
    "experiment_id": lambda e: int(e["experiment_id"]),  # first: the tie-breaker
    "name": lambda e: e["name"],
    "creation_time": lambda e: e["creation_time"],
    "last_update_time": lambda e: e["last_update_time"],
}


def experiment_json(ctx: Context, project: Project) -> dict[str, Any]:
    tags = experiment_tags(ctx, project.name)
    if project.description:
        tags.setdefault("mlflow.note.content", project.description)
    return {
        "experiment_id": str(project.id),
        "name": project.name,
        "artifact_location": f"mlflow-artifacts:/{project.id}",
        "lifecycle_stage": "active",
        "creation_time": project.created_ms,
        "last_update_time": project.created_ms,
        "tags": tag_list(tags),
    }


def experiment_tags(ctx: Context, project: str) -> dict[str, str]:
    try:
        return dict(ctx.store.get_run(experiment_tags_run_id(project)).tags)
    except NotFound:
        return {}


def set_experiment_tags(ctx: Context, project: str, tags: dict[str, str]) -> None:
    if not tags:
        return
    run_id = experiment_tags_run_id(project)
    try:
        ctx.store.get_run(run_id)
    except NotFound:
        try:
            ctx.store.create_run(
                NewRun(
                    id=run_id,
                    project=project,
                    name=f"mlflow experiment tags of {project}",
                    start_ms=ctx.now_ms(),
                    kind=EXPERIMENT_KIND,
                )
            )
        except Conflict:
            pass  # a concurrent request made it (the same id)
        else:  # FINISHED: never mistaken for a run whose process died
            ctx.store.set_run_status(run_id, RunStatus.FINISHED, ctx.now_ms())
    ctx.client.set_tags(run_id, tags)


def router(ctx: Context) -> APIRouter:
    api = APIRouter(
        prefix="/api/2.0/mlflow/experiments", route_class=MlflowRoute, include_in_schema=False
    )

    @api.post("/create")
    @rule(Need.WRITE, "body", names="project")
    def create(body: JsonBody) -> Body:
        name = required(body, "name")
        try:
            project = ctx.client.create_project(str(name))
        except AlreadyExists:
            raise MlflowError(
                EXISTS, f"Experiment(name={name}) already exists. Error: already exists"
            ) from None
        except InvalidArgument as exc:
            raise MlflowError(INVALID, exc.message) from None
        set_experiment_tags(ctx, project.name, tag_dict(body.get("tags")))
        return {"experiment_id": str(project.id)}

    @api.get("/get")
    @rule(Need.READ, "body")
    def get(body: JsonBody) -> Body:
        project = ctx.project(required(body, "experiment_id"))
        return {"experiment": experiment_json(ctx, project)}

    @api.get("/get-by-name")
    @rule(Need.READ, "body")
    def get_by_name(body: JsonBody) -> Body:
        name = required(body, "experiment_name")
        for project in ctx.projects():
            if project.name == name:
                return {"experiment": experiment_json(ctx, project)}
        raise MlflowError(NOT_FOUND, f"Could not find experiment with name '{name}'")

    @api.api_route("/search", methods=["GET", "POST"])
    @rule(Need.READ, "body")
    def search(body: JsonBody) -> Body:
        found = [experiment_json(ctx, p) for p in ctx.projects()]
        found = filter_json(found, body.get("filter") or "", _FIELDS)
        if view_type(body.get("view_type")) == "DELETED_ONLY":
            found = []  # projects are never deleted
        order = body.get("order_by") or ["creation_time DESC"]
        ordered = sort_json(found, [order] if isinstance(order, str) else order, _ORDER_KEYS)
        items, token = page(ordered, page_size(body, 1000), body.get("page_token"))
        return {"experiments": items, **({"next_page_token": token} if token else {})}

    @api.post("/set-experiment-tag")
    @rule(Need.WRITE, "body")
    def set_tag(body: JsonBody) -> Body:
        project = ctx.project(required(body, "experiment_id"))
        key = required(body, "key")
        set_experiment_tags(ctx, project.name, {str(key): str(body.get("value", ""))})
        return {}

    return api
