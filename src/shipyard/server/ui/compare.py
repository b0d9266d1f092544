"""The web UI's comparison of 2-10 runs: overlaid curves and a params/metrics diff."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from shipyard.errors import InvalidArgument, NotFound, PermissionDenied
from shipyard.governance import Need
from shipyard.server.authz import readable_projects, rule
from shipyard.server.ui.render import page, signed_in
from shipyard.server.ui.runs_common import (
    COMPARE_CHARTS,
    MAX_CHARTS,
    MAX_COMPARE,
    MAX_POINTS,
    PALETTE,
    Axis,
    _client,
    _duration_ms,
    _finite,
    _now_ms,
)
from shipyard.store.base import Metric, RunRecord
from shipyard.tracking import validation as v
from shipyard.tracking.downsample import downsample

router = APIRouter(include_in_schema=False)


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
