"""The web UI's runs pages: projects, a project's runs table, one run, its artifacts, and
a comparison of runs.

Each page makes a bounded number of store reads whatever the number of runs: one search
for a table page, one batched read of metric histories for a run's charts or a
comparison (downsampled here to ``MAX_POINTS`` per series), never a query per run.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from shipyard.errors import InvalidArgument, NotFound, PermissionDenied, ShipyardError
from shipyard.governance import Need
from shipyard.server.authz import readable_projects, rule
from shipyard.server.ui.render import page, signed_in
from shipyard.store.base import ArtifactRecord, Metric, RunRecord
from shipyard.tracking import validation as v
from shipyard.tracking.downsample import downsample

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

T = TypeVar("T")
Axis = Literal["step", "time"]

MAX_POINTS = 500  # per series: a chart is ~500 px wide
PAGE_SIZE = 50
MAX_CHARTS = 40
DEFAULT_PARAM_COLUMNS = 6
DEFAULT_METRIC_COLUMNS = 6
MAX_COMPARE = 10
COMPARE_CHARTS = 8  # metrics charted unless picked: each costs a read of 10 histories
# app.js's palette, for the swatches beside run names
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]  # fmt: skip
CHILDREN_LIMIT = 200
COUNT_TTL_S = 30.0
PREVIEW_BYTES = 256 * 1024  # text shown inline
TABLE_BYTES = 64 * 1024 * 1024  # the biggest Parquet file read for its first rows
TABLE_ROWS = 50
IMAGES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
}
# shown as text (escaped), whatever the serializer
TEXT = {".txt", ".log", ".md", ".json", ".jsonl", ".yaml", ".yml", ".toml", ".cfg", ".ini",
        ".py", ".sh", ".sql", ".diff", ".patch", ".html", ".xml", ".csv", ".tsv"}  # fmt: skip
# as tracking and lineage name them (shipyard.lineage.upstream_walk: a heavy import)
DIFF_ARTIFACT = "code/uncommitted.diff"
DATASET_TAG = "shipyard.dataset."
GIT_REPO_TAG = "shipyard.git.repo"
# an image answered as itself may not run anything (an SVG can carry scripts)
IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
_PLAIN_NAME = re.compile(r"^[A-Za-z_][\w\-]*$")
_COLUMN_KINDS = {"params": "params", "param": "params", "metrics": "metrics",
                 "metric": "metrics", "tags": "tags", "tag": "tags"}  # fmt: skip


# -- shared helpers ----------------------------------------------------------------------


def _client(request: Request) -> Any:
    return request.app.state.client


def _part(what: str, produce: Callable[[], T], default: T) -> tuple[T, str | None]:
    """One part of a page: its value, or the default and why (the rest still renders)."""
    try:
        return produce(), None
    except ShipyardError as exc:
        return default, exc.message
    except Exception as exc:  # a broken part must not take the page down
        log.warning("run page part %s failed", what, exc_info=True)
        return default, f"{type(exc).__name__}: {exc}"


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or Infinity: a chart shows a gap there."""
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return value


def _duration_ms(run: RunRecord, now_ms: int) -> int:
    return max(0, (run.end_ms if run.end_ms is not None else now_ms) - run.start_ms)


def _now_ms(request: Request) -> int:
    from shipyard._clock import to_millis

    return int(to_millis(_client(request).clock.now()))


def _key_text(kind: str, key: str) -> str:
    """A key as the filter language reads it (odd names back-quoted)."""
    return f"{kind}.{key}" if _PLAIN_NAME.match(key) else f"{kind}.`{key}`"


# -- /ui/projects --------------------------------------------------------------------------


def _count_runs(store: Any, project: str, newest: list[RunRecord]) -> int:
    """The number of live runs of ``project``: the store has no count, so probe offsets
    with one-row searches, doubling then bisecting (about 2·log2(n) tiny reads)."""

    def exists(offset: int) -> bool:
        return bool(store.search_runs([project], "", [], 1, offset, False))

    if not newest:
        return 0
    low, high = 1, 2  # a run at offset low - 1 exists
    while exists(high - 1):
        low, high = high, high * 2
    while high - low > 1:  # runs at offset low - 1 exist, none at high - 1
        middle = (low + high) // 2
        if exists(middle - 1):
            low = middle
        else:
            high = middle
    return low


_COUNTS: dict[tuple[int, str], tuple[float, str, int]] = {}


def _cached_count(store: Any, project: str, newest: list[RunRecord]) -> int:
    """``_count_runs``, remembered for ``COUNT_TTL_S`` while the newest run stays the same
    (a new run recounts at once; a deletion shows within the TTL)."""
    key = (id(store), project)
    newest_id = newest[0].id if newest else ""
    now = time.monotonic()
    known = _COUNTS.get(key)
    if known is not None and known[1] == newest_id and now - known[0] < COUNT_TTL_S:
        return known[2]
    count = _count_runs(store, project, newest)
    _COUNTS[key] = (now, newest_id, count)
    return count


@router.get("/ui/projects")
@rule(Need.READ, lists=True)
def projects_page(request: Request) -> Response:
    store = _client(request).store
    readable = readable_projects(request)
    rows = []
    for project in store.list_projects():
        if readable is not None and project.name not in readable:
            continue
        newest = store.search_runs([project.name], "", ["start_time DESC"], 1, 0, False)
        rows.append(
            {
                "name": project.name,
                "description": project.description,
                "created_ms": project.created_ms,
                "runs": _cached_count(store, project.name, newest),
                "last_ms": newest[0].start_ms if newest else None,
                "last_run": newest[0] if newest else None,
            }
        )
    rows.sort(key=lambda r: -(r["last_ms"] or r["created_ms"] or 0))
    return page(
        request, "runs_projects.html", section="runs", crumbs=[("Projects", None)], projects=rows
    )


# -- /ui/projects/{project}/runs ---------------------------------------------------------


@dataclass(frozen=True)
class Column:
    kind: str  # params | metrics | tags
    key: str

    @property
    def label(self) -> str:
        return f"{self.kind}.{self.key}"

    @property
    def sort_key(self) -> str:
        return _key_text(self.kind, self.key)

    def value(self, run: RunRecord) -> Any:
        return getattr(run, self.kind).get(self.key)


def _parse_columns(text: str) -> list[Column]:
    columns = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        prefix, _, key = item.partition(".")
        kind = _COLUMN_KINDS.get(prefix.lower())
        if kind is None or not key:
            raise InvalidArgument(f"column {item!r}: write params.NAME, metrics.NAME or tags.NAME")
        columns.append(Column(kind, key.strip('`"')))
    return list(dict.fromkeys(columns))


def _default_columns(runs: list[RunRecord]) -> list[Column]:
    """The metrics then params keys the page's runs have, the most common ones (capped;
    the column picker offers the rest)."""
    chosen: list[Column] = []
    for kind, cap in (("metrics", DEFAULT_METRIC_COLUMNS), ("params", DEFAULT_PARAM_COLUMNS)):
        counts: dict[str, int] = {}
        for run in runs:
            for key in getattr(run, kind):
                counts[key] = counts.get(key, 0) + 1
        keys = sorted(counts, key=lambda k: (-counts[k], k))
        chosen += [Column(kind, k) for k in sorted(keys[:cap])]
    return chosen


def _page_keys(runs: list[RunRecord]) -> list[Column]:
    """Every params and metrics key of the page's runs, for the column picker."""
    keys = {
        Column(kind, k)
        for run in runs
        for kind in ("params", "metrics")
        for k in getattr(run, kind)
    }
    return sorted(keys, key=lambda c: (c.kind != "metrics", c.key))


def _order_parts(order_by: str) -> tuple[str, bool]:
    """``'metrics.auc DESC'`` -> ``('metrics.auc', True)``."""
    text = order_by.strip()
    lowered = text.lower()
    for suffix, descending in ((" desc", True), (" asc", False)):
        if lowered.endswith(suffix):
            return text[: -len(suffix)].strip(), descending
    return text, False


@router.get("/ui/projects/{project}/runs")
@rule(Need.READ)
def runs_page(
    project: str,
    request: Request,
    filter: Annotated[str, Query(max_length=4000)] = "",
    order_by: Annotated[str, Query(max_length=500)] = "",
    columns: Annotated[str, Query(max_length=4000)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE_SIZE,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    client = _client(request)
    client.store.get_project(v.check_name(project, "project name"))  # 404 for a typo
    order = order_by.strip() or "start_time DESC"
    error = None
    try:
        found = client.store.search_runs([project], filter, [order], limit + 1, offset, False)
    except InvalidArgument as exc:
        found, error = [], exc.message
    more = len(found) > limit
    runs = found[:limit]
    try:
        chosen = _parse_columns(columns) if columns.strip() else None
    except InvalidArgument as exc:
        chosen, error = None, error or exc.message
    if chosen is None:
        chosen = _default_columns(runs)
    order_key, descending = _order_parts(order)
    base = {"filter": filter, "columns": columns, "limit": limit}
    base = {k: val for k, val in base.items() if val and val != PAGE_SIZE}

    def link(**changes: Any) -> str:
        query = {**base, "order_by": order_by, "offset": offset, **changes}
        kept = {k: val for k, val in query.items() if val not in ("", 0, None)}
        return f"/ui/projects/{quote(project)}/runs" + ("?" + urlencode(kept) if kept else "")

    def sort_link(key: str) -> str:
        flip = "ASC" if order_key == key and descending else "DESC"
        return link(order_by=f"{key} {flip}", offset=0)

    def sorted_by(key: str) -> str:
        return ("desc" if descending else "asc") if key == order_key else ""

    return page(
        request,
        "runs_table.html",
        section="runs",
        crumbs=[("Projects", "/ui/projects"), (project, None)],
        flash=error,
        flash_kind="error",
        project=project,
        runs=runs,
        columns=chosen,
        other_columns=[c for c in _page_keys(runs) if c not in chosen],
        columns_link=lambda more: link(columns=",".join(c.label for c in [*chosen, *more])),
        filter=filter,
        order_by=order_by,
        columns_text=columns,
        offset=offset,
        limit=limit,
        prev_url=link(offset=max(0, offset - limit)) if offset > 0 else None,
        next_url=link(offset=offset + limit) if more else None,
        sort_link=sort_link,
        status_link=lambda status: link(filter=f"status = '{status}'", offset=0),
        sorted_by=sorted_by,
        now_ms=_now_ms(request),
        duration_ms=_duration_ms,
    )


# -- /ui/runs/{run_id} -------------------------------------------------------------------


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


@dataclass
class Entry:
    name: str
    path: str
    folder: bool
    size: int = 0
    files: int = 0
    record: ArtifactRecord | None = None


@dataclass
class Preview:
    kind: str  # image | text | json | table | none
    text: str = ""
    truncated: bool = False
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    total_rows: int | None = None
    note: str = ""


def _listing(records: list[ArtifactRecord], folder: str) -> list[Entry]:
    prefix = folder + "/" if folder else ""
    entries: dict[str, Entry] = {}
    for record in records:
        if not record.path.startswith(prefix):
            continue
        rest = record.path[len(prefix) :]
        head, slash, _ = rest.partition("/")
        if slash:
            entry = entries.setdefault(head, Entry(head, prefix + head, True))
            entry.size += record.size
            entry.files += 1
        else:
            entries[head] = Entry(head, record.path, False, record.size, 1, record)
    return sorted(entries.values(), key=lambda e: (not e.folder, e.name))


def _extension(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _head_bytes(client: Any, record: ArtifactRecord, limit: int) -> bytes:
    reader = client.blobs.open(record.blob_hash)
    try:
        data: bytes = reader.read(limit)
        return data
    finally:
        reader.close()


def _head_text(client: Any, record: ArtifactRecord, limit: int) -> str:
    return _head_bytes(client, record, limit).decode("utf-8", errors="replace")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"  # no float noise (0.30000000000000004)
    return str(value)


def _table_preview(header: list[Any], rows: list[list[Any]], total: int | None) -> Preview:
    return Preview(
        "table",
        header=[str(h) for h in header],
        rows=[[_cell(c) for c in row] for row in rows],
        total_rows=total,
    )


def _parquet_preview(data: bytes) -> Preview:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table_file = pq.ParquetFile(pa.BufferReader(data))
    batch = next(table_file.iter_batches(batch_size=TABLE_ROWS), None)
    header = list(table_file.schema_arrow.names)
    rows = [list(r.values()) for r in batch.to_pylist()] if batch is not None else []
    return _table_preview(header, rows, table_file.metadata.num_rows)


def _csv_preview(text: str, delimiter: str) -> Preview:
    lines = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not lines:
        return Preview("text", text="(empty)")
    return _table_preview(lines[0], lines[1 : TABLE_ROWS + 1], None)


def _preview(client: Any, record: ArtifactRecord) -> Preview:
    extension = _extension(record.path)
    if extension in IMAGES:
        return Preview("image")
    if record.serializer in ("pandas", "arrow") or extension == ".parquet":
        if record.size > TABLE_BYTES:
            return Preview("none", note=f"a table of {record.size:,} bytes: download it")
        return _parquet_preview(client.blobs.get_bytes(record.blob_hash))
    if extension in (".csv", ".tsv"):
        text = _head_text(client, record, PREVIEW_BYTES)
        return _csv_preview(text, "\t" if extension == ".tsv" else ",")
    textual = extension in TEXT or record.serializer == "text"
    if not textual and record.serializer not in ("file", "json"):
        return Preview("none", note=f"a {record.serializer} object: download it to load it")
    data = _head_bytes(client, record, PREVIEW_BYTES)
    if not textual and b"\x00" in data[:4096]:
        return Preview("none", note="binary file: download it")
    text = data.decode("utf-8", errors="replace")
    truncated = record.size > len(data)
    if extension == ".json" and not truncated:
        try:
            return Preview("json", text=json.dumps(json.loads(text), indent=2, ensure_ascii=False))
        except ValueError:
            pass
    return Preview("text", text=text, truncated=truncated)


@router.get("/ui/runs/{run_id}/artifacts")
@rule(Need.READ)
def artifacts_page(
    run_id: str, request: Request, path: Annotated[str, Query(max_length=1024)] = ""
) -> Response:
    client = _client(request)
    run: RunRecord = client.store.get_run(v.check_run_id(run_id))
    path = path.strip("/")
    records: list[ArtifactRecord] = client.store.list_artifacts(run.id)
    chosen = next((r for r in records if r.path == path), None) if path else None
    folder = (
        path.rsplit("/", 1)[0]
        if chosen is not None and "/" in path
        else ("" if chosen is not None else path)
    )
    entries = _listing(records, folder)
    if path and chosen is None and not entries:
        raise NotFound(f"run {run.id} has no artifact at {path!r}")
    preview, problem = (
        _part("preview", lambda: _preview(client, chosen), Preview("none"))
        if chosen is not None
        else (None, None)
    )
    name = run.name or run.id[:8]
    trail = []
    so_far = ""
    for piece in folder.split("/") if folder else []:
        so_far = f"{so_far}/{piece}" if so_far else piece
        trail.append((piece, so_far))
    return page(
        request,
        "runs_artifacts.html",
        section="runs",
        crumbs=[
            ("Projects", "/ui/projects"),
            (run.project, f"/ui/projects/{quote(run.project)}/runs"),
            (name, f"/ui/runs/{run.id}"),
            ("Artifacts", None),
        ],
        run=run,
        name=name,
        folder=folder,
        trail=trail,
        entries=entries,
        chosen=chosen,
        preview=preview,
        flash=problem,
        flash_kind="error",
        total=len(records),
        quote=quote,
    )


def _chunks(client: Any, record: ArtifactRecord) -> Iterator[bytes]:
    with client.blobs.open(record.blob_hash) as reader:
        while chunk := reader.read(1024 * 1024):
            yield chunk


@router.get("/ui/runs/{run_id}/artifact")
@rule(Need.READ)
def artifact_bytes(
    run_id: str, request: Request, path: Annotated[str, Query(min_length=1, max_length=1024)]
) -> Response:
    """An artifact's bytes: images as themselves (for <img>), anything else a download."""
    client = _client(request)
    record = client.store.get_artifact(v.check_run_id(run_id), v.artifact_path(path))
    if not client.blobs.exists(record.blob_hash):  # refuse before the headers go out
        raise NotFound(f"the blob of artifact {record.path!r} is missing: see `shipyard doctor`")
    kind = IMAGES.get(_extension(record.path))
    filename = record.path.rsplit("/", 1)[-1] or "artifact"
    headers = {"x-content-type-options": "nosniff", "content-length": str(record.size)}
    if kind:
        headers["content-security-policy"] = IMAGE_CSP
        headers["cache-control"] = "private, max-age=3600"
        headers["content-disposition"] = f"inline; filename*=UTF-8''{quote(filename)}"
    else:
        headers["content-disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return StreamingResponse(
        _chunks(client, record), media_type=kind or "application/octet-stream", headers=headers
    )


# -- /ui/compare -----------------------------------------------------------------------------


def _compare_runs(request: Request, ids: list[str]) -> list[RunRecord]:
    if not 2 <= len(ids) <= MAX_COMPARE:
        raise InvalidArgument(f"pick 2 to {MAX_COMPARE} runs to compare (got {len(ids)})")
    wanted = ", ".join(f"'{v.check_run_id(i)}'" for i in ids)
    found = _client(request).store.search_runs(None, f"run_id in ({wanted})", [], len(ids), 0, True)
    by_id = {r.id: r for r in found}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise NotFound(f"no run with id {', '.join(missing)}")
    readable = readable_projects(request)
    if readable is not None:
        hidden = sorted({r.project for r in found if r.project not in readable})
        if hidden:
            who = signed_in(request) or "this caller"
            raise PermissionDenied(f"user {who!r} may not read on {', '.join(hidden)}")
    return [by_id[i] for i in ids]


def _aligned(
    runs: list[RunRecord], histories: dict[str, dict[str, list[Metric]]], key: str, x: Axis
) -> dict[str, Any]:
    """One chart: every run's series of ``key`` on the union of their x values (null
    where a run has no point there). Runs happen at different times, so ``x=time`` is
    the time since each run started (seconds), which lines their curves up."""
    per_run: list[dict[float, float | None]] = []
    for run in runs:
        kept = downsample(histories.get(run.id, {}).get(key, []), MAX_POINTS, x)
        if x == "time":
            points = {round((m.timestamp_ms - run.start_ms) / 1000, 3): m.value for m in kept}
        else:
            points = {float(m.step): m.value for m in kept}
        per_run.append({at: _finite(value) for at, value in points.items()})
    xs = sorted({at for points in per_run for at in points})
    return {
        "x": xs,
        "series": [
            {"label": run.name or run.id[:8], "y": [points.get(at) for at in xs]}
            for run, points in zip(runs, per_run, strict=True)
        ],
        "xLabel": "seconds since the run started" if x == "time" else "step",
        "yLabel": "",
        "time": False,
        "bars": False,
    }


def _latest_bars(runs: list[RunRecord], key: str) -> list[dict[str, Any]]:
    """A metric each run logged once, as one bar per run (HTML, widths in percent of the
    largest value, or of the span when some values are negative)."""
    values = [_finite(r.metrics.get(key)) for r in runs]
    finite = [x for x in values if x is not None]
    low = min(finite, default=0.0)
    high = max(finite, default=0.0)
    bars = []
    for i, (run, value) in enumerate(zip(runs, values, strict=True)):
        if value is None:
            width = 0.0
        elif low >= 0:
            width = 100 * value / high if high > 0 else 0.0
        else:
            width = 100 * (value - low) / (high - low) if high > low else 100.0
        bars.append({"index": i, "run": run, "value": value, "width": round(max(width, 0.5), 1)})
    return bars


@dataclass
class DiffRow:
    section: str
    key: str
    values: list[Any]
    texts: list[str]
    differs: bool
    best: int | None = None  # which run has the highest value (metrics)


def _diff_rows(runs: list[RunRecord], now_ms: int) -> list[DiffRow]:
    from shipyard.server.ui.render import duration, number, when

    rows = []

    def add(section: str, key: str, values: list[Any], texts: list[str]) -> None:
        rows.append(DiffRow(section, key, values, texts, len(set(texts)) > 1))

    add("run", "status", [r.status.value for r in runs], [r.status.value for r in runs])
    add("run", "user", [r.user for r in runs], [r.user for r in runs])
    add("run", "started", [r.start_ms for r in runs], [when(r.start_ms) for r in runs])
    durations = [_duration_ms(r, now_ms) for r in runs]
    add("run", "duration", durations, [duration(d) for d in durations])
    add(
        "run", "code version", [r.code_version for r in runs], [r.code_version or "—" for r in runs]
    )
    for key in sorted({k for r in runs for k in r.params}):
        texts = [r.params.get(key, "—") for r in runs]
        add("params", key, texts, texts)
    for key in sorted({k for r in runs for k in r.metrics}):
        values = [r.metrics.get(key) for r in runs]
        add("metrics", key, values, [number(x) for x in values])
        finite = [(x, i) for i, x in enumerate(values) if _finite(x) is not None]
        if len(finite) > 1 and rows[-1].differs:
            rows[-1].best = max(finite)[1]
    return rows


@router.get("/ui/compare")
@rule(Need.READ, lists=True)
def compare_page(
    request: Request,
    run: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI copies the default)
    metric: Annotated[list[str], Query()] = [],  # noqa: B006
    only_diff: Annotated[bool, Query()] = False,
    x: Annotated[Axis, Query()] = "step",
) -> Response:
    ids = list(dict.fromkeys(i.strip() for i in run if i.strip()))
    runs = _compare_runs(request, ids)
    counts: dict[str, int] = {}
    for r in runs:
        for key in r.metrics:
            counts[key] = counts.get(key, 0) + 1
    shared = sorted(k for k, n in counts.items() if n >= 2)
    chosen = [k for k in dict.fromkeys(metric) if k in counts][:MAX_CHARTS]
    charted = chosen or shared[:COMPARE_CHARTS]
    histories = _client(request).store.get_metric_histories([r.id for r in runs], charted)
    charts: list[dict[str, Any]] = []
    latest: list[dict[str, Any]] = []
    for key in charted:
        if max(len(histories.get(r.id, {}).get(key, [])) for r in runs) > 1:
            spec = _aligned(runs, histories, key, x)
            charts.append({"id": f"c{len(charts)}", "key": key, "spec": spec})
        else:
            latest.append({"key": key, "bars": _latest_bars(runs, key)})
    rows = _diff_rows(runs, _now_ms(request))
    shown = [r for r in rows if r.differs] if only_diff else rows
    state: dict[str, Any] = {"only_diff": only_diff, "x": x}

    def url(**changes: Any) -> str:
        now = {**state, **changes}
        query = [("run", r.id) for r in runs] + [("metric", k) for k in chosen]
        query += [("only_diff", "1")] if now["only_diff"] else []
        query += [("x", now["x"])] if now["x"] != "step" else []
        return "/ui/compare?" + urlencode(query)

    return page(
        request,
        "runs_compare.html",
        section="runs",
        crumbs=[("Projects", "/ui/projects"), (f"Compare {len(runs)} runs", None)],
        runs=runs,
        charts=charts,
        latest=latest,
        metric_keys=sorted(counts),
        charted=set(charted),
        rows=shown,
        differing=sum(r.differs for r in rows),
        total_rows=len(rows),
        only_diff=only_diff,
        x=x,
        palette=PALETTE,
        toggle_url=url(only_diff=not only_diff),
        axis_url=lambda axis: url(x=axis),
    )
