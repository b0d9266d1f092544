"""The web UI's features pages: a searchable catalog of feature views, and a view's schema,
statistics, freshness against its TTL, version history with diffs, and what uses it.

Everything is read from the feature metadata store's records (definitions as applied,
materializations, statistics) and from ``shipyard.lineage``'s impact walk, never by
rebuilding the definitions: that would unpickle the code of on-demand views, which a
server runs only when its admin allows it (``server_trusts_code``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from shipyard._clock import from_millis, to_millis
from shipyard.errors import NotFound, ShipyardError
from shipyard.features.catalog import view_status
from shipyard.governance import Need
from shipyard.lineage import impact
from shipyard.lineage import node_kinds as lineage
from shipyard.server.authz import readable_projects, rule
from shipyard.server.ui.render import page

router = APIRouter(include_in_schema=False)

VIEW_KINDS = ("feature_view", "on_demand_feature_view")
MAX_PROJECTS = 200  # a catalog without a project filter looks at this many projects
RECENT_LOADS = 500  # materializations read per project for the catalog's "last loaded"
HISTORY_LOADS = 50  # ... and per view on its page
NUMERIC = {"int32", "int64", "float32", "float64", "bool"}


@dataclass
class Freshness:
    """A view's freshness as ``shipyard features status`` computes it, in epoch ms."""

    online: bool
    ttl_seconds: float | None
    watermark_ms: int | None
    last_materialized_ms: int | None
    last_push_ms: int | None
    rows: int | None
    staleness_ms: int | None
    state: str  # offline, never loaded, stale or fresh

    @property
    def badge(self) -> str:
        return {"fresh": "ok", "stale": "stale", "never loaded": "bad"}.get(self.state, "")


def freshness(
    spec: dict[str, Any], name: str, loads: list[Any], marks: dict[str, int], now_ms: int
) -> Freshness:
    status = view_status(name, None, spec, loads, marks, from_millis(now_ms))
    staleness = status.staleness
    return Freshness(
        online=status.online,
        ttl_seconds=None if status.ttl is None else status.ttl.total_seconds(),
        watermark_ms=_ms(status.watermark),
        last_materialized_ms=_ms(status.last_materialized),
        last_push_ms=_ms(status.last_push),
        rows=status.rows_materialized,
        staleness_ms=None if staleness is None else round(staleness.total_seconds() * 1000),
        state=status.state,
    )


def _ms(moment: Any) -> int | None:
    return None if moment is None else to_millis(moment)


def _now_ms(client: Any) -> int:
    return int(client.clock.now().timestamp() * 1000)


def _matches(q: str, obj: Any) -> bool:
    spec = obj.spec
    words = [obj.name, spec.get("description", ""), spec.get("owner", ""), obj.project]
    words += [f"{k}={v}" for k, v in (spec.get("tags") or {}).items()]
    words += list(spec.get("entities") or [])
    for f in spec.get("schema") or []:
        words += [f.get("name", ""), f.get("description", "")]
        words += [f"{k}={v}" for k, v in (f.get("tags") or {}).items()]
    text = " ".join(str(w) for w in words).lower()
    return all(term in text for term in q.lower().split())


def _feature_hits(q: str, spec: dict[str, Any]) -> list[str]:
    """The view's features a search names (by name or description)."""
    terms = q.lower().split()
    return [
        f["name"]
        for f in spec.get("schema") or []
        if any(t in f"{f.get('name', '')} {f.get('description', '')}".lower() for t in terms)
    ]


# -- /ui/features -------------------------------------------------------------------------


@router.get("/ui/features")
@rule(Need.READ, lists=True)
def catalog(
    request: Request,
    q: str = Query("", max_length=200),
    project: str | None = Query(None, max_length=200),
) -> Response:
    client = request.app.state.client
    meta = client.store.features
    readable = readable_projects(request)
    names = sorted(p.name for p in client.store.list_projects())
    if readable is not None:
        names = [n for n in names if n in readable]
    choices = names
    looked = [project] if project else names[:MAX_PROJECTS]
    now = _now_ms(client)
    rows, projects_with_views = [], []
    for name in looked:
        views = [o for o in meta.latest_feature_objects(name) if o.kind in VIEW_KINDS]
        if not views:
            continue
        projects_with_views.append(name)
        loads = meta.materializations(name, limit=RECENT_LOADS)
        marks = meta.watermarks(name)
        for obj in sorted(views, key=lambda o: o.name):
            if q and not _matches(q, obj):
                continue
            spec = obj.spec
            on_demand = obj.kind == "on_demand_feature_view"
            rows.append(
                {
                    "project": name,
                    "name": obj.name,
                    "kind": "on demand" if on_demand else "batch",
                    "version": obj.version,
                    "entities": spec.get("entities") or [],
                    "features": len(spec.get("schema") or []),
                    "owner": spec.get("owner", ""),
                    "description": spec.get("description", ""),
                    "tags": spec.get("tags") or {},
                    "fresh": None if on_demand else freshness(spec, obj.name, loads, marks, now),
                    "updated_ms": obj.created_ms,
                    "hits": _feature_hits(q, spec) if q else [],
                }
            )
    return page(
        request,
        "features_catalog.html",
        section="features",
        crumbs=[("Features", None)],
        rows=rows,
        q=q,
        project=project or "",
        projects=choices,
        projects_with_views=projects_with_views,
        truncated=not project and len(names) > MAX_PROJECTS,
        now_ms=now,
    )


# -- /ui/features/{project}/{view} ----------------------------------------------------------


@dataclass
class VersionDiff:
    version: int
    created_ms: int
    created_by: str
    deleted: bool
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # "feature: what changed"
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (field, before, after)


DIFFED = ("source", "sources", "entities", "ttl_seconds", "online", "transformation",
          "owner", "description", "tags", "mode")  # fmt: skip


def diff_versions(history: list[Any]) -> list[VersionDiff]:
    """Each version against the one before it (newest first)."""
    out = []
    previous: dict[str, Any] = {}
    for obj in sorted(history, key=lambda o: o.version):
        spec = obj.spec
        entry = VersionDiff(obj.version, obj.created_ms, obj.created_by, obj.deleted)
        if obj.deleted:
            out.append(entry)
            continue
        before = {f["name"]: f for f in previous.get("schema") or []}
        after = {f["name"]: f for f in spec.get("schema") or []}
        entry.added = [n for n in after if n not in before]
        entry.removed = [n for n in before if n not in after]
        for n in after:
            if n in before:
                what = [
                    f"{key} {before[n].get(key)!r} → {after[n].get(key)!r}"
                    for key in ("dtype", "description", "tags")
                    if before[n].get(key) != after[n].get(key)
                ]
                if what:
                    entry.changed.append(f"{n}: {', '.join(what)}")
        if previous:
            for key in DIFFED:
                if previous.get(key) != spec.get(key):
                    entry.fields.append((key, _short(previous.get(key)), _short(spec.get(key))))
        previous = spec
        out.append(entry)
    return out[::-1]


def _short(value: Any) -> str:
    text = "—" if value is None else str(value)
    return text if len(text) <= 300 else text[:300] + " …"


USED_BY = [  # the kinds of dependents shown, in this order, with their headings
    (lineage.ON_DEMAND_VIEW, "On-demand views computed from it"),
    (lineage.FEATURE_SERVICE, "Feature services"),
    (lineage.DATASET, "Datasets"),
    (lineage.MODEL_VERSION, "Model versions"),
    (lineage.ALIAS, "Aliases"),
    (lineage.SERVED, "Serving"),
    (lineage.MONITOR, "Monitors"),
    (lineage.SCHEDULE, "Scheduled flows"),
]


def used_by(store: Any, project: str, view: str) -> tuple[list[dict[str, Any]], list[str]]:
    """What depends on the view (the lineage impact walk), grouped by kind."""
    try:
        walk = impact(store, "feature-view", view, project)
    except ShipyardError as exc:
        return [], [exc.message]
    groups = []
    for kind, heading in USED_BY:
        nodes = [n for n in walk.nodes.values() if n.kind == kind and n.key != walk.root]
        if nodes:
            items = [
                {"label": n.label, "id": n.id, "attrs": n.attrs, "href": _href(n)} for n in nodes
            ]
            groups.append({"kind": kind, "heading": heading, "items": items})
    return groups, list(walk.notes)


def _href(node: Any) -> str | None:
    """Where a dependent's page is in this UI (feature views and runs link; others are
    listed by name)."""
    if node.kind in (lineage.FEATURE_VIEW, lineage.ON_DEMAND_VIEW):
        project, name, _ = [*node.id.split("/"), "", ""][:3]
        return f"/ui/features/{project}/{name}"
    if node.kind == lineage.MODEL_VERSION:
        return f"/ui/models/{node.id.split('/')[0]}"
    return None


def _stat_bars(stats: list[Any]) -> dict[str, dict[str, float]]:
    """Where the mean sits between min and max (0..100 %), for the per-feature range bars."""
    bars = {}
    for s in stats:
        low, high, mean = s.min_value, s.max_value, s.mean
        if isinstance(low, int | float) and isinstance(high, int | float) and mean is not None:
            span = float(high) - float(low)
            at = 50.0 if span <= 0 else (float(mean) - float(low)) / span * 100
            bars[s.feature] = {"mean_pct": max(0.0, min(100.0, at))}
    return bars


@router.get("/ui/features/{project}/{view}")
@rule(Need.READ)
def feature_view(request: Request, project: str, view: str) -> Response:
    client = request.app.state.client
    meta = client.store.features
    obj = _view_record(meta, project, view)
    history = meta.feature_object_history(project, obj.kind, view)
    latest = max(history, key=lambda o: o.version) if history else obj
    spec = obj.spec
    on_demand = obj.kind == "on_demand_feature_view"
    stats = {s.feature: s for s in meta.feature_stats(project, view)}
    loads = meta.materializations(project, view, limit=HISTORY_LOADS)
    fresh = None
    if not on_demand:
        fresh = freshness(spec, view, loads, meta.watermarks(project), _now_ms(client))
    source, entities = _inputs(meta, project, spec)
    groups, notes = used_by(client.store, project, view)
    return page(
        request,
        "features_view.html",
        section="features",
        crumbs=[
            ("Features", "/ui/features"),
            (project, f"/ui/features?project={project}"),
            (view, None),
        ],
        project=project,
        view=view,
        obj=obj,
        removed=latest.deleted,
        latest_version=latest.version,
        spec=spec,
        on_demand=on_demand,
        schema=spec.get("schema") or [],
        numeric=NUMERIC,
        stats=stats,
        bars=_stat_bars(list(stats.values())),
        fresh=fresh,
        loads=loads,
        chart=_loads_chart(loads),
        source=source,
        entities=entities,
        versions=diff_versions(history),
        groups=groups,
        notes=notes,
        ttl_text=_ttl(spec.get("ttl_seconds")),
    )


def _view_record(meta: Any, project: str, view: str) -> Any:
    """The view's (or on-demand view's) latest applied version; for a removed one, its
    last version as applied (the page marks it removed)."""
    for kind in VIEW_KINDS:
        try:
            return meta.get_feature_object(project, kind, view)
        except NotFound:
            continue
    for kind in VIEW_KINDS:
        try:
            kept = [o for o in meta.feature_object_history(project, kind, view) if not o.deleted]
        except NotFound:
            kept = []
        if kept:
            return max(kept, key=lambda o: o.version)
    raise NotFound(f"no feature view {view!r} in project {project!r}")


def _inputs(
    meta: Any, project: str, spec: dict[str, Any]
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The view's source and entities as applied (an entity since removed: its name)."""
    source = None
    if spec.get("source"):
        try:
            source = meta.get_feature_object(project, "source", spec["source"]).spec
        except NotFound:
            source = None
    entities = []
    for name in spec.get("entities") or []:
        try:
            entities.append(meta.get_feature_object(project, "entity", name).spec)
        except NotFound:
            entities.append({"name": name, "join_keys": [], "description": ""})
    return source, entities


def _loads_chart(loads: list[Any]) -> dict[str, Any] | None:
    """Rows loaded per materialization, oldest first (two loads at least)."""
    mats = sorted((m for m in loads if m.kind == "materialize"), key=lambda m: m.created_ms)
    if len(mats) < 2:
        return None
    return {
        "x": [m.created_ms / 1000 for m in mats],
        "series": [{"label": "rows loaded", "y": [m.rows for m in mats]}],
        "xLabel": "materialized",
        "yLabel": "rows",
        "time": True,
        "bars": True,
    }


def _ttl(seconds: float | None) -> str:
    """A TTL as people say it: 30 days, 2 h, 1 day 6 h, 90 s."""
    if seconds is None:
        return "none (values never expire)"
    parts, left = [], int(seconds)
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        count, left = divmod(left, size)
        if count:
            plural = "s" if unit == "day" and count > 1 else ""
            parts.append(f"{count} {unit}{plural}")
    return " ".join(parts[:2]) or f"{seconds:g} s"


__all__ = ["diff_versions", "freshness", "router", "used_by"]
