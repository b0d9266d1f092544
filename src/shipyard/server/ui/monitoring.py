"""The web UI's monitoring pages: what is served (variants, weights as logged, shadows),
the monitors' last status and the firing alerts; and per monitor, drift per feature
(reference vs current histograms), performance, latency and errors per variant over the
monitor's window, its result history and its alerts.

Deployments are not stored (a server's deployment is its own YAML or flags), so traffic
is what the prediction log shows: each (variant, version, shadow) that answered, with its
share of the live calls. Chart data comes from one read of the monitor's last window.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from shipyard._clock import from_millis, to_millis
from shipyard.errors import ShipyardError
from shipyard.governance import Need
from shipyard.server.authz import readable_projects, rule
from shipyard.server.authz_scope import model_projects
from shipyard.server.ui.render import page
from shipyard.store.base import MonitorRecord, MonitorResultRecord

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.tracking import Client

router = APIRouter(include_in_schema=False)

MAX_RESULTS = 200  # a monitor's results read for its history
MAX_ALERTS = 50
MAX_FEATURES = 24  # histograms drawn per drift monitor
SAMPLE_CALLS = 5_000  # the newest calls a traffic split is computed over
WINDOW_CALLS = 5_000  # the newest calls of a monitor's window its charts are drawn from
MINUTE_MS = 60_000
SPANS = {"1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000}
BUCKETS_MS = (
    100, 250, 500, 1000, 5000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000,
    21_600_000, 86_400_000,
)  # fmt: skip
MAX_POINTS = 60  # windows per time chart


@router.get("/ui/monitoring")
@rule(Need.READ, lists=True)
def monitoring_overview(
    request: Request, since: str = Query("24h", pattern="^(1h|24h|7d)$")
) -> Response:
    client: Client = request.app.state.client
    store = client.store
    readable = readable_projects(request)
    shown = _visible(store, readable)
    monitors = [m for m in store.monitors.list_monitors() if shown(m.model)]
    latest = {m.id: next(iter(store.monitors.results(m.id, limit=1)), None) for m in monitors}
    alerts = [a for a in store.monitors.list_alerts() if shown(a.model)][:MAX_ALERTS]
    last = store.predictions.last_prediction_ms()
    now = to_millis(client.clock.now())
    start = now - SPANS[since]
    served = [
        _traffic(client, model, start, now, t) if t >= start else Served(model, {}, t)
        for model, t in sorted(last.items())
        if shown(model)
    ]
    return page(
        request,
        "monitoring_overview.html",
        section="deployments",
        crumbs=[("Monitoring", None)],
        monitors=sorted(monitors, key=lambda m: (m.model, m.name)),
        latest=latest,
        alerts=alerts,
        served=served,
        since=since,
        spans=list(SPANS),
        summary=summary,
    )


@router.get("/ui/monitoring/{name}")
@rule(Need.READ, names="monitor")
def monitor_page(
    request: Request,
    name: str,
    model: str | None = Query(None, max_length=256, description="when several share the name"),
) -> Response:
    client: Client = request.app.state.client
    store = client.store.monitors
    record = store.get_monitor(name, model)
    results = store.results(record.id, limit=MAX_RESULTS)
    latest = results[0] if results else None
    alerts = [a for a in store.list_alerts(include_resolved=True) if a.monitor_id == record.id]
    now = to_millis(client.clock.now())
    start, end = (
        (latest.window_start_ms, latest.window_end_ms) if latest else (now - 3_600_000, now)
    )
    charts = Charts()
    frame = _window(client, record.model, start, end, charts)
    if record.check_kind == "drift" and latest is not None and latest.version is not None:
        _histograms(client, record, latest, frame, charts)
    if frame is not None and len(frame):
        _over_time(frame, record, charts)
    return page(
        request,
        "monitoring_monitor.html",
        section="deployments",
        crumbs=[("Monitoring", "/ui/monitoring"), (f"{record.model} · {record.name}", None)],
        monitor=record,
        results=results,
        latest=latest,
        drift_rows=(latest.details.get("features", []) if latest else []),
        history_chart=_history_chart(record, results),
        alerts=alerts[:MAX_ALERTS],
        charts=charts,
        window=(start, end),
        summary=summary,
    )


# -- the overview's traffic ------------------------------------------------------------


@dataclass
class Variant:
    variant: str
    version: int
    shadow: bool
    calls: int
    errors: int
    share: float | None  # of the live calls; None for a shadow
    p50_ms: float | None


@dataclass
class Served:
    model: str
    versions: dict[int, int]  # version -> calls among the newest ones read
    last_prediction_ms: int | None
    variants: list[Variant] = field(default_factory=list)
    note: str | None = None
    span_calls: int = 0  # every call in the span
    sampled: int = 0  # the newest calls the split is computed over


def newest_range(store: Any, model: str, start: int, end: int, most: int) -> tuple[int, int]:
    """(since, calls in [start, end)): ``since`` is where the newest ``most`` calls of the
    span begin (to the minute), from the log's per-minute counts: reads stay bounded
    however busy the model is."""
    counts = store.bucket_counts(model, start, end, MINUTE_MS)
    since, taken = end, 0
    for bucket in sorted(counts, reverse=True):
        if taken >= most:
            break
        since, taken = max(bucket, start), taken + counts[bucket]
    return since, sum(counts.values())


def _traffic(client: Client, model: str, start: int, end: int, last: int | None) -> Served:
    """What answered for ``model`` in ``[start, end)``: the split over its newest calls."""
    store = client.store.predictions
    served = Served(model, {}, last)
    try:
        since, served.span_calls = newest_range(store, model, start, end, SAMPLE_CALLS)
        calls = store.raw_calls(model, [(since, end)])
    except ShipyardError as exc:
        served.note = exc.message
        return served
    if not calls:
        served.note = "no calls"
        return served
    served.sampled = len(calls)
    groups: dict[tuple[str, int, bool], list[Any]] = {}
    for call in calls:
        groups.setdefault((call.variant, call.version, bool(call.shadow)), []).append(call)
        served.versions[call.version] = served.versions.get(call.version, 0) + 1
    live = sum(len(g) for (_, _, shadow), g in groups.items() if not shadow)
    for (variant, version, shadow), group in groups.items():
        latencies = sorted(c.latency_ms for c in group)
        served.variants.append(
            Variant(
                variant,
                version,
                shadow,
                len(group),
                sum(c.error is not None for c in group),
                None if shadow or not live else len(group) / live,
                latencies[len(latencies) // 2],
            )
        )
    served.variants.sort(key=lambda v: (v.shadow, -(v.share or 0), v.variant))
    return served


# -- the monitor page's charts ---------------------------------------------------------


@dataclass
class Charts:
    """Chart specs (data-chart JSON) by group, and notes on what could not be drawn."""

    histograms: list[dict[str, Any]] = field(default_factory=list)
    performance: list[dict[str, Any]] = field(default_factory=list)
    serving: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    bucket: str = ""


def _read(
    client: Client, model: str, start: int, end: int, columns: list[str] | None
) -> pd.DataFrame | None:
    from shipyard.monitoring.window import read_window

    return read_window(
        model, since=from_millis(start), until=from_millis(end), columns=columns, client=client
    )


def _window(
    client: Client, model: str, start: int, end: int, charts: Charts
) -> pd.DataFrame | None:
    try:
        since, total = newest_range(client.store.predictions, model, start, end, WINDOW_CALLS)
        if since > start:
            charts.notes.append(
                f"The charts show the newest calls of the window, from {from_millis(since):%H:%M} "
                f"UTC ({total:,} calls in the whole window; the drift table covers them all)."
            )
        frame = _read(client, model, since, end, None)
    except ShipyardError as exc:
        charts.notes.append(f"the prediction log could not be read: {exc.message}")
        return None
    if frame is None or not len(frame):
        charts.notes.append("no predictions were logged in the monitor's last window")
    return frame


def _histograms(
    client: Client,
    record: MonitorRecord,
    latest: MonitorResultRecord,
    frame: pd.DataFrame | None,
    charts: Charts,
) -> None:
    """Reference vs current shares per bin of the reference's profile (its deciles for a
    numeric feature, its categories for a categorical one), as drift's psi/js compare."""
    import numpy as np

    from shipyard.monitoring import _stats_columns as cols
    from shipyard.monitoring.profiles import Profile, profile
    from shipyard.monitoring.runner import reference_for

    assert latest.version is not None
    try:
        version = client.store.models.get_model_version(record.model, latest.version)
        reference = reference_for(client, version)
    except ShipyardError as exc:
        charts.notes.append(f"no reference to draw: {exc.message}")
        return
    if not isinstance(reference, Profile):
        reference = profile(reference)
    drifted = set(latest.details.get("drifted") or [])
    names = [str(f.get("feature")) for f in latest.details.get("features", [])]
    names = list(dict.fromkeys(names))[:MAX_FEATURES]
    ok = frame[frame["error"].isna()] if frame is not None and "error" in frame else frame
    for name in names:
        ref = reference.columns.get(name)
        if ref is None or ok is None or name not in ok.columns:
            continue
        series = ok[name]
        if ref.kind == cols.NUMERIC and ref.bin_edges:
            values, _ = cols.numeric_values(series)
            edges = np.asarray(ref.bin_edges)
            current = cols.bin_counts(values, edges).tolist()
            reference_counts = list(ref.bin_counts)
            inner = [f"{e:.4g}" for e in ref.bin_edges[1:-1]]
            between = [f"{a}\u2013{b}" for a, b in itertools.pairwise(inner)]
            labels = [f"< {inner[0]}", *between]
            labels.append(f"≥ {inner[-1]}")
        elif ref.kind == cols.CATEGORICAL:
            keys, counts, _ = cols.category_counts(series)
            found = dict(zip(keys, counts.tolist(), strict=True))
            labels = list(ref.categories)
            reference_counts = [int(ref.categories[k]) for k in labels]
            current = [int(found.pop(k, 0)) for k in labels]
            if found:
                labels.append("unseen")
                reference_counts.append(0)
                current.append(int(sum(found.values())))
        else:
            continue
        colour = "#d62728" if name in drifted else "#1f77b4"
        charts.histograms.append(
            {
                "feature": name,
                "drifted": name in drifted,
                "labels": labels,
                "spec": _grouped_bars(
                    _shares(reference_counts),
                    _shares(current),
                    colour,
                    "category" if ref.kind == cols.CATEGORICAL else "decile of the reference",
                ),
            }
        )


def _grouped_bars(
    reference: list[float], current: list[float], colour: str, x_label: str
) -> dict[str, Any]:
    """Side-by-side bars per bin: the two series on interleaved x (bin ± 0.2, the other
    series null there), with an empty bin each side so the axis starts at 0 and no bar is
    cut at the edges."""
    x: list[float] = [0.4]
    ref_y: list[float | None] = [0.0]
    cur_y: list[float | None] = [0.0]
    for i, (r, c) in enumerate(zip(reference, current, strict=True), start=1):
        x += [i - 0.2, i + 0.2]
        ref_y += [r, None]
        cur_y += [None, c]
    x.append(len(reference) + 0.6)
    ref_y.append(0.0)
    cur_y.append(0.0)
    return {
        "x": [round(v, 2) for v in x],
        "series": [
            {"label": "reference", "y": ref_y, "color": "#7f7f7f"},
            {"label": "current", "y": cur_y, "color": colour},
        ],
        "xLabel": x_label,
        "yLabel": "share of rows",
        "bars": True,
    }


def _shares(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [round(c / total, 4) if total else 0.0 for c in counts]


def _bucket_ms(frame: pd.DataFrame) -> int:
    """The smallest window that gives at most MAX_POINTS windows over the frame's span."""
    span_ms = (frame["ts"].max() - frame["ts"].min()) / timedelta(milliseconds=1)
    return next((b for b in BUCKETS_MS if span_ms / b <= MAX_POINTS), BUCKETS_MS[-1])


def _bucket_label(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms >= size:
            return f"{ms // size} {unit}"
    return f"{ms} ms"


def _over_time(frame: pd.DataFrame, record: MonitorRecord, charts: Charts) -> None:
    """Per window and variant: the model's metric on labelled rows, latency and errors."""
    from shipyard.monitoring import performance

    bucket_ms = _bucket_ms(frame)
    charts.bucket = _bucket_label(bucket_ms)
    data = frame.assign(
        bucket=frame["ts"].dt.floor(f"{bucket_ms}ms"),
        call=frame["prediction_id"].astype(str).str[:26],
        failed=frame["error"].notna(),
    )
    stats = (
        data.groupby(["bucket", "variant"])
        .agg(
            calls=("call", "nunique"),
            errors=("failed", "sum"),
            latency_p50=("latency_ms", "median"),
            latency_p95=("latency_ms", lambda s: s.quantile(0.95)),
        )
        .reset_index()
    )
    stats["error_rate"] = stats["errors"] / stats["calls"]
    try:
        table = performance(data, by=["bucket", "variant"])
    except ShipyardError as exc:
        charts.notes.append(f"No model metric over time: {exc.message}")
        table = stats
    metric = str(record.spec.get("metric") or "")
    if metric not in table.columns:
        metric = next((m for m in ("roc_auc", "accuracy", "r2", "mae") if m in table.columns), "")
    x = sorted({t.timestamp() for t in stats["bucket"]})

    def spec(column: str, label: str, scale: float = 1.0, source: Any = stats) -> dict[str, Any]:
        series = []
        for variant, group in source.groupby("variant"):
            by_x = {t.timestamp(): v for t, v in zip(group["bucket"], group[column], strict=True)}
            y = [_num(by_x.get(t)) for t in x]
            series.append(
                {"label": f"{variant}", "y": [v * scale if v is not None else None for v in y]}
            )
        return {"x": x, "series": series, "xLabel": "time", "yLabel": label, "time": True}

    every = f"per {charts.bucket}"
    if metric:
        chart = spec(metric, metric, source=table)
        threshold = record.spec.get("threshold")
        if record.check_kind == "performance" and isinstance(threshold, int | float):
            line = {"label": "threshold", "y": [float(threshold)] * len(x), "color": "#d62728"}
            chart["series"].append(line)
        charts.performance.append({"title": f"{metric} {every}", "spec": chart})
    charts.serving += [
        {"title": f"latency p50 (ms) {every}", "spec": spec("latency_p50", "ms")},
        {"title": f"latency p95 (ms) {every}", "spec": spec("latency_p95", "ms")},
        {"title": f"errors (% of calls) {every}", "spec": spec("error_rate", "%", 100.0)},
        {"title": f"calls {every}", "spec": spec("calls", "calls")},
    ]


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else round(number, 6)  # NaN: a gap


def _history_chart(
    record: MonitorRecord, results: list[MonitorResultRecord]
) -> dict[str, Any] | None:
    """The monitor's value per evaluation (oldest first): the metric for performance, the
    number of drifted features for drift, and each feature's drift statistic."""
    ordered = [r for r in reversed(results) if r.status != "error"]
    if len(ordered) < 2:  # one point says no more than the table
        return None
    x = [r.evaluated_ms // 1000 for r in ordered]
    series: list[dict[str, Any]] = []
    if record.check_kind == "drift":
        names = list(dict.fromkeys(
            str(f.get("feature")) for r in ordered for f in r.details.get("features", [])
        ))[:10]  # fmt: skip
        for name in names:
            y = []
            for r in ordered:
                stat = next(
                    (f for f in r.details.get("features", []) if f.get("feature") == name), None
                )
                y.append(_num(stat.get("statistic")) if stat else None)
            series.append({"label": name, "y": y})
        label = "drift statistic"
    else:
        series.append(
            {
                "label": str(record.spec.get("metric") or record.check_kind),
                "y": [_num(r.value) for r in ordered],
            }
        )
        if any(r.threshold is not None for r in ordered):
            series.append(
                {
                    "label": "threshold",
                    "y": [_num(r.threshold) for r in ordered],
                    "color": "#d62728",
                }
            )
        label = str(record.spec.get("metric") or "value")
    return {"x": x, "series": series, "xLabel": "evaluated", "yLabel": label, "time": True}


def summary(r: MonitorResultRecord | None) -> str:
    """A result in one line, as `shipyard monitor ls` says it."""
    if r is None:
        return "never evaluated"
    if r.status == "error":
        return str(r.details.get("error", "error"))
    drifted = r.details.get("drifted")
    if drifted is not None:
        count = len(r.details.get("features", []))
        return f"{len(drifted)} of {count} feature(s) drifted" + (
            f": {', '.join(drifted)}" if drifted else ""
        )
    value = "n/a" if r.value is None else f"{r.value:.4g}"
    metric = r.details.get("metric") or "value"
    fires = r.details.get("fires_when")
    return f"{metric} {value}" + (
        f", fires {fires} {r.threshold:g}" if fires and r.threshold is not None else ""
    )


def _visible(store: Any, readable: set[str] | None) -> Any:
    """model name -> whether the caller may read it (cached per request)."""
    known: dict[str, bool] = {}

    def shown(model: str) -> bool:
        if readable is None:
            return True
        if model not in known:
            known[model] = bool(model_projects(store, model) & readable)
        return known[model]

    return shown
