"""/api/v1/flows: flows, their runs (status, graph, steps), tasks, task logs and the names
of the artifacts each task stored, as the ``shipyard.flows`` client reads them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from shipyard._clock import from_millis
from shipyard.errors import NotFound
from shipyard.flows import Flow, Run
from shipyard.governance import Need
from shipyard.server.authz import rule
from shipyard.server.deps import client_of
from shipyard.server.routes._params import RunNumberPath

router = APIRouter(prefix="/api/v1", tags=["flows"])

DATA_PREFIX = "data/"  # a task's artifacts are the artifacts of its run under data/


class FlowOut(BaseModel):
    name: str
    runs: int
    latest_run: int = Field(description="the number of the newest run")
    latest_status: str
    latest_started: datetime


class FlowRunOut(BaseModel):
    flow: str
    number: int
    pathspec: str
    run_id: str = Field(description="its tracking run")
    status: str
    started: datetime
    ended: datetime | None
    tags: list[str]
    origin_number: int | None = Field(description="the run it resumed, if any")


class TaskOut(BaseModel):
    id: str
    step: str
    pathspec: str
    foreach_index: str
    attempt: int
    status: str
    started: datetime
    ended: datetime | None
    error: str | None
    input_ids: list[str]


class StepOut(BaseModel):
    name: str
    tasks: list[TaskOut]


class FlowRunDetailOut(FlowRunOut):
    graph: dict[str, Any]
    steps: list[StepOut]


class TaskArtifactOut(BaseModel):
    name: str
    serializer: str
    size: int
    blob_hash: str
    created: datetime


@router.get("/flows", response_model=list[FlowOut])
@rule(Need.READ)
def list_flows(request: Request) -> list[FlowOut]:
    """Every flow with its number of runs and its latest run."""
    client = client_of(request)
    records = client.store.flows.list_flow_runs()
    found = []
    for name in sorted({r.flow_name for r in records}):
        runs = [r for r in records if r.flow_name == name]
        latest = client.get_run(runs[0].run_id)
        found.append(
            FlowOut(
                name=name,
                runs=len(runs),
                latest_run=runs[0].number,
                latest_status=latest.status.value,
                latest_started=latest.start_time,
            )
        )
    return found


@router.get("/flows/{flow}/runs", response_model=list[FlowRunOut])
@rule(Need.READ, "request", names="flow")
def list_runs(
    request: Request,
    flow: str,
    tag: Annotated[list[str], Query(description="only runs carrying all of these tags")] = [],  # noqa: B006
) -> list[FlowRunOut]:
    """The flow's runs, newest first."""
    return [
        _run(r)
        for r in Flow(flow, client=client_of(request), namespace_check=False).runs(
            *tag, all_namespaces=True
        )
    ]


@router.get("/flows/{flow}/runs/{number}", response_model=FlowRunDetailOut)
@rule(Need.READ, "request", names="flow")
def get_run(request: Request, flow: str, number: RunNumberPath) -> FlowRunDetailOut:
    """A run with its status, graph, steps (in the graph's order) and their tasks (in the
    order they started)."""
    client = client_of(request)
    run = Run(f"{flow}/{number}", client=client, namespace_check=False)
    graph = json.loads(client.store.flows.get_flow_run(flow, number).graph or "{}")
    steps: dict[str, list[TaskOut]] = {name: [] for name in graph}
    for record in client.store.flows.tasks(run.tracking_id):
        steps.setdefault(record.step, []).append(_task(run.pathspec, record))
    steps = {name: tasks for name, tasks in steps.items() if tasks}  # steps that ran
    return FlowRunDetailOut(
        **_run(run).model_dump(),
        graph=graph,
        steps=[StepOut(name=name, tasks=tasks) for name, tasks in steps.items()],
    )


@router.get("/flows/{flow}/runs/{number}/steps/{step}/tasks", response_model=list[TaskOut])
@rule(Need.READ, "request", names="flow")
def list_tasks(request: Request, flow: str, number: RunNumberPath, step: str) -> list[TaskOut]:
    pathspec, records = _step(request, flow, number, step)
    return [_task(pathspec, r) for r in records]


@router.get("/flows/{flow}/runs/{number}/tasks/{task_id}", response_model=TaskOut)
@rule(Need.READ, "request", names="flow")
def get_task(request: Request, flow: str, number: RunNumberPath, task_id: str) -> TaskOut:
    return _task(*_find_task(request, flow, number, task_id))


@router.get("/flows/{flow}/runs/{number}/tasks/{task_id}/logs", response_class=PlainTextResponse)
@rule(Need.READ, "request", names="flow")
def task_logs(
    request: Request,
    flow: str,
    number: RunNumberPath,
    task_id: str,
    stream: Literal["stdout", "stderr"] = Query("stdout"),
) -> PlainTextResponse:
    """What the task printed to stdout (or stderr)."""
    _, record = _find_task(request, flow, number, task_id)
    return PlainTextResponse(_text(request, record, stream))


@router.get("/flows/{flow}/runs/{number}/steps/{step}/logs", response_class=PlainTextResponse)
@rule(Need.READ, "request", names="flow")
def step_logs(
    request: Request,
    flow: str,
    number: RunNumberPath,
    step: str,
    stream: Literal["stdout", "stderr"] = Query("stdout"),
) -> PlainTextResponse:
    """The output of every task of the step, each under a ``[pathspec index]`` header when
    there are several (as ``shipyard flows logs FLOW/N/STEP``)."""
    pathspec, records = _step(request, flow, number, step)
    chunks = []
    for r in records:
        text = _text(request, r, stream)
        index = f" {r.foreach_path}" if r.foreach_path else ""
        header = f"[{pathspec}/{r.step}/{r.run_id}{index}]\n"
        chunks.append(header + text if len(records) > 1 else text)
    return PlainTextResponse("".join(chunks))


@router.get(
    "/flows/{flow}/runs/{number}/tasks/{task_id}/artifacts", response_model=list[TaskArtifactOut]
)
@rule(Need.READ, "request", names="flow")
def task_artifacts(
    request: Request, flow: str, number: RunNumberPath, task_id: str
) -> list[TaskArtifactOut]:
    """The artifacts the task stored (every ``self.x``), by name."""
    _, task = _find_task(request, flow, number, task_id)
    records = client_of(request).list_artifacts(task.run_id, DATA_PREFIX)
    return [
        TaskArtifactOut(
            name=r.path.removeprefix(DATA_PREFIX),
            serializer=r.serializer,
            size=r.size,
            blob_hash=r.blob_hash,
            created=from_millis(r.created_ms),
        )
        for r in records
    ]


def _step(request: Request, flow: str, number: int, step: str) -> tuple[str, list[Any]]:
    """The run's pathspec and the step's task records."""
    client = client_of(request)
    run = Run(f"{flow}/{number}", client=client, namespace_check=False)
    records = client.store.flows.tasks(run.tracking_id, step)
    if not records:
        raise NotFound(f"{run.pathspec} has no step {step!r}")
    return run.pathspec, records


def _find_task(request: Request, flow: str, number: int, task_id: str) -> tuple[str, Any]:
    client = client_of(request)
    run = Run(f"{flow}/{number}", client=client, namespace_check=False)
    for record in client.store.flows.tasks(run.tracking_id):
        if record.run_id == task_id:
            return run.pathspec, record
    raise NotFound(f"{run.pathspec} has no task {task_id!r}")


def _text(request: Request, record: Any, stream: str) -> str:
    blob = record.stderr_hash if stream == "stderr" else record.stdout_hash
    return client_of(request).blobs.get_bytes(blob).decode() if blob else ""


def _run(run: Any) -> FlowRunOut:
    info = run.info
    return FlowRunOut(
        flow=run.flow_name,
        number=run.number,
        pathspec=run.pathspec,
        run_id=run.tracking_id,
        status=info.status.value,
        started=info.start_time,
        ended=info.end_time,
        tags=run.tags,
        origin_number=run.origin_number,
    )


def _task(pathspec: str, record: Any) -> TaskOut:
    return TaskOut(
        id=record.run_id,
        step=record.step,
        pathspec=f"{pathspec}/{record.step}/{record.run_id}",
        foreach_index=record.foreach_path,
        attempt=record.attempt,
        status=record.status.value,
        started=from_millis(record.start_ms),
        ended=None if record.end_ms is None else from_millis(record.end_ms),
        error=record.error,
        input_ids=list(record.input_ids),
    )
