"""The overview: which models are live, who owns them and are they healthy; what is stale;
recent and failed runs. One page answers the question a team asks every morning."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from shipyard.governance import Need
from shipyard.registry import model_statuses
from shipyard.server.authz import readable_projects, rule
from shipyard.server.authz_scope import model_projects
from shipyard.server.ui.features import MAX_PROJECTS, RECENT_LOADS, freshness
from shipyard.server.ui.monitoring import newest_range
from shipyard.server.ui.render import page

router = APIRouter(include_in_schema=False)
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
HEALTH_CALLS = 20_000


@dataclass
class Live:
    """A model version behind an alias, and how it has been doing."""

    name: str
    alias: str
    version: int
    owner: str
    created_ms: int
    calls_24h: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    error_rate: float | None = None
    monitors: list[tuple[str, str]] = field(default_factory=list)  # (name, ok|fired|error)
    alerts: list[str] = field(default_factory=list)


def _health(store: Any, live: Live, now_ms: int) -> None:
    """Calls in the last day; latency and errors of the most recent calls (about
    ``HEALTH_CALLS`` of the last hour, whole minutes), so a busy model costs a bounded read."""
    log = store.predictions
    since, live.calls_24h = newest_range(log, live.name, now_ms - DAY_MS, now_ms + 1, HEALTH_CALLS)
    since = max(since, now_ms - HOUR_MS)
    calls = log.raw_calls(live.name, [(since, now_ms + 1)]) if live.calls_24h else []
    calls = [c for c in calls if not c.shadow]
    if calls:
        latencies = sorted(c.latency_ms for c in calls)
        live.p50_ms = statistics.median(latencies)
        live.p95_ms = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
        live.error_rate = sum(1 for c in calls if c.error) / len(calls)


def _live_models(client: Any, readable: set[str] | None) -> list[Live]:
    store = client.store
    now_ms = int(client.clock.now().timestamp() * 1000)
    monitors: dict[str, list[Any]] = {}
    for monitor in store.monitors.list_monitors():
        monitors.setdefault(monitor.model, []).append(monitor)
    firing: dict[str, list[str]] = {}
    for alert in store.monitors.list_alerts():
        firing.setdefault(alert.model, []).append(alert.message)
    out = []
    for model in store.models.list_models():
        if not model.aliases or not _visible(store, model.name, readable):
            continue
        for alias, version in sorted(model.aliases.items()):
            record = store.models.get_model_version(model.name, version)
            live = Live(model.name, alias, version, model.owner, record.created_ms)
            _health(store, live, now_ms)
            for monitor in monitors.get(model.name, []):
                last = store.monitors.results(monitor.id, limit=1)
                live.monitors.append((monitor.name, last[0].status if last else "not run"))
            live.alerts = firing.get(model.name, [])
            out.append(live)
    out.sort(key=lambda m: (m.alias != "production", m.name, m.alias))
    return out


def _visible(store: Any, model: str, readable: set[str] | None) -> bool:
    return readable is None or bool(model_projects(store, model) & readable)


def _stale_features(client: Any, projects: list[str], now_ms: int) -> list[dict[str, Any]]:
    """Every stale online view, from the stored definitions and loads (nothing a client
    stored is unpickled for it)."""
    meta, out = client.store.features, []
    for project in projects[:MAX_PROJECTS]:
        views = [o for o in meta.latest_feature_objects(project) if o.kind == "feature_view"]
        if not views:
            continue
        loads, marks = meta.materializations(project, limit=RECENT_LOADS), meta.watermarks(project)
        for view in views:
            fresh = freshness(view.spec, view.name, loads, marks, now_ms)
            if fresh.state in ("stale", "never loaded"):
                out.append({"project": project, "view": view.name, "fresh": fresh})
    return out


@router.get("/ui/")
@rule(Need.READ, lists=True)
def overview(request: Request) -> Response:
    client = request.app.state.client
    store = client.store
    readable = readable_projects(request)
    projects = sorted(readable) if readable is not None else None
    names = projects if projects is not None else [p.name for p in store.list_projects()]
    recent = store.search_runs(projects, "", ["start_time DESC"], 15, 0, False)
    failed = store.search_runs(projects, "status = 'FAILED'", ["start_time DESC"], 10, 0, False)
    stale_models = [
        s for s in model_statuses(client) if s.stale and _visible(store, s.model.name, readable)
    ]
    live = _live_models(client, readable)
    now_ms = int(client.clock.now().timestamp() * 1000)
    return page(
        request,
        "overview.html",
        section="overview",
        live=live,
        recent=recent,
        failed=failed,
        stale_models=stale_models,
        stale_features=_stale_features(client, names, now_ms),
        firing=sum(len(m.alerts) for m in live if m.alias == "production"),
        now_ms=now_ms,
    )
