"""Assemble a training-set job: register the entity rows, check them, get each view's
prepared rows (``cache``: built once per view version and source data), plan the join, and
describe its lineage (view versions, source fingerprints, entity rows hash)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidFeature
from shipyard.features import offline
from shipyard.features._sql import ident, ts_column, ts_literal
from shipyard.features.offline import ViewRequest
from shipyard.features.prepared import Prepared, build
from shipyard.features.resolve import FeatureRequest, resolve
from shipyard.features.retrieval import RetrievalJob

if TYPE_CHECKING:
    import duckdb

    from shipyard.features.context import FeatureContext

log = logging.getLogger(__name__)


def build_job(
    ctx: FeatureContext,
    entity_df: Any,
    features: FeatureRequest,
    timestamp_column: str | None,
    full_feature_names: bool,
    start: datetime | None,
    end: datetime | None,
) -> RetrievalJob:
    defs = ctx.definitions()
    views, on_demand, service = resolve(defs, features)
    if entity_df is None:
        entity_df = _entities_from_range(ctx, views, start, end)
        timestamp_column = "event_timestamp"
    elif start is not None or end is not None:
        raise InvalidFeature("give either entity_df or start/end, not both")
    entity = offline.register_entities(ctx.cursor, entity_df, timestamp_column)
    offline.check_entity_columns(entity, views)
    relations = [f"__prepared_{i}" for i in range(len(views))]
    plan = offline.point_in_time_sql(entity, views, relations, full_feature_names)
    prepared: list[Prepared] = []
    connection: list[duckdb.DuckDBPyConnection] = []
    lock = threading.RLock()

    def prepare_all() -> list[Prepared]:
        """On the job's first read: each view's prepared rows."""
        with lock:
            if not prepared:
                prepared.extend(prepare(ctx, req) for req in views)
            return prepared

    def connect() -> duckdb.DuckDBPyConnection:
        """For the DuckDB join only: a cursor that shows it the entity rows and each view's
        prepared rows (``relations``). Entity rows in memory may never need one."""
        with lock:
            if not connection:
                con = entity.con or ctx.cursor()
                entity.register(con)
                for name, prep in zip(relations, prepare_all(), strict=True):
                    prep.register(con, name)
                connection.append(con)
            return connection[0]

    def lineage() -> dict[str, Any]:
        return {
            "project": ctx.project,
            "feature_service": service,
            "feature_views": {
                r.view.name: {
                    "version": r.version,
                    "features": r.features,
                    "source": r.view.source.name,
                    "source_version": defs.version("source", r.view.source.name),
                    "source_fingerprint": r.view.source.fingerprint(),
                }
                for r in views
            },
            "on_demand_feature_views": {r.view.name: r.version for r in on_demand},
            "entity_df_hash": entity.fingerprint(),
            "timestamp_column": entity.timestamp,
            "columns": job.columns,
        }

    from shipyard.features.datasets import save_dataset

    job = RetrievalJob(
        connect,
        plan,
        on_demand,
        full_feature_names,
        lineage,
        saver=lambda j, name: save_dataset(ctx, j, name),
        memory_limit=ctx.memory_limit,
        views=views,
        prepare=prepare_all,
        finished=lambda: ctx.prepared.save(prepared),
    )
    return job


def prepare(ctx: FeatureContext, req: ViewRequest) -> Prepared:
    """The view's prepared rows, from the cache or built on a scratch connection."""
    sources = ctx.source_context()

    cache = ctx.prepared
    spill = (ctx.home / "tmp" / "prepared", cache.memory_bytes)  # past the cache's memory

    def make(key: str) -> Prepared:
        with ctx.scratch() as con:
            return build(con, req.view, sources, key, spill)

    return cache.get(req.view, req.version, ctx.project, sources, make)


def prepare_views(
    ctx: FeatureContext, names: Iterable[str] | None = None, *, quiet: bool = False
) -> dict[str, float]:
    """Prepare the applied views ``names`` (None: every view) now and keep them on disk,
    so that the next training set of each, in this process or another, reads them
    instead of reading, sorting and de-duplicating the source. Views of sources without
    a data fingerprint (SQL queries) are skipped: they are prepared per training set.
    Returns the seconds each view took. ``quiet``: a view that fails is logged and
    skipped (apply: its training sets will report the error)."""
    defs = ctx.definitions()
    chosen = sorted(defs.views) if names is None else list(names)
    sources = ctx.source_context()
    took: dict[str, float] = {}
    for name in chosen:
        view = defs.views.get(name)
        if view is None and quiet:
            continue
        if view is None:
            defs.view(name)  # raises: no such view
            raise InvalidFeature(f"{name!r} is an on-demand view: it has no rows to prepare")
        started = time.perf_counter()
        try:
            if view.source.data_fingerprint(sources) is None:
                continue
            req = ViewRequest(view, [], defs.version("feature_view", name))
            prepared = prepare(ctx, req)
            ctx.prepared.save([prepared], wait=True)
            if prepared.key:  # on disk: apply holds one view's rows at a time, not all
                ctx.prepared.forget(prepared.key)
        except Exception as exc:
            if not quiet:
                raise
            log.warning("could not prepare the rows of feature view %r: %s", name, exc)
            continue
        took[name] = time.perf_counter() - started
    ctx.prepared.flush()  # every entry on disk before returning (a CLI process ends next)
    return {name: round(seconds, 6) for name, seconds in took.items()}


def _entities_from_range(
    ctx: FeatureContext,
    views: list[ViewRequest],
    start: datetime | None,
    end: datetime | None,
) -> Any:
    """Entity rows = every distinct (join keys, event time) of the views in [start, end]."""
    if start is None or end is None:
        raise InvalidFeature("without an entity_df, give start= and end= (a time range)")
    keys = views[0].view.join_keys
    if any(r.view.join_keys != keys for r in views):
        raise InvalidFeature(
            "a time-range retrieval needs views that share the same join keys; "
            "use an entity_df to combine views of different entities"
        )
    sources = ctx.source_context()
    with ctx.scratch() as con:
        parts = []
        for i, req in enumerate(views):
            relation = offline.source_relation(con, req.view, 1000 + i, sources)
            ts = ts_column(req.view.source.timestamp_field)
            cols = ", ".join(ident(k) for k in keys)
            parts.append(
                f"SELECT {cols}, {ts} AS event_timestamp FROM {ident(relation)} "
                f"WHERE {ts} >= {ts_literal(start)} AND {ts} <= {ts_literal(end)}"
            )
        order = ", ".join([*(ident(k) for k in keys), "event_timestamp"])
        return con.sql(
            f"SELECT DISTINCT * FROM ({' UNION ALL '.join(parts)}) ORDER BY {order}"
        ).to_arrow_table()
