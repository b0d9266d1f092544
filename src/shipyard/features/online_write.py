"""Writing to the online store: materialization over a time range, and pushes."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from shipyard._clock import from_millis, to_millis
from shipyard.errors import InvalidFeature
from shipyard.features import offline
from shipyard.features.catalog import compute_stats
from shipyard.features.checks import check_view_data, columns_of
from shipyard.features.definitions import FeatureView
from shipyard.features.materialize import latest_rows_sql, write_online
from shipyard.features.sources import PUSHED_SEQ_BASE, PushSource
from shipyard.store.base import Materialization

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from shipyard.features.store import FeatureStore


def materialize(
    fs: FeatureStore,
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
    defs = fs.definitions(refresh=True)
    targets = _targets(defs.views, views)
    marks = fs.meta.watermarks(fs.project) if incremental else {}
    ctx = fs.source_context()
    written: dict[str, int] = {}
    for view in targets:
        begin = start
        if incremental:
            mark = marks.get(view.name)
            begin = (
                from_millis(mark) if mark is not None else (end - view.ttl if view.ttl else None)
            )
        started = time.monotonic()
        con = fs.connect()
        relation = offline.source_relation(con, view, 0, ctx)
        check_view_data(view, columns_of(con, relation))
        rows = write_online(con, latest_rows_sql(view, relation, begin, end), fs.online, view.name)
        now_ms = to_millis(fs.now())
        version = defs.version("feature_view", view.name) or 0
        fs.meta.record_materialization(
            Materialization(
                fs.project,
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
        fs.meta.save_feature_stats(
            compute_stats(
                con, fs.project, view, relation, version, "materialize", now_ms, begin, end
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


def push(fs: FeatureStore, source_name: str, df: pd.DataFrame, to_offline: bool) -> int:
    """Write fresh rows online at once (newest per entity wins) and, by default, append
    them to the source's offline log so training sets see them too."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    defs = fs.definitions()
    source = defs.sources.get(source_name)
    if not isinstance(source, PushSource):
        pushable = ", ".join(
            sorted(n for n, s in defs.sources.items() if isinstance(s, PushSource))
        )
        raise InvalidFeature(
            f"{source_name!r} is not an applied PushSource (push sources: {pushable or 'none'})"
        )
    if not isinstance(df, pd.DataFrame) or df.empty:
        raise InvalidFeature("push needs a non-empty pandas DataFrame")
    views = [v for v in defs.views.values() if v.source.name == source_name]
    if not views:
        raise InvalidFeature(f"no feature view reads push source {source_name!r}")
    started = time.monotonic()
    table = pa.Table.from_pandas(df, preserve_index=False)
    con = fs.connect()
    seq = pa.array(np.arange(len(table), dtype=np.uint64) + np.uint64(PUSHED_SEQ_BASE))
    con.register("__pushed", table.append_column("__seq", seq))
    for view in views:
        check_view_data(view, columns_of(con, "__pushed"))
    if to_offline:
        _append_segment(source.pushed_dir(fs.source_context()), table)
    now_ms = to_millis(fs.now())
    for view in views:
        if not view.online:
            continue
        rows = write_online(
            con, latest_rows_sql(view, "__pushed", None, None), fs.online, view.name
        )
        fs.meta.record_materialization(
            Materialization(
                fs.project,
                view.name,
                defs.version("feature_view", view.name) or 0,
                "push",
                None,
                now_ms,
                rows,
                now_ms,
                int((time.monotonic() - started) * 1000),
            )
        )
    return len(table)


def _append_segment(folder: str, table: pa.Table) -> None:
    """One Parquet file per push. Locally it is written under a temp name and renamed; an
    object store (S3) publishes an object whole. Readers never see half a file."""
    import fsspec
    import pyarrow.parquet as pq
    from fsspec.implementations.local import LocalFileSystem

    fs, root = fsspec.core.url_to_fs(folder)
    fs.makedirs(root, exist_ok=True)
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
    target = f"{root}/{name}"
    if isinstance(fs, LocalFileSystem):
        tmp = f"{root}/.{name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, target)
        return
    with fs.open(target, "wb") as out:
        pq.write_table(table, out)
