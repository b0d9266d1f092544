"""Batch scoring: a Parquet or CSV file in, a Parquet file out, streamed in chunks through
the same checks, feature lookups and prediction log as the server.

The output has the input's columns plus ``prediction`` and ``prediction_id``; it is
written to a temporary file and renamed, so a failed run leaves no half-written output.
Chunks are scored here, or by Ray actors (``executor="ray"``, ``batch_ray``); the output
is written here either way.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from shipyard._ray import executor_of
from shipyard.config import load_settings
from shipyard.errors import InvalidArgument
from shipyard.serving.deployment import Deployment, ModelRef, Variant
from shipyard.serving.service import PredictionService
from shipyard.tracking import Client


@dataclass(frozen=True)
class BatchResult:
    rows: int
    seconds: float
    output: Path
    model: str
    version: int


def predict_file(
    model: str,
    input_path: str,
    output_path: str,
    *,
    method: str = "predict",
    chunk_rows: int = 10_000,
    log_predictions: bool = True,
    client: Client | None = None,
    executor: str | None = None,
    ray_address: str | None = None,
    workers: int | None = None,
) -> BatchResult:
    """Score ``input_path`` into ``output_path``. ``executor``: ``local`` (this process)
    or ``ray`` (chunks scored by ``workers`` Ray actors, see ``batch_ray``); None: ``ray``
    if the ``executor`` setting says so, else ``local``."""
    if chunk_rows < 1:
        raise InvalidArgument("chunk_rows must be at least 1")
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise InvalidArgument(f"workers must be a positive integer, got {workers!r}")
    setting = (client.settings if client else load_settings()).executor
    executor = executor_of(executor, setting, "batch scoring runs")
    source = Path(input_path)
    if not source.is_file():
        raise InvalidArgument(f"input file {input_path} does not exist")
    output = Path(output_path)
    if output.suffix != ".parquet":
        raise InvalidArgument(f"the output must be a .parquet file, not {output.name}")
    batches = _read(source, chunk_rows)
    if executor == "ray":
        from shipyard.serving.batch_ray import score_on_ray

        return score_on_ray(
            model,
            batches,
            Output(output, input_path),
            method=method,
            log_predictions=log_predictions,
            client=client,
            address=ray_address,
            workers=workers,
        )
    deployment = Deployment((Variant("batch", ModelRef.parse(model)),))
    service = PredictionService(deployment, client=client, log_predictions=log_predictions)
    started = time.perf_counter()
    try:
        with Output(output, input_path) as out:
            for batch in batches:
                result = service.predict(batch.to_pydict(), batch.num_rows, method)
                out.write(batch, result.outputs, result.ids)
                if service.logger is not None:
                    service.logger.flush()  # batch mode waits for the log instead of dropping
            out.commit()
    finally:
        service.close()
    served = service.slots[0].current
    return BatchResult(out.rows, time.perf_counter() - started, output, served.name, served.version)


class Output:
    """The scored file: chunks written to a temporary file, renamed by ``commit``; left
    without a commit (an error), the temporary file is removed and no output appears."""

    def __init__(self, path: Path, input_path: str) -> None:
        self.path = path
        self.input_path = input_path
        self.rows = 0
        self._tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._writer: Any = None

    def __enter__(self) -> Output:
        return self

    def write(self, batch: Any, outputs: Any, ids: Sequence[str]) -> None:
        """One chunk: its input columns plus ``prediction`` and ``prediction_id``."""
        table = (
            pa.Table.from_batches([batch])
            .append_column("prediction", pa.array(outputs))
            .append_column("prediction_id", pa.array(ids, pa.string()))
        )
        if self._writer is None:
            import pyarrow.parquet as pq

            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self._tmp, table.schema)
        self._writer.write_table(table)
        self.rows += batch.num_rows

    def commit(self) -> None:
        if self._writer is None:
            raise InvalidArgument(f"input file {self.input_path} has no rows")
        self._writer.close()
        self._writer = None
        os.replace(self._tmp, self.path)

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
        self._tmp.unlink(missing_ok=True)


def _read(path: Path, chunk_rows: int) -> Iterator[Any]:
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            yield from pq.ParquetFile(path).iter_batches(batch_size=chunk_rows)
        elif path.suffix == ".csv":
            import pyarrow.csv as pcsv

            buffered: list[Any] = []
            size = 0
            for batch in pcsv.open_csv(path):
                buffered.append(batch)
                size += batch.num_rows
                if size >= chunk_rows:
                    yield from pa.Table.from_batches(buffered).to_batches(chunk_rows)
                    buffered, size = [], 0
            if buffered:
                yield from pa.Table.from_batches(buffered).to_batches(chunk_rows)
        else:
            raise InvalidArgument(f"the input must be a .parquet or .csv file, not {path.name}")
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidArgument(f"cannot read {path}: {exc}") from exc
