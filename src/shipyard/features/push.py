"""Pushes: fresh rows written online at once and appended to the source's offline log."""

from __future__ import annotations

import os
import time
import uuid
from typing import TYPE_CHECKING

from shipyard._clock import to_millis
from shipyard.errors import InvalidFeature
from shipyard.features.checks import check_view_data, columns_of
from shipyard.features.online.write import latest_rows_sql, write_online
from shipyard.features.sources import PUSHED_SEQ_BASE, PushSource
from shipyard.store.base import Materialization

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from shipyard.features.context import FeatureContext


def push(ctx: FeatureContext, source_name: str, df: pd.DataFrame, to_offline: bool) -> int:
    """Write fresh rows online at once (newest per entity wins) and, by default, append
    them to the source's offline log so training sets see them too."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    defs = ctx.definitions()
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
    con = ctx.connect()
    seq = pa.array(np.arange(len(table), dtype=np.uint64) + np.uint64(PUSHED_SEQ_BASE))
    con.register("__pushed", table.append_column("__seq", seq))
    for view in views:
        check_view_data(view, columns_of(con, "__pushed"))
    if to_offline:
        _append_segment(source.pushed_dir(ctx.source_context()), table)
    now_ms = to_millis(ctx.now())
    for view in views:
        if not view.online:
            continue
        rows = write_online(
            con, latest_rows_sql(view, "__pushed", None, None), ctx.online, view.name
        )
        ctx.meta.record_materialization(
            Materialization(
                ctx.project,
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
