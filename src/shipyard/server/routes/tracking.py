"""/api/v1 routes: health, projects, runs, batched run data, metric histories (downsampled
on request), run search and artifact records. Bodies are declared models, so
``/openapi.json`` describes them.

Non-finite metric values travel as the strings "NaN", "Infinity" and "-Infinity".
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

import shipyard
from shipyard._names import project_name
from shipyard.governance import Need
from shipyard.server.authz import public, readable_projects, rule
from shipyard.server.deps import client_of, idempotent
from shipyard.server.routes.tracking_models import (
    ArtifactIn,
    ArtifactOut,
    Done,
    Health,
    LogBatchIn,
    Logged,
    MetricHistoriesIn,
    MetricHistoriesOut,
    MetricOut,
    ProjectIn,
    ProjectOut,
    Purged,
    RunIn,
    RunOut,
    RunPatch,
    SearchIn,
    SearchOut,
)
from shipyard.store.base import ArtifactRecord, Metric, NewRun
from shipyard.store.wire import float_in, float_out
from shipyard.tracking import validation as v
from shipyard.tracking.downsample import downsample

router = APIRouter(prefix="/api/v1", tags=["tracking"])


def _now_ms(request: Request) -> int:
    from shipyard._clock import to_millis

    return to_millis(client_of(request).clock.now())


# -- health and projects ---------------------------------------------------------------


@router.get("/health", response_model=Health)
@public
def health() -> Health:
    return Health(version=shipyard.__version__)


@router.post("/projects", response_model=ProjectOut, status_code=201)
@rule(Need.WRITE, "body", names="project")
def create_project(body: ProjectIn, request: Request) -> ProjectOut:
    description = v.check_text("project description", body.description)
    project = client_of(request).store.create_project(project_name(body.name), description)
    return ProjectOut.of(project)


@router.get("/projects", response_model=list[ProjectOut])
@rule(Need.READ, lists=True)
def list_projects(request: Request) -> list[ProjectOut]:
    readable = readable_projects(request)
    found = client_of(request).store.list_projects()
    return [ProjectOut.of(p) for p in found if readable is None or p.name in readable]


@router.get("/projects/{name}", response_model=ProjectOut)
@rule(Need.READ, "request", names="project")
def get_project(name: str, request: Request) -> ProjectOut:
    return ProjectOut.of(client_of(request).store.get_project(v.check_name(name, "project name")))


# -- runs ------------------------------------------------------------------------------


@router.post("/runs", response_model=RunOut, status_code=201)
@rule(Need.WRITE, "body")
def create_run(body: RunIn, request: Request) -> RunOut:
    store = client_of(request).store
    run_id = body.id or uuid.uuid4().hex
    project = project_name(body.project)
    store.get_or_create_project(project)
    if body.parent_id is not None:
        store.get_run(body.parent_id)
    new = NewRun(
        id=run_id,
        project=project,
        name=v.check_name(body.name, "run name") if body.name else f"run-{run_id[:8]}",
        start_ms=body.start_ms if body.start_ms is not None else _now_ms(request),
        user=v.check_text("user", body.user),
        host=v.check_text("host", body.host),
        pid=body.pid,
        command=v.check_text("command", body.command),
        code_version=v.check_text("code version", body.code_version),
        environment_hash=body.environment_hash,
        parent_id=body.parent_id,
        kind=v.check_name(body.kind, "run kind"),
        params=_params(body.params),
        tags=_tags(body.tags),
    )
    return RunOut.of(store.create_run(new))


@router.get("/runs/{run_id}", response_model=RunOut)
@rule(Need.READ)
def get_run(run_id: str, request: Request) -> RunOut:
    return RunOut.of(client_of(request).store.get_run(v.check_run_id(run_id)))


@router.patch("/runs/{run_id}", response_model=RunOut)
@rule(Need.WRITE)
def update_run(run_id: str, body: RunPatch, request: Request) -> RunOut:
    store = client_of(request).store
    run = store.get_run(v.check_run_id(run_id))
    if body.name is not None:
        store.set_run_name(run_id, v.check_name(body.name, "run name"))
    if body.status is not None or body.end_ms is not None:
        status = body.status or run.status
        end_ms = body.end_ms
        if end_ms is None and status.is_terminal:
            end_ms = _now_ms(request)
        store.set_run_status(run_id, status, end_ms if status.is_terminal else None)
    return RunOut.of(store.get_run(run_id))


@router.delete("/runs/{run_id}", response_model=Done)
@rule(Need.WRITE)
def delete_run(run_id: str, request: Request) -> Done:
    store = client_of(request).store
    store.get_run(v.check_run_id(run_id))
    store.set_deleted([run_id], True)
    return Done()


@router.post("/runs/{run_id}/restore", response_model=Done)
@rule(Need.WRITE)
def restore_run(run_id: str, request: Request) -> Done:
    store = client_of(request).store
    store.get_run(v.check_run_id(run_id))
    store.set_deleted([run_id], False)
    return Done()


@router.post("/runs-purge", response_model=Purged)
@rule(Need.MANAGE)
def purge_runs(request: Request) -> Purged:
    """Remove the runs marked deleted, for good (their blobs go with ``shipyard gc``)."""
    return Purged(purged=client_of(request).store.purge_deleted_runs())


# -- run data --------------------------------------------------------------------------


RAW_BODIES = (LogBatchIn,)  # parsed by the route itself; /openapi.json still shows them
_LOG_BATCH_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LogBatchIn"}}},
}


@router.post(
    "/runs/{run_id}/log-batch",
    response_model=Logged,
    openapi_extra={"requestBody": _LOG_BATCH_BODY},
)
@rule(Need.WRITE)
async def log_batch(
    run_id: str,
    request: Request,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Logged:
    """Params, tags and metric points (a ``LogBatchIn``) in one transaction. A batch sent
    again with the same ``Idempotency-Key`` (a retry after a lost answer) is not applied
    twice. The body is parsed straight from its bytes: batches hold thousands of points."""
    raw = await request.body()
    try:
        body = LogBatchIn.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    return await run_in_threadpool(
        _log_batch, request, v.check_run_id(run_id), body, idempotency_key
    )


def _log_batch(request: Request, run_id: str, body: LogBatchIn, key: str | None) -> Logged:
    now = _now_ms(request)
    for name in {m.key for m in body.metrics}:
        v.check_key(name, "metric key")
    metrics = [
        Metric(
            m.key,
            m.value if type(m.value) is float else float_in(m.value),
            m.step,
            now if m.timestamp_ms is None else m.timestamp_ms,
        )
        for m in body.metrics
    ]
    params, tags = _params(body.params), _tags(body.tags)
    store = client_of(request).store

    def apply() -> Logged:
        store.log_batch(run_id, metrics, params or None, tags or None)
        return Logged(metrics=len(metrics), params=len(params), tags=len(tags))

    result, replayed = idempotent(request, key, apply)
    return result.model_copy(update={"replayed": True}) if replayed else result


@router.get("/runs/{run_id}/metric-history", response_model=list[MetricOut])
@rule(Need.READ)
def metric_history(
    run_id: str,
    key: Annotated[str, Query(min_length=1, max_length=250)],
    request: Request,
    max_points: Annotated[int | None, Query(ge=2, le=10_000)] = None,
    x: Annotated[Literal["step", "time"], Query()] = "step",
) -> Response:
    """The points of one metric, by step (``x=step``, the default) or by timestamp
    (``x=time``). With ``max_points``, a longer series comes back downsampled to at most
    that many points: first and last kept, and the lowest and highest point of each bucket
    of consecutive points (``shipyard.tracking.downsample``)."""
    points = client_of(request).store.get_metric_history(v.check_run_id(run_id), key)
    body = [
        {"key": m.key, "value": float_out(m.value), "step": m.step, "timestamp_ms": m.timestamp_ms}
        for m in downsample(points, max_points, x)
    ]
    return _json(body)  # the points as declared, without validating each one again


@router.post("/runs/metric-histories", response_model=MetricHistoriesOut)
@rule(Need.READ, "body")
def metric_histories(body: MetricHistoriesIn, request: Request) -> Response:
    """The histories of ``keys`` in each of ``run_ids`` (up to 10 runs, for a comparison
    chart) in one request and one store read, as columns; ``max_points`` and ``x`` as for
    ``GET /runs/{run_id}/metric-history``. A key a run never logged comes back empty."""
    keys = [v.check_key(k, "metric key") for k in body.keys]
    found = client_of(request).store.get_metric_histories(body.run_ids, keys)
    series = []
    for run_id, histories in found.items():
        for key, points in histories.items():
            kept = downsample(points, body.max_points, body.x)
            series.append(
                {
                    "run_id": run_id,
                    "key": key,
                    "total": len(points),
                    "steps": [m.step for m in kept],
                    "values": [float_out(m.value) for m in kept],
                    "timestamps_ms": [m.timestamp_ms for m in kept],
                }
            )
    return _json({"series": series})  # a MetricHistoriesOut, encoded in one pass


def _json(content: object) -> Response:
    import orjson

    return Response(orjson.dumps(content), media_type="application/json")


@router.post("/runs/search", response_model=SearchOut)
@rule(Need.READ, "body", lists=True)
def search_runs(body: SearchIn, request: Request) -> SearchOut:
    """Runs matching ``filter`` (the run filter grammar), ordered, a page at a time:
    ``next_offset`` is the offset of the next page, or null after the last one."""
    readable = readable_projects(request)  # no projects named: those the caller may read
    projects = sorted(readable) if readable is not None else body.projects
    runs = client_of(request).store.search_runs(
        projects, body.filter, body.order_by, body.limit + 1, body.offset, body.include_deleted
    )
    more = len(runs) > body.limit
    return SearchOut(
        runs=[RunOut.of(r) for r in runs[: body.limit]],
        next_offset=body.offset + body.limit if more else None,
    )


# -- artifact records ------------------------------------------------------------------


@router.post("/runs/{run_id}/artifacts", response_model=list[ArtifactOut], status_code=201)
@rule(Need.WRITE)
def add_artifacts(run_id: str, body: list[ArtifactIn], request: Request) -> list[ArtifactOut]:
    """Record artifacts whose blobs are stored already (``PUT /api/v1/blobs/{sha256}``)."""
    store = client_of(request).store
    store.get_run(v.check_run_id(run_id))
    now = _now_ms(request)
    records = [
        ArtifactRecord(
            run_id,
            v.artifact_path(a.path),
            a.blob_hash,
            a.size,
            v.check_name(a.serializer, "serializer"),
            a.created_ms if a.created_ms is not None else now,
        )
        for a in body
    ]
    store.add_artifacts(records)
    return [ArtifactOut.of(r) for r in records]


@router.get("/runs/{run_id}/artifacts", response_model=list[ArtifactOut])
@rule(Need.READ)
def list_artifacts(
    run_id: str, request: Request, prefix: Annotated[str, Query(max_length=1024)] = ""
) -> list[ArtifactOut]:
    records = client_of(request).store.list_artifacts(v.check_run_id(run_id), prefix)
    return [ArtifactOut.of(a) for a in records]


@router.get("/runs/{run_id}/artifact", response_model=ArtifactOut)
@rule(Need.READ)
def get_artifact(
    run_id: str, path: Annotated[str, Query(min_length=1, max_length=1024)], request: Request
) -> ArtifactOut:
    record = client_of(request).store.get_artifact(v.check_run_id(run_id), v.artifact_path(path))
    return ArtifactOut.of(record)


def _params(values: dict[str, str]) -> dict[str, str]:
    return {v.check_key(k, "param key"): v.param_value(k, x) for k, x in values.items()}


def _tags(values: dict[str, str]) -> dict[str, str]:
    return {v.check_key(k, "tag key"): v.tag_value(k, x) for k, x in values.items()}
