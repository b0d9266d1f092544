"""Batch scoring: a Parquet or CSV file in, a Parquet file out, streamed in chunks through
the same checks, feature lookups and prediction log as the server.

The output has the input's columns plus ``prediction`` and ``prediction_id``; it is
written to a temporary file and renamed, so a failed run leaves no half-written output.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

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
) -> BatchResult:
    if chunk_rows < 1:
        raise InvalidArgument("chunk_rows must be at least 1")
    source = Path(input_path)
    if not source.is_file():
        raise InvalidArgument(f"input file {input_path} does not exist")
    output = Path(output_path)
    if output.suffix != ".parquet":
        raise InvalidArgument(f"the output must be a .parquet file, not {output.name}")
    deployment = Deployment((Variant("batch", ModelRef.parse(model)),))
    service = PredictionService(deployment, client=client, log_predictions=log_predictions)
    started = time.perf_counter()
    rows = 0
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    writer = None
    try:
        import pyarrow.parquet as pq

        for batch in _read(source, chunk_rows):
            columns = batch.to_pydict()
            result = service.predict(columns, batch.num_rows, method)
            table = (
                pa.Table.from_batches([batch])
                .append_column("prediction", pa.array(result.outputs))
                .append_column("prediction_id", pa.array(result.ids, pa.string()))
            )
            if writer is None:
                output.parent.mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
            rows += batch.num_rows
            if service.logger is not None:
                service.logger.flush()  # batch mode waits for the log instead of dropping
        if writer is None:
            raise InvalidArgument(f"input file {input_path} has no rows")
        writer.close()
        writer = None
        os.replace(tmp, output)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
        service.close()
    served = service.slots[0].current
    return BatchResult(rows, time.perf_counter() - started, output, served.name, served.version)


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
