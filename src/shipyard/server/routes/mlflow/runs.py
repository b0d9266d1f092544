"""``/api/2.0/mlflow/runs/...`` and ``metrics/get-history``: MLflow runs are Shipyard runs."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter

from shipyard.errors import NotFound, ShipyardError
from shipyard.governance import Need
from shipyard.server.authz import rule
from shipyard.server.routes.mlflow.context import (
    HIDDEN_KINDS,
    Context,
    JsonBody,
    as_int,
    entries,
    metric_list,
    number,
    required,
    tag_dict,
    tag_list,
)
from shipyard.server.routes.mlflow.errors import INVALID, NOT_FOUND, MlflowError, MlflowRoute
from shipyard.server.routes.mlflow.search import (
    offset_of,
    page_size,
    run_filter,
    run_order,
    token_for,
    view_type,
)
from shipyard.store.base import NewRun, RunRecord, RunStatus

Body = dict[str, Any]
PARENT_TAG = "mlflow.parentRunId"
NAME_TAG = "mlflow.runName"
_BATCH_LIMITS = {"metrics": 1000, "params": 100, "tags": 100}  # MLflow's


def run_info(run: RunRecord, experiment_id: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_id": run.id,
        "run_uuid": run.id,
        "run_name": run.name,
        "experiment_id": experiment_id,
        "user_id": run.user,
        "status": run.status.value,
        "start_time": run.start_ms,
        "artifact_uri": f"mlflow-artifacts:/{experiment_id}/{run.id}/artifacts",
        "lifecycle_stage": "deleted" if run.deleted else "active",
    }
    if run.end_ms is not None:
        info["end_time"] = run.end_ms
    return info


def run_json(run: RunRecord, experiment_id: str) -> dict[str, Any]:
    tags = dict(run.tags)
    tags.setdefault(NAME_TAG, run.name)
    if run.parent_id:
        tags.setdefault(PARENT_TAG, run.parent_id)
    return {
        "info": run_info(run, experiment_id),
        "data": {
            "metrics": metric_list(run.metrics),
            "params": [{"key": k, "value": v} for k, v in sorted(run.params.items())],
            "tags": tag_list(tags),
        },
        "inputs": {},
        "outputs": {},
    }


class Runs:
    """Run lookups shared by the run, artifact and model routes."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def get(self, run_id: Any) -> RunRecord:
        try:
            run: RunRecord = self.ctx.store.get_run(str(run_id))
        except NotFound:
            run = None  # type: ignore[assignment]
        if run is None or run.kind in HIDDEN_KINDS:
            raise MlflowError(NOT_FOUND, f"Run with id={run_id} not found")
        return run

    def json(self, run: RunRecord) -> dict[str, Any]:
        return run_json(run, self.ctx.experiment_id(run.project))

    def keep_alive(self, run: RunRecord) -> None:
        """MLflow clients send no heartbeats, and a RUNNING run without them is reaped as
        dead after ``heartbeat_timeout``: the server's writer sends them for the runs
        MLflow clients started (or wrote to) until they end, as a Shipyard client would."""
        if run.status is RunStatus.RUNNING:
            self.ctx.store.heartbeat([run.id], self.ctx.now_ms())
            self.ctx.client.writer.watch(run.id)

    def log(self, run_id: str, metrics: Any, params: Any, tags: Any) -> None:
        """Params, tags, then metric points (read back at once: the writer is flushed)."""
        run = self.get(run_id)
        points = [_point(m, self.ctx.now_ms()) for m in entries(metrics, "metrics")]
        param_values, tag_values = tag_dict(params, "params"), tag_dict(tags)
        client = self.ctx.client
        if param_values:
            client.log_params(run_id, param_values)
        if tag_values:
            client.set_tags(run_id, tag_values)
            if NAME_TAG in tag_values:
                self.ctx.store.set_run_name(run_id, tag_values[NAME_TAG])
        for key, value, step, timestamp in points:
            client.log_metric(run_id, key, value, step=step, timestamp=timestamp)
        if points:
            client.flush()
        self.keep_alive(run)


def router(ctx: Context) -> APIRouter:
    api = APIRouter(prefix="/api/2.0/mlflow", route_class=MlflowRoute, include_in_schema=False)
    runs = Runs(ctx)

    @api.post("/runs/create")
    @rule(Need.WRITE, "body")
    def create(body: JsonBody) -> Body:
        project = ctx.project(body.get("experiment_id") or "0")
        tags = tag_dict(body.get("tags"))
        run_id = uuid.uuid4().hex
        name = body.get("run_name") or tags.get(NAME_TAG) or f"run-{run_id[:8]}"
        parent = tags.get(PARENT_TAG)
        if parent:
            runs.get(parent)
        ctx.store.create_run(
            NewRun(
                id=run_id,
                project=project.name,
                name=str(name),
                start_ms=as_int(body.get("start_time"), "start_time", ctx.now_ms()),
                user=str(body.get("user_id") or ""),
                parent_id=parent or None,
                kind="run",
            )
        )
        tags[NAME_TAG] = str(name)  # as mlflow server keeps it: searchable as a tag
        try:
            ctx.client.set_tags(run_id, tags)  # checks the keys and values
        except ShipyardError:
            ctx.store.set_run_status(run_id, RunStatus.FAILED, ctx.now_ms())
            ctx.store.set_deleted([run_id], True)  # `shipyard gc` purges it
            raise
        run = runs.get(run_id)
        runs.keep_alive(run)
        return {"run": runs.json(run)}

    @api.post("/runs/update")
    @rule(Need.WRITE, "body")
    def update(body: JsonBody) -> Body:
        run_id = body.get("run_id") or required(body, "run_uuid")
        run = runs.get(run_id)
        if body.get("run_name"):
            ctx.store.set_run_name(run.id, str(body["run_name"]))
            ctx.client.set_tags(run.id, {NAME_TAG: str(body["run_name"])})
        if body.get("status"):
            try:
                status = RunStatus(str(body["status"]).upper())
            except ValueError:
                raise MlflowError(INVALID, f"Invalid run status {body['status']!r}") from None
            now = ctx.now_ms() if status.is_terminal else None
            end_ms = as_int(body.get("end_time"), "end_time", 0) or now
            ctx.client.flush()
            ctx.store.set_run_status(run.id, status, end_ms)
            if status.is_terminal:
                ctx.client.writer.unwatch(run.id)
        return {"run_info": runs.json(runs.get(run.id))["info"]}

    @api.post("/runs/delete")
    @rule(Need.WRITE, "body")
    def delete(body: JsonBody) -> Body:
        ctx.client.delete_run(runs.get(required(body, "run_id")).id)
        return {}

    @api.post("/runs/restore")
    @rule(Need.WRITE, "body")
    def restore(body: JsonBody) -> Body:
        ctx.client.restore_run(runs.get(required(body, "run_id")).id)
        return {}

    @api.get("/runs/get")
    @rule(Need.READ, "body")
    def get(body: JsonBody) -> Body:
        return {"run": runs.json(runs.get(body.get("run_id") or required(body, "run_uuid")))}

    @api.post("/runs/log-metric")
    @rule(Need.WRITE, "body")
    def log_metric(body: JsonBody) -> Body:
        runs.log(_run_id(body), [body], None, None)  # one point: the body is the metric
        return {}

    @api.post("/runs/log-parameter")
    @rule(Need.WRITE, "body")
    def log_param(body: JsonBody) -> Body:
        runs.log(_run_id(body), [], [{"key": required(body, "key"), **body}], None)
        return {}

    @api.post("/runs/set-tag")
    @rule(Need.WRITE, "body")
    def set_tag(body: JsonBody) -> Body:
        runs.log(_run_id(body), [], None, [{"key": required(body, "key"), **body}])
        return {}

    @api.post("/runs/delete-tag")
    @rule(Need.WRITE, "body")
    def delete_tag(body: JsonBody) -> Body:
        ctx.client.delete_tag(runs.get(required(body, "run_id")).id, required(body, "key"))
        return {}

    @api.post("/runs/log-batch")
    @rule(Need.WRITE, "body")
    def log_batch(body: JsonBody) -> Body:
        for field, limit in _BATCH_LIMITS.items():
            if len(entries(body.get(field), field)) > limit:
                raise MlflowError(
                    INVALID,
                    f"A batch logging request can contain at most {limit} {field}. "
                    f"Got {len(body[field])} {field}. Please split up {field} across "
                    "multiple requests and try again.",
                )
        runs.log(_run_id(body), body.get("metrics") or [], body.get("params"), body.get("tags"))
        return {}

    @api.post("/runs/log-inputs")
    @api.post("/runs/outputs")
    @rule(Need.WRITE, "body")
    def log_io(body: JsonBody) -> Body:
        runs.get(required(body, "run_id"))  # datasets and model outputs are not kept yet
        return {}

    @api.get("/metrics/get-history")
    @rule(Need.READ, "body")
    def history(body: JsonBody) -> Body:
        run = runs.get(body.get("run_id") or required(body, "run_uuid"))
        key = required(body, "metric_key")
        ctx.client.flush()
        points = ctx.store.get_metric_history(run.id, str(key))
        found = [
            {"key": p.key, "value": number(p.value), "timestamp": p.timestamp_ms, "step": p.step}
            for p in points
        ]
        return {"metrics": found}

    @api.api_route("/runs/search", methods=["GET", "POST"])
    @rule(Need.READ, "body")
    def search(body: JsonBody) -> Body:
        ids = body.get("experiment_ids") or []
        ids = [ids] if isinstance(ids, str) else ids
        projects = [ctx.project(i).name for i in ids]
        view = view_type(body.get("run_view_type"))
        size = page_size(body, 1000)
        offset = offset_of(body.get("page_token"))
        order = body.get("order_by") or []
        ctx.client.flush()
        found = ctx.store.search_runs(
            projects or None,
            run_filter(body.get("filter")),
            run_order([order] if isinstance(order, str) else order),
            size + 1,
            offset,
            view != "ACTIVE_ONLY",
        )
        if view == "DELETED_ONLY":
            found = [r for r in found if r.deleted]
        ids_by_name = ctx.experiment_ids()
        items = [run_json(r, ids_by_name[r.project]) for r in found[:size]]
        more = {"next_page_token": token_for(offset + size)} if len(found) > size else {}
        return {"runs": items, **more}

    return api


def _point(metric: Mapping[str, Any], now_ms: int) -> tuple[str, Any, int, int]:
    """(key, value, step, timestamp) of one of MLflow's metrics; NaN comes as "NaN"."""
    value = metric.get("value")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise MlflowError(INVALID, f"metric value {value!r} is not a number") from None
    return (
        str(required(metric, "key")),
        value,
        as_int(metric.get("step"), "step", 0),
        as_int(metric.get("timestamp"), "timestamp", now_ms),
    )


def _run_id(body: Body) -> str:
    return str(body.get("run_id") or required(body, "run_uuid"))
