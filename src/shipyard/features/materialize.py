"""Materialization: load each online view's latest rows over a time range into the online
store, and record the run (watermark, row count, statistics).

When the view's rows are prepared already for its version and source data (by ``apply``, a
training set or ``FeatureStore.prepare``: ``cache``), the latest rows are picked from them;
otherwise DuckDB selects them from the source's range (a full preparation would sort the
whole source, which a small incremental range does not need). Either way they are
rendered and streamed by ``online.write``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from shipyard._clock import from_millis, to_millis
from shipyard.errors import InvalidFeature
from shipyard.features import offline
from shipyard.features.catalog import compute_stats
from shipyard.features.checks import check_view_data, columns_of
from shipyard.features.definitions import FeatureView
from shipyard.features.online.write import (
    latest_prepared,
    latest_rows_sql,
    prepared_rows_sql,
    write_online,
)
from shipyard.store.base import Materialization

if TYPE_CHECKING:
    from shipyard.features.context import FeatureContext


def materialize(
    ctx: FeatureContext,
    start: datetime | None,
    end: datetime,
    views: Sequence[str] | None,
    incremental: bool,
) -> dict[str, int]:
    """Load each online view's latest rows in [start, end) into the online store.

    Incremental runs start at the view's watermark (its last materialized ``end``), or
    one TTL before ``end`` the first time (everything, for views without a TTL).
    """
    if end.tzinfo is None or (start is not None and start.tzinfo is None):
        raise InvalidFeature("materialize needs timezone-aware start and end times (UTC)")
    if start is not None and start >= end:
        raise InvalidFeature(f"materialize: start {start} is not before end {end}")
    defs = ctx.definitions(refresh=True)
    targets = _targets(defs.views, views)
    marks = ctx.meta.watermarks(ctx.project) if incremental else {}
    sources = ctx.source_context()
    written: dict[str, int] = {}
    for view in targets:
        begin = start
        if incremental:
            mark = marks.get(view.name)
            begin = (
                from_millis(mark) if mark is not None else (end - view.ttl if view.ttl else None)
            )
        started = time.monotonic()
        con = ctx.connect()
        relation = offline.source_relation(con, view, 0, sources)
        check_view_data(view, columns_of(con, relation))
        version = defs.version("feature_view", view.name) or 0
        in_key_order = getattr(ctx.online, "writes_in_key_order", True)
        found = ctx.prepared.find(
            view, defs.version("feature_view", view.name), ctx.project, sources
        )
        if found is not None:  # prepared by apply or a training set: no scan, no sort
            con.register("__latest", latest_prepared(found, begin, end))
            sql = prepared_rows_sql(view, "__latest", in_key_order)
        else:  # not prepared (new data): one pass over the source's range in DuckDB
            sql = latest_rows_sql(view, relation, begin, end, in_key_order)
        rows = write_online(con, sql, ctx.online, view.name)
        now_ms = to_millis(ctx.now())
        ctx.meta.record_materialization(
            Materialization(
                ctx.project,
                view.name,
                version,
                "materialize",
                to_millis(begin) if begin is not None else None,
                to_millis(end),
                rows,
                now_ms,
                int((time.monotonic() - started) * 1000),
            )
        )
        ctx.meta.save_feature_stats(
            compute_stats(
                con, ctx.project, view, relation, version, "materialize", now_ms, begin, end
            )
        )
        written[view.name] = rows
    return written


def _targets(all_views: dict[str, FeatureView], names: Sequence[str] | None) -> list[FeatureView]:
    if names:
        unknown = [n for n in names if n not in all_views]
        if unknown:
            known = ", ".join(sorted(all_views)) or "none applied"
            raise InvalidFeature(f"no feature view {unknown[0]!r} to materialize (known: {known})")
        chosen = [all_views[n] for n in names]
        offline_only = [v.name for v in chosen if not v.online]
        if offline_only:
            raise InvalidFeature(f"feature view {offline_only[0]!r} is offline only (online=False)")
        return chosen
    return [v for _, v in sorted(all_views.items()) if v.online]
