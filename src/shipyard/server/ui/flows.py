"""The web UI's flows pages: flows and their recent runs, a run's graph (inline SVG drawn
here, coloured by its tasks) with its tasks, and a task's logs and artifacts.

Everything is read as ``shipyard flows`` and /api/v1/flows read it (the flow store's
records, the tracking runs behind them, the blob store); artifacts are previewed only
when small, and pickles only when they hold plain Python data (no class is imported).
"""

from __future__ import annotations

import io
import json
import pickle
import shlex
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from shipyard.errors import NotFound, ShipyardError
from shipyard.flows.worker import DATA_PREFIX
from shipyard.governance import Need
from shipyard.server.authz import readable_projects, rule
from shipyard.server.ui.render import page
from shipyard.store import RunStatus

router = APIRouter(include_in_schema=False)

FLOWS_PER_PAGE = 20
RUNS_PER_FLOW = 5
TASKS_PER_PAGE = 100
LOG_TAIL = 256 * 1024  # bytes of a log shown: its end
PREVIEW_MAX = 64 * 1024  # artifacts larger than this are not loaded for a preview
PREVIEW_CHARS = 2000

STATE = {  # a task's or a step's state, as the graph colours it
    RunStatus.FINISHED: "succeeded",
    RunStatus.FAILED: "failed",
    RunStatus.KILLED: "failed",
    RunStatus.RUNNING: "running",
}


# -- /ui/flows --------------------------------------------------------------------------


@router.get("/ui/flows")
@rule(Need.READ, lists=True)
def flows(request: Request, offset: int = Query(0, ge=0)) -> Response:
    """Each flow with its newest runs, newest flow first."""
    store = request.app.state.client.store
    readable = readable_projects(request)
    by_flow: dict[str, list[Any]] = {}
    for record in store.flows.list_flow_runs():  # one query; newest number first per flow
        by_flow.setdefault(record.flow_name, []).append(record)
    rows = []
    for name, records in by_flow.items():
        latest = store.get_run(records[0].run_id)
        if readable is not None and latest.project not in readable:
            continue
        rows.append((latest.start_ms, name, records, latest))
    rows.sort(key=lambda r: -r[0])
    shown = []
    for _, name, records, latest in rows[offset : offset + FLOWS_PER_PAGE]:
        runs = [(records[0], latest)]
        runs += [(r, store.get_run(r.run_id)) for r in records[1:RUNS_PER_FLOW]]
        numbers = {r.run_id: r.number for r in records}
        origins = {r.number: numbers.get(r.origin_run_id or "") for r in records}
        shown.append({"name": name, "count": len(records), "runs": runs, "origins": origins})
    return page(
        request,
        "flows_list.html",
        section="flows",
        crumbs=[("Flows", None)],
        flows=shown,
        total=len(rows),
        offset=offset,
        per_page=FLOWS_PER_PAGE,
    )


# -- /ui/flows/{flow} ---------------------------------------------------------------------

RUNS_PER_PAGE = 50


@router.get("/ui/flows/{flow}")
@rule(Need.READ, names="flow")
def flow_runs(request: Request, flow: str, offset: int = Query(0, ge=0)) -> Response:
    """Every run of one flow, newest first, a page at a time."""
    store = request.app.state.client.store
    records = store.flows.list_flow_runs(flow)
    if not records:
        raise NotFound(f"no runs of flow {flow!r} yet")
    numbers = {r.run_id: r.number for r in records}
    runs = [
        (r, store.get_run(r.run_id), numbers.get(r.origin_run_id or ""))
        for r in records[offset : offset + RUNS_PER_PAGE]
    ]
    return page(
        request,
        "flows_flow.html",
        section="flows",
        crumbs=[("Flows", "/ui/flows"), (flow, None)],
        flow=flow,
        runs=runs,
        total=len(records),
        offset=offset,
        per_page=RUNS_PER_PAGE,
    )


# -- /ui/flows/{flow}/{number} ----------------------------------------------------------


@dataclass
class StepView:
    """A step of the graph as drawn: where, what it is, how its tasks went."""

    name: str
    type: str
    next: list[str]
    foreach: str | None
    doc: str
    layer: int = 0
    x: float = 0
    y: float = 0
    tasks: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    state: str = "notrun"
    fanout: int | None = None  # a foreach: how many tasks each child step got
    href: str = ""


NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 190, 58, 36, 56, 16


def layout(graph: dict[str, Any]) -> tuple[list[StepView], list[dict[str, Any]], int, int]:
    """Steps in layers (longest path from start), branches side by side; the edges."""
    steps = {
        name: StepView(name, node["type"], list(node["next"]), node.get("foreach"), node["doc"])
        for name, node in graph.items()
    }
    for step in steps.values():  # the graph's JSON is in topological order
        for child in step.next:
            if child in steps:
                steps[child].layer = max(steps[child].layer, step.layer + 1)
    layers: dict[int, list[StepView]] = {}
    for step in steps.values():
        layers.setdefault(step.layer, []).append(step)
    order = {name: i for i, name in enumerate(steps)}
    parents: dict[str, list[StepView]] = {}
    for step in steps.values():
        for child in step.next:
            parents.setdefault(child, []).append(step)
    widest = max((len(row) for row in layers.values()), default=1)
    width = PAD * 2 + widest * NODE_W + (widest - 1) * GAP_X
    for depth in sorted(layers):  # under their parents, left to right, layer by layer
        row = layers[depth]
        row.sort(key=lambda s: (_mean_x(parents.get(s.name, [])), order[s.name]))
        span = len(row) * NODE_W + (len(row) - 1) * GAP_X
        left = (width - span) / 2
        for i, step in enumerate(row):
            step.x = left + i * (NODE_W + GAP_X)
            step.y = PAD + depth * (NODE_H + GAP_Y)
    height = PAD * 2 + len(layers) * NODE_H + (len(layers) - 1) * GAP_Y
    edges = []
    for step in steps.values():
        for child_name in step.next:
            target = steps.get(child_name)
            if target is None:
                continue
            x1, y1 = step.x + NODE_W / 2, step.y + NODE_H
            x2, y2 = target.x + NODE_W / 2, target.y - 4
            mid = (y1 + y2) / 2
            edges.append(
                {
                    "d": f"M{x1:.0f},{y1:.0f} C{x1:.0f},{mid:.0f} "
                    f"{x2:.0f},{mid:.0f} {x2:.0f},{y2:.0f}",
                    "foreach": step.type == "foreach",
                    "lx": (x1 + x2) / 2 + 8,
                    "ly": mid + 4,
                    "child": child_name,
                }
            )
    return list(steps.values()), edges, int(width), int(height)


def _mean_x(steps: list[StepView]) -> float:
    return sum(s.x for s in steps) / len(steps) if steps else 0.0


def _latest_attempts(tasks: list[Any]) -> list[Any]:
    """Each (step, foreach position)'s last attempt: a retried task counts once."""
    last: dict[tuple[str, str], Any] = {}
    for task in tasks:
        key = (task.step, task.foreach_path)
        if key not in last or task.attempt >= last[key].attempt:
            last[key] = task
    return list(last.values())


def _colour(steps: list[StepView], tasks: list[Any], base: str) -> None:
    by_step: dict[str, list[Any]] = {}
    for task in _latest_attempts(tasks):
        by_step.setdefault(task.step, []).append(task)
    names = {s.name: s for s in steps}
    for step in steps:
        mine = by_step.get(step.name, [])
        step.tasks = len(mine)
        for task in mine:
            state = STATE.get(task.status, "running")
            step.counts[state] = step.counts.get(state, 0) + 1
        if not mine:
            step.state = "notrun"
        elif step.counts.get("failed"):
            step.state = "failed"
        elif step.counts.get("running"):
            step.state = "running"
        else:
            step.state = "succeeded"
        if len(mine) == 1:
            step.href = f"{base}/{step.name}/{mine[0].run_id}"
        else:
            step.href = f"{base}?step={step.name}#tasks"
    for step in steps:
        if step.type == "foreach":
            fanned = [names[c].tasks for c in step.next if c in names]
            step.fanout = fanned[0] if fanned else 0


@dataclass
class StepTiming:
    """A step's tasks at a glance: how many, how they went, when, how long."""

    name: str
    tasks: int
    counts: dict[str, int]
    retries: int
    start_pct: float  # the step's span on the run's timeline, in % of the run
    width_pct: float
    wall_ms: int | None
    median_ms: int | None
    max_ms: int | None


def step_timings(steps: list[StepView], tasks: list[Any], run: Any) -> list[StepTiming]:
    end = run.end_ms or max((t.end_ms or t.start_ms for t in tasks), default=run.start_ms)
    total = max(1, end - run.start_ms)
    by_step: dict[str, list[Any]] = {}
    for task in tasks:
        by_step.setdefault(task.step, []).append(task)
    out = []
    for step in steps:
        mine = by_step.get(step.name, [])
        if not mine:
            out.append(StepTiming(step.name, 0, {}, 0, 0, 0, None, None, None))
            continue
        first = min(t.start_ms for t in mine)
        ends = [t.end_ms for t in mine if t.end_ms is not None]
        last = max(ends) if len(ends) == len(mine) else end
        took = sorted(t.end_ms - t.start_ms for t in mine if t.end_ms is not None)
        out.append(
            StepTiming(
                step.name,
                step.tasks,
                step.counts,
                sum(1 for t in mine if t.attempt > 0),
                (first - run.start_ms) / total * 100,
                max(0.5, (last - first) / total * 100),
                last - first,
                took[len(took) // 2] if took else None,
                took[-1] if took else None,
            )
        )
    return out


def resume_command(flow: str, number: int, command: str) -> tuple[str | None, str]:
    """How to resume this run: the flow file's ``resume`` command when the run was started
    by ``python FLOW_FILE.py run`` (or resumed that way), and the same from Python (the
    only way for a run started by ``FlowSpec.run()`` in a program or notebook)."""
    try:
        argv = shlex.split(command)
    except ValueError:
        argv = []
    python = f"{flow}.resume(origin={number})"
    for i, arg in enumerate(argv[:-1]):
        if arg.endswith(".py") and argv[i + 1] in ("run", "resume"):
            interpreter = argv[0] if i > 0 else "python"
            line = f"{interpreter} {shlex.quote(arg)} resume --origin-run-id {number}"
            return line, python
    return None, python


@router.get("/ui/flows/{flow}/{number}")
@rule(Need.READ, names="flow")
def flow_run(
    request: Request,
    flow: str,
    number: str,
    step: str | None = None,
    offset: int = Query(0, ge=0),
) -> Response:
    client = request.app.state.client
    record = _flow_run(client, flow, number)
    info = client.store.get_run(record.run_id)
    graph = json.loads(record.graph or "{}")
    tasks = client.store.flows.tasks(record.run_id)  # one query, status and times joined
    base = f"/ui/flows/{flow}/{record.number}"
    steps, edges, width, height = layout(graph)
    _colour(steps, tasks, base)
    fanouts = {c: s.fanout for s in steps if s.fanout is not None for c in s.next}
    listed = [t for t in tasks if step is None or t.step == step]
    origin = None
    if record.origin_run_id:
        try:
            origin = client.store.flows.flow_run_of(record.origin_run_id).number
        except ShipyardError:
            origin = None
    resume = None
    if info.status in (RunStatus.FAILED, RunStatus.KILLED):
        resume = resume_command(flow, record.number, info.command)
    failed = [t for t in _latest_attempts(tasks) if STATE.get(t.status) == "failed"]
    return page(
        request,
        "flows_run.html",
        section="flows",
        crumbs=[("Flows", "/ui/flows"), (flow, f"/ui/flows/{flow}"), (str(record.number), None)],
        flow=flow,
        number=record.number,
        run=info,
        base=base,
        steps=steps,
        edges=edges,
        width=width,
        height=height,
        node_w=NODE_W,
        node_h=NODE_H,
        fanouts=fanouts,
        tasks=listed[offset : offset + TASKS_PER_PAGE],
        task_total=len(listed),
        all_tasks=len(tasks),
        offset=offset,
        per_page=TASKS_PER_PAGE,
        step=step,
        origin=origin,
        resume=resume,
        failed=failed,
        timings=step_timings(steps, tasks, info),
        tags=sorted(t for t in info.tags if not t.startswith("shipyard.")),
    )


# -- /ui/flows/{flow}/{number}/{step}/{task} --------------------------------------------


@router.get("/ui/flows/{flow}/{number}/{step}/{task}")
@rule(Need.READ, names="flow")
def task_page(request: Request, flow: str, number: str, step: str, task: str) -> Response:
    client = request.app.state.client
    record = _flow_run(client, flow, number)
    found = [t for t in client.store.flows.tasks(record.run_id, step) if t.run_id == task]
    if not found:
        raise NotFound(f"{flow}/{record.number}/{step} has no task {task!r}")
    this = found[0]
    info = client.store.get_run(this.run_id)
    artifacts = [
        _artifact(client.blobs, r) for r in client.store.list_artifacts(this.run_id, DATA_PREFIX)
    ]
    base = f"/ui/flows/{flow}/{record.number}"
    return page(
        request,
        "flows_task.html",
        section="flows",
        crumbs=[
            ("Flows", "/ui/flows"),
            (flow, f"/ui/flows/{flow}"),
            (str(record.number), base),
            (step, f"{base}?step={step}#tasks"),
            (task[:8], None),
        ],
        flow=flow,
        number=record.number,
        base=base,
        task=this,
        info=info,
        state=STATE.get(this.status, "running"),
        stdout=_log(client.blobs, this.stdout_hash),
        stderr=_log(client.blobs, this.stderr_hash),
        artifacts=artifacts,
        cloned_from=info.tags.get("cloned_from"),
    )


def _flow_run(client: Any, flow: str, number: str) -> Any:
    """The run FLOW/NUMBER (a number that is not one names no run: 404, as a page)."""
    if not number.isdigit():
        raise NotFound(f"{flow}/{number} is not a flow run: runs are numbered, as {flow}/1")
    return client.store.flows.get_flow_run(flow, int(number))


@dataclass
class Log:
    text: str
    size: int
    cut: bool


def _log(blobs: Any, blob_hash: str | None) -> Log:
    """The end of a log: its last LOG_TAIL bytes, read without holding the rest."""
    if not blob_hash:
        return Log("", 0, False)
    try:
        size = blobs.size(blob_hash)
        with blobs.open(blob_hash) as reader:
            skip = max(0, size - LOG_TAIL)
            while skip > 0:
                chunk = reader.read(min(skip, 1 << 20))
                if not chunk:
                    break
                skip -= len(chunk)
            data = reader.read(LOG_TAIL)
    except (ShipyardError, OSError) as exc:  # collected, or the blob store is away
        return Log(f"(the log cannot be read: {exc})", 0, False)
    text = data.decode("utf-8", "replace")
    if size > LOG_TAIL:  # from the first whole line
        text = text.partition("\n")[2] or text
    return Log(text, size, size > LOG_TAIL)


@dataclass
class ArtifactView:
    name: str
    serializer: str
    size: int
    kind: str = ""
    preview: str | None = None
    why: str = ""


def _artifact(blobs: Any, record: Any) -> ArtifactView:
    view = ArtifactView(record.path.removeprefix(DATA_PREFIX), record.serializer, record.size)
    if record.size > PREVIEW_MAX:
        view.why = "too large to preview here"
        return view
    try:
        with blobs.open(record.blob_hash) as reader:
            data = reader.read(PREVIEW_MAX + 1)
        view.kind, view.preview = _preview(record.serializer, data)
    except _NotPlain as exc:
        view.kind, view.why = str(exc), "an object of a class: load it with the flows client"
    except Exception as exc:  # a preview never breaks the page
        view.why = f"no preview ({type(exc).__name__})"
    if view.preview is not None and len(view.preview) > PREVIEW_CHARS:
        view.preview = view.preview[:PREVIEW_CHARS] + " …"
    return view


def _preview(serializer: str, data: bytes) -> tuple[str, str | None]:
    if serializer == "text":
        return "str", repr(data.decode("utf-8", "replace"))
    if serializer == "bytes":
        return "bytes", repr(data[:200])
    if serializer == "numpy":
        import numpy as np

        array = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
        return f"ndarray {array.dtype} {array.shape}", np.array2string(array, threshold=50)
    if serializer in ("pandas", "arrow"):
        import pyarrow.parquet as pq

        meta = pq.read_metadata(io.BytesIO(data))
        names = ", ".join(meta.schema.names[:12])
        return f"table {meta.num_rows} rows, {meta.num_columns} columns", f"columns: {names}"
    if serializer == "pickle":
        value = _PlainUnpickler(io.BytesIO(data)).load()
        return type(value).__name__, repr(value)
    return serializer, None


class _NotPlain(Exception):
    """A pickle that names a class: not loaded here (that would run its code)."""


_PLAIN = {("builtins", n) for n in ("set", "frozenset", "complex", "bytearray", "range", "slice")}


class _PlainUnpickler(pickle.Unpickler):
    """Loads plain data only: numbers, strings, lists, dicts, tuples, sets."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _PLAIN:
            return super().find_class(module, name)
        raise _NotPlain(f"{module}.{name}")


__all__ = ["layout", "resume_command", "router"]
