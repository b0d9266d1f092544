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

    from shipyard.features.feature_store import FeatureStore
    from shipyard.features.retrieval import RetrievalJob


@dataclass
class Dataset:
    """A saved dataset version. ``to_df`` reads it back; inside an active run the run is
    tagged with the dataset it read, so runs link to their training data."""

    record: DatasetRecord
    _fs: FeatureStore

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
        data = self._fs.client.blobs.get_bytes(self.record.blob_hash)  # hash verified
        return pq.read_table(pa.BufferReader(data)).to_pandas()


def save_dataset(fs: FeatureStore, job: RetrievalJob, name: str) -> Dataset:
    from shipyard.features._sql import check_name
    from shipyard.tracking import active_run

    check_name("dataset", name)
    fd, path = tempfile.mkstemp(suffix=".parquet", dir=_tmp_dir(fs))
    os.close(fd)
    try:
        job.to_parquet(path)
        info = fs.client.blobs.put_file(path)
        import pyarrow.parquet as pq

        rows = pq.ParquetFile(path).metadata.num_rows
    finally:
        os.unlink(path)
    run = active_run()
    record = fs.meta.create_dataset(
        fs.project,
        name,
        info.hash,
        rows,
        info.size,
        job.lineage(),
        fs.user(),
        to_millis(fs.now()),
        run.id if run is not None else None,
    )
    if run is not None:
        fs.client.set_tag(run.id, f"shipyard.dataset.{name}", str(record.version))
    return Dataset(record, fs)


def _tag_active_run(record: DatasetRecord) -> None:
    from shipyard.tracking import active_run, set_tag

    run = active_run()
    if run is not None and run.id != record.run_id:
        set_tag(f"shipyard.dataset.{record.name}", str(record.version))


def _tmp_dir(fs: FeatureStore) -> str:
    folder = fs.home / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)
