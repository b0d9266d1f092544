"""The web UI's run page: params, tags, metric charts, code, environment and links."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from shipyard.governance import Need
from shipyard.server.authz import rule
from shipyard.server.ui.render import page
from shipyard.server.ui.runs_common import (
    CHILDREN_LIMIT,
    DATASET_TAG,
    DIFF_ARTIFACT,
    GIT_REPO_TAG,
    MAX_CHARTS,
    MAX_POINTS,
    PREVIEW_BYTES,
    Axis,
    T,
    _client,
    _duration_ms,
    _finite,
    _head_text,
    _now_ms,
    _part,
)
from shipyard.store.base import ArtifactRecord, Metric, RunRecord
from shipyard.tracking import validation as v
from shipyard.tracking.downsample import downsample

router = APIRouter(include_in_schema=False)


def _chart_spec(label: str, points: list[Metric], x: Axis) -> dict[str, Any]:
    kept = downsample(points, MAX_POINTS, x)
    xs: list[float] = (
        [m.timestamp_ms / 1000 for m in kept] if x == "time" else [float(m.step) for m in kept]
    )
    return {
        "x": xs,
        "series": [{"label": label, "y": [_finite(m.value) for m in kept]}],
        "xLabel": "time" if x == "time" else "step",
        "yLabel": "",
        "time": x == "time",
        "bars": False,
    }


@dataclass
class Code:
    version: str = ""
    commit: str = ""
    dirty: bool = False
    repo: str | None = None
    recorded_by: str | None = None  # the run that recorded it (a task's flow run)
    diff: str | None = None
    diff_size: int = 0
    diff_run: str | None = None


def _code(client: Any, run: RunRecord, parent: RunRecord | None) -> Code:
    source = run
    if not run.code_version and run.kind == "task" and parent is not None:
        source = parent  # tasks run the code their flow run recorded
    code = Code(version=source.code_version, repo=source.tags.get(GIT_REPO_TAG))
    code.commit, _, dirty = source.code_version.partition("-")
    code.dirty = bool(dirty)
    code.recorded_by = source.id if source is not run else None
    for record in client.store.list_artifacts(source.id, "code/"):
        if record.path == DIFF_ARTIFACT:
            code.diff = _head_text(client, record, PREVIEW_BYTES)
            code.diff_size = record.size
            code.diff_run = source.id
    return code


def _environment(client: Any, run: RunRecord) -> dict[str, Any] | None:
    if not run.environment_hash:
        return None
    found = json.loads(client.blobs.get_bytes(run.environment_hash))
    return found if isinstance(found, dict) else None


def _children(client: Any, run: RunRecord) -> list[RunRecord]:
    """Runs whose parent is this run, at most ``CHILDREN_LIMIT``, in one search: a flow
    run's tasks by id; for other runs (nested ones), the filter language has no parent
    attribute, so the runs of the project that started while this one was going are read
    and its children kept."""
    if run.kind == "task":
        return []
    if run.kind == "flow":
        ids = list(dict.fromkeys(t.run_id for t in client.store.flows.tasks(run.id)))
        if not ids:
            return []
        wanted = ", ".join(f"'{v.check_run_id(i)}'" for i in ids[:CHILDREN_LIMIT])
        text = f"run_id in ({wanted})"
    else:
        text = f"start_time >= {run.start_ms}"
        if run.end_ms is not None:
            text += f" and start_time <= {run.end_ms}"
    found = client.store.search_runs(
        [run.project], text, ["start_time ASC"], CHILDREN_LIMIT, 0, False
    )
    return [r for r in found if r.parent_id == run.id]


def _flow_of(client: Any, run: RunRecord) -> Any:
    owner = run.id if run.kind == "flow" else run.parent_id if run.kind == "task" else None
    return client.store.flows.flow_run_of(owner) if owner else None


def _model_versions(client: Any, run_id: str) -> list[Any]:
    """Model versions registered from this run (the registry has no index by run: one read
    per registered model, whatever the number of runs)."""
    models = client.store.models
    return [
        mv
        for model in models.list_models()
        for mv in models.list_model_versions(model.name)
        if mv.run_id == run_id
    ]


def _datasets(run: RunRecord) -> list[dict[str, str]]:
    """Datasets the run says it used: ``shipyard.dataset.NAME`` = version tags and
    ``dataset:PROJECT/NAME/VERSION`` tag values."""
    found = []
    for key, value in sorted(run.tags.items()):
        if key.startswith(DATASET_TAG):
            found.append({"name": key[len(DATASET_TAG) :], "version": value, "via": key})
        elif value.startswith("dataset:"):
            parts = value.removeprefix("dataset:").split("/")
            if len(parts) == 3:
                found.append({"name": f"{parts[0]}/{parts[1]}", "version": parts[2], "via": key})
    unique = {(d["name"].split("/")[-1], d["version"]): d for d in reversed(found)}
    return sorted(unique.values(), key=lambda d: d["name"])


@router.get("/ui/runs/{run_id}")
@rule(Need.READ)
def run_page(run_id: str, request: Request, x: Annotated[Axis, Query()] = "step") -> Response:
    client = _client(request)
    run: RunRecord = client.store.get_run(v.check_run_id(run_id))
    problems: dict[str, str] = {}

    def part(what: str, produce: Callable[[], T], default: T) -> T:
        value, problem = _part(what, produce, default)
        if problem:
            problems[what] = problem
        return value

    parent_id = run.parent_id
    parent = part("parent", lambda: client.store.get_run(parent_id), None) if parent_id else None
    keys = sorted(run.metrics)[:MAX_CHARTS]
    no_histories: dict[str, dict[str, list[Metric]]] = {}
    found = part("metrics", lambda: client.store.get_metric_histories([run.id], keys), no_histories)
    histories = found.get(run.id, {})
    charts: list[dict[str, Any]] = []
    single: dict[str, float] = {}
    for key in keys:
        points = histories.get(key, [])
        if len(points) > 1:
            spec = _chart_spec(key, points, x)
            charts.append(
                {"id": f"m{len(charts)}", "key": key, "spec": spec, "points": len(points)}
            )
        else:
            single[key] = run.metrics[key]
    system_tags = {k: val for k, val in run.tags.items() if k.startswith("shipyard.")}
    user_tags = {k: val for k, val in run.tags.items() if k not in system_tags}
    no_artifacts: list[ArtifactRecord] = []
    artifacts = part("artifacts", lambda: client.store.list_artifacts(run.id), no_artifacts)
    no_runs: list[RunRecord] = []
    no_datasets: list[dict[str, str]] = []
    no_models: list[Any] = []
    name = run.name or run.id[:8]
    return page(
        request,
        "runs_run.html",
        section="runs",
        crumbs=[
            ("Projects", "/ui/projects"),
            (run.project, f"/ui/projects/{quote(run.project)}/runs"),
            (name, None),
        ],
        run=run,
        name=name,
        x=x,
        parent=parent,
        children=part("children", lambda: _children(client, run), no_runs),
        children_limit=CHILDREN_LIMIT,
        flow=part("flow", lambda: _flow_of(client, run), None),
        charts=charts,
        metric_keys=sorted(run.metrics),
        histories_total={k: len(p) for k, p in histories.items()},
        single_metrics=single,
        user_tags=dict(sorted(user_tags.items())),
        system_tags=dict(sorted(system_tags.items())),
        code=part("code", lambda: _code(client, run, parent), None),
        environment=part("environment", lambda: _environment(client, run), None),
        datasets=part("datasets", lambda: _datasets(run), no_datasets),
        models=part("models", lambda: _model_versions(client, run.id), no_models),
        artifact_count=len(artifacts),
        artifact_bytes=sum(a.size for a in artifacts),
        problems=problems,
        now_ms=_now_ms(request),
        duration_ms=_duration_ms,
    )


# -- artifacts -----------------------------------------------------------------------------
