"""RetrievalJob: a training set described by its join, computed when asked for, with
on-demand views run on the joined rows and the rows returned in input order.

Entity rows in memory are joined by ``asof`` (binary search in the prepared rows); entity
files, and entity columns whose types only DuckDB should convert, by the plan's SQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidFeature
from shipyard.features._sql import MemoryLimit, memory_guard
from shipyard.features.offline import JoinPlan, OnDemandRequest, ViewRequest
from shipyard.features.on_demand import run_batch

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

    from shipyard.features.prepared import Prepared


class RetrievalJob:
    """A training set not computed yet: ``to_df``, ``to_arrow``, ``to_parquet`` run it.

    ``on_demand`` views run their function on the joined rows, batch by batch.
    """

    def __init__(
        self,
        connect: Callable[[], duckdb.DuckDBPyConnection],
        plan: JoinPlan,
        on_demand: list[OnDemandRequest],
        full_feature_names: bool,
        lineage: Callable[[], dict[str, Any]],
        saver: Callable[[RetrievalJob, str], Any] | None = None,
        memory_limit: MemoryLimit | None = None,
        views: list[ViewRequest] | None = None,
        prepare: Callable[[], list[Prepared]] | None = None,
        finished: Callable[[], None] | None = None,
    ) -> None:
        self.memory_limit = memory_limit  # named in an out-of-memory error
        self._views = views or []  # the requests of ``plan.picks``
        self._prepare = prepare  # their prepared rows
        self._finished = finished or (lambda: None)  # after a read (keeps what it made)
        self._connect = connect  # DuckDB, with the plan's relations (only its SQL needs it)
        self._plan = plan
        self._on_demand = on_demand
        self._full = full_feature_names
        self._lineage = lineage
        self._saver = saver

    @property
    def sql(self) -> str:
        return self._plan.sql

    @property
    def columns(self) -> list[str]:
        return self._plan.output + [
            self._odfv_name(r, f) for r in self._on_demand for f in r.features
        ]

    def lineage(self) -> dict[str, Any]:
        return self._lineage()

    @memory_guard
    def to_arrow(self) -> pa.Table:
        return self._finish(self._joined())

    def _joined(self) -> pa.Table:
        """The entity rows with the views' features, before on-demand views."""
        from shipyard.features import asof

        prepared = self._prepare() if self._prepare is not None else None
        table = asof.join(self._plan, self._views, prepared) if prepared is not None else None
        if table is None:
            table = self._sql_joined()
        self._finished()
        return table

    def _sql_joined(self) -> pa.Table:
        """Same, by DuckDB's ASOF join, then put back in input order."""
        import numpy as np

        entities = self._plan.entities
        sql = self._plan.narrow_sql if entities is not None else self._plan.sql
        table = self._connect().sql(sql).to_arrow_table()
        rows = table.column("__row").to_numpy().astype(np.int64)
        if len(rows) and rows.max() == len(rows) - 1:  # dense positions: invert, O(n)
            order = np.empty(len(rows), dtype=np.int64)
            order[rows] = np.arange(len(rows), dtype=np.int64)
        else:  # positions from files (file index, row): sort
            order = np.argsort(rows, kind="stable")
        table = table.take(order) if len(rows) and not _is_identity(order) else table
        if entities is not None:  # the caller's columns as given, then the features
            for name in table.column_names:
                entities = entities.append_column(name, table.column(name))
            table = entities
        return table

    def to_df(self) -> pd.DataFrame:
        # one block per column: float columns without nulls are not copied again
        return self.to_arrow().to_pandas(split_blocks=True, self_destruct=True)

    @memory_guard
    def to_batches(self, batch_size: int = 100_000) -> Iterator[pa.RecordBatch]:
        """The rows in input order, streamed: for results larger than memory (entity rows
        in memory are joined at once: the result is their size plus the features)."""
        import pyarrow as pa

        if self._plan.entities is not None:
            for batch in self._joined().to_batches(batch_size):
                yield from self._finish(pa.Table.from_batches([batch])).to_batches()
            return
        reader = self._connect().sql(f"{self._plan.sql} ORDER BY __row").to_arrow_reader(batch_size)
        for batch in reader:
            yield from self._finish(pa.Table.from_batches([batch])).to_batches()
        self._finished()

    @memory_guard
    def to_parquet(self, path: str | Path) -> str:
        """Write the result to one Parquet file, streaming; returns the path."""
        import pyarrow.parquet as pq

        path = str(path)
        writer = None
        try:
            for batch in self.to_batches():
                if writer is None:
                    writer = pq.ParquetWriter(path, batch.schema)
                writer.write_batch(batch)
            if writer is None:
                pq.write_table(self._finish(self._empty()), path)
        finally:
            if writer is not None:
                writer.close()
        return path

    def save_dataset(self, name: str) -> Any:
        """Save the rows as a versioned dataset with lineage; returns its record."""
        if self._saver is None:
            raise InvalidFeature("this retrieval was not made by a FeatureStore; cannot save it")
        return self._saver(self, name)

    def _empty(self) -> pa.Table:
        return self._connect().sql(f"{self._plan.sql} LIMIT 0").to_arrow_table()

    def _finish(self, table: pa.Table) -> pa.Table:
        """Run on-demand views, then drop helper columns."""
        joined = table
        for req in self._on_demand:
            columns = run_batch(req.view, joined, self._input_names(req))
            for f in req.features:
                table = table.append_column(self._odfv_name(req, f), columns[f])
        drop = [c for c in table.column_names if c == "__row" or c in self._plan.hidden]
        return _utc(table.drop_columns(drop))

    def _input_names(self, req: OnDemandRequest) -> dict[str, str]:
        """Column of the joined rows -> the name the function sees."""
        mapping: dict[str, str] = {}
        for out, feature in self._plan.hidden.items():
            mapping[out] = feature
        for source in req.view.source_views():
            for f in source.features:
                visible = f"{source.name}__{f}" if self._full else f
                mapping.setdefault(visible, f)
        for rs in req.view.request_sources():
            for fld in rs.schema:
                mapping[fld.name] = fld.name
        return mapping

    def _odfv_name(self, req: OnDemandRequest, feature: str) -> str:
        return f"{req.view.name}__{feature}" if self._full else feature


def _utc(table: pa.Table) -> pa.Table:
    """DuckDB labels UTC times "Etc/UTC"; give them the "UTC" pandas users write."""
    import pyarrow as pa

    fields = [
        f.with_type(pa.timestamp(f.type.unit, "UTC"))
        if pa.types.is_timestamp(f.type) and f.type.tz == "Etc/UTC"
        else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields)) if fields != list(table.schema) else table


def _is_identity(order: Any) -> bool:
    import numpy as np

    return bool(np.array_equal(order, np.arange(len(order))))
