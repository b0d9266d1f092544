"""The catalog: freshness of each view, feature statistics, search, and who uses what."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shipyard._clock import from_millis
from shipyard.features._sql import ident, ts_column, ts_literal
from shipyard.features.definitions import FeatureView
from shipyard.features.types import Dtype
from shipyard.store.base import FeatureStat

if TYPE_CHECKING:
    import duckdb

    from shipyard.features.context import FeatureContext

NUMERIC = {Dtype.INT32, Dtype.INT64, Dtype.FLOAT32, Dtype.FLOAT64, Dtype.BOOL}


@dataclass
class ViewStatus:
    view: str
    version: int | None
    online: bool
    ttl: timedelta | None
    watermark: datetime | None
    last_materialized: datetime | None
    last_push: datetime | None
    rows_materialized: int | None
    staleness: timedelta | None  # now - the newest of watermark and last push

    @property
    def state(self) -> str:
        """offline, never loaded (an online view with no data yet), stale (its newest data
        is older than its TTL) or fresh."""
        if not self.online:
            return "offline"
        if self.staleness is None:
            return "never loaded"
        if self.ttl is not None and self.staleness > self.ttl:
            return "stale"
        return "fresh"

    @property
    def stale(self) -> bool:
        """Online views whose newest data is older than their TTL (or never loaded)."""
        return self.state in ("stale", "never loaded")


def view_status(
    name: str,
    version: int | None,
    spec: dict[str, Any],
    loads: list[Any],
    marks: dict[str, int],
    now: datetime,
) -> ViewStatus:
    """A view's freshness from its stored spec (``online``, ``ttl_seconds``), the project's
    loads (materializations and pushes, newest first) and watermarks (epoch ms). Read from
    records only: nothing stored is unpickled."""
    mats = [m for m in loads if m.view == name and m.kind == "materialize"]
    pushes = [m for m in loads if m.view == name and m.kind == "push"]
    watermark = from_millis(marks[name]) if name in marks else None
    last_push = from_millis(pushes[0].created_ms) if pushes else None
    newest = max((t for t in (watermark, last_push) if t is not None), default=None)
    ttl = spec.get("ttl_seconds")
    return ViewStatus(
        name,
        version,
        bool(spec.get("online", False)),
        timedelta(seconds=ttl) if ttl else None,
        watermark,
        from_millis(mats[0].created_ms) if mats else None,
        last_push,
        mats[0].rows if mats else None,
        now - newest if newest is not None else None,
    )


@dataclass
class FeatureInfo:
    view: str
    feature: str
    dtype: str
    description: str
    owner: str
    tags: dict[str, str]
    services: list[str] = field(default_factory=list)
    stats: FeatureStat | None = None


class Catalog:
    def __init__(self, ctx: FeatureContext) -> None:
        self.ctx = ctx

    def status(self) -> list[ViewStatus]:
        """Each applied feature view's freshness, from the stored records (a server
        answers it for projects whose on-demand views hold code it does not run)."""
        ctx = self.ctx
        records = ctx.meta.latest_feature_objects(ctx.project, kind="feature_view")
        history = ctx.meta.materializations(ctx.project, limit=10_000)
        marks = ctx.meta.watermarks(ctx.project)
        now = ctx.now()
        return [
            view_status(r.name, r.version, r.spec, history, marks, now)
            for r in sorted(records, key=lambda r: r.name)
        ]

    def features(self) -> list[FeatureInfo]:
        """Every applied feature (views by name, then on-demand views), with its
        statistics and the services that use it; from the stored records, like status."""
        ctx = self.ctx
        latest: dict[str, list[Any]] = {}
        for record in ctx.meta.latest_feature_objects(ctx.project):
            latest.setdefault(record.kind, []).append(record)
        stats = {(s.view, s.feature): s for s in ctx.meta.feature_stats(ctx.project)}
        keys = {e.name: set(e.spec["join_keys"]) for e in latest.get("entity", [])}
        users: dict[tuple[str, str], list[str]] = {}
        for service in sorted(latest.get("feature_service", []), key=lambda r: r.name):
            for item in service.spec["features"]:
                for ref in item["features"]:
                    users.setdefault((item["view"], ref), []).append(service.name)
        out = []
        for kind in ("feature_view", "on_demand_feature_view"):
            for view in sorted(latest.get(kind, []), key=lambda r: r.name):
                spec = view.spec
                join = set().union(*(keys.get(e, set()) for e in spec.get("entities", [])))
                for f in spec["schema"]:
                    if f["name"] in join:
                        continue
                    out.append(
                        FeatureInfo(
                            view.name,
                            f["name"],
                            f["dtype"],
                            f.get("description", ""),
                            spec.get("owner", ""),
                            {**(spec.get("tags") or {}), **(f.get("tags") or {})},
                            users.get((view.name, f["name"]), []),
                            stats.get((view.name, f["name"])),
                        )
                    )
        return out

    def search(
        self, text: str | None = None, tag: str | None = None, owner: str | None = None
    ) -> list[FeatureInfo]:
        """Features whose name/view/description contain ``text``, carrying ``tag``
        (``key`` or ``key=value``) and owned by ``owner``."""
        found = []
        for info in self.features():
            if (
                text
                and text.lower() not in f"{info.view}:{info.feature} {info.description}".lower()
            ):
                continue
            if tag and not _has_tag(info.tags, tag):
                continue
            if owner and owner.lower() != info.owner.lower():
                continue
            found.append(info)
        return found


def _has_tag(tags: dict[str, str], wanted: str) -> bool:
    key, _, value = wanted.partition("=")
    return key in tags and (not value or tags[key] == value)


def compute_stats(
    con: duckdb.DuckDBPyConnection,
    project: str,
    view: FeatureView,
    relation: str,
    version: int,
    computed_at: str,
    now_ms: int,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[FeatureStat]:
    """One DuckDB pass: count, nulls, approximate distinct, min, max, mean per feature."""
    ts = ts_column(view.source.timestamp_field)
    where = ["TRUE"]
    if start is not None:
        where.append(f"{ts} >= {ts_literal(start)}")
    if end is not None:
        where.append(f"{ts} < {ts_literal(end)}")
    exprs = ["count(*)"]
    for f in view.features:
        col = ident(f.name)
        numeric = f.type in NUMERIC
        value = f"CAST({col} AS DOUBLE)" if numeric else col
        exprs += [
            f"count({col})",
            f"approx_count_distinct({col})",
            f"min({value})" if numeric or f.type is Dtype.STRING else "NULL",
            f"max({value})" if numeric or f.type is Dtype.STRING else "NULL",
            f"avg({value})" if numeric else "NULL",
        ]
    row = con.execute(
        f"SELECT {', '.join(exprs)} FROM {ident(relation)} WHERE {' AND '.join(where)}"
    ).fetchone()
    assert row is not None
    total = int(row[0])
    out = []
    for i, f in enumerate(view.features):
        count, distinct, low, high, mean = row[1 + 5 * i : 6 + 5 * i]
        out.append(
            FeatureStat(
                project,
                view.name,
                version,
                f.name,
                f.type.value,
                total,
                total - int(count),
                min(int(distinct), int(count)) if distinct is not None else None,
                _jsonable(low),
                _jsonable(high),
                float(mean) if mean is not None else None,
                now_ms,
                computed_at,
            )
        )
    return out


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, int | float | str):
        return value
    return str(value)
