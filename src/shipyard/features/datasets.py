"""Saved training sets: an immutable Parquet blob plus the lineage of its rows."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard._clock import to_millis
from shipyard.store.base import DatasetRecord

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.features.context import FeatureContext
    from shipyard.features.retrieval import RetrievalJob


@dataclass
class Dataset:
    """A saved dataset version. ``to_df`` reads it back; inside an active run the run is
    tagged with the dataset it read, so runs link to their training data."""

    record: DatasetRecord
    _ctx: FeatureContext

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def version(self) -> int:
        return self.record.version

    @property
    def lineage(self) -> dict[str, Any]:
        return self.record.lineage

    @property
    def uri(self) -> str:
        return f"dataset:{self.record.project}/{self.name}/{self.version}"

    def to_df(self) -> pd.DataFrame:
        import pyarrow as pa
        import pyarrow.parquet as pq

        _tag_active_run(self.record)
        data = self._ctx.blobs.get_bytes(self.record.blob_hash)  # hash verified
        return pq.read_table(pa.BufferReader(data)).to_pandas()


def save_dataset(ctx: FeatureContext, job: RetrievalJob, name: str) -> Dataset:
    from shipyard.features._sql import check_name
    from shipyard.tracking import active_run

    check_name("dataset", name)
    fd, path = tempfile.mkstemp(suffix=".parquet", dir=_tmp_dir(ctx))
    os.close(fd)
    try:
        job.to_parquet(path)
        info = ctx.blobs.put_file(path)
        import pyarrow.parquet as pq

        rows = pq.ParquetFile(path).metadata.num_rows
    finally:
        os.unlink(path)
    run = active_run()
    record = ctx.meta.create_dataset(
        ctx.project,
        name,
        info.hash,
        rows,
        info.size,
        job.lineage(),
        ctx.user(),
        to_millis(ctx.now()),
        run.id if run is not None else None,
    )
    if run is not None:
        ctx.tag_run(run.id, f"shipyard.dataset.{name}", str(record.version))
    return Dataset(record, ctx)


def _tag_active_run(record: DatasetRecord) -> None:
    from shipyard.tracking import active_run, set_tag

    run = active_run()
    if run is not None and run.id != record.run_id:
        set_tag(f"shipyard.dataset.{record.name}", str(record.version))


def _tmp_dir(ctx: FeatureContext) -> str:
    folder = ctx.home / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)
