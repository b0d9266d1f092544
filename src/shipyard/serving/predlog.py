"""The prediction log, written off the request path.

A request only appends its columns to an in-memory buffer; a background thread turns the
buffer into rows and appends them to the store every ``prediction_flush_interval``
seconds (or sooner when it fills). Ids start with the prediction time in milliseconds, so
they sort by time; a full buffer drops (and counts) rather than slowing requests down.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from shipyard.store.base import PredictionLogStore, PredictionRecord

log = logging.getLogger("shipyard.serving")
FLUSH_ROWS = 20_000  # flush early past this many buffered rows
MAX_BUFFERED = 500_000  # past this, drop: the store is down or far too slow
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def new_ids(n: int, now_ms: int) -> list[str]:
    """``n`` ids: 12 hex digits of time, then 20 random ones (``random`` reseeds itself in
    forked workers, so processes never share a sequence)."""
    prefix = f"{now_ms:012x}"
    noise = f"{random.getrandbits(80 * n):0{20 * n}x}"
    return [prefix + noise[20 * i : 20 * (i + 1)] for i in range(n)]


def _json(value: Any) -> bytes:
    return orjson.dumps(value, default=str, option=_JSON_OPTIONS)


# A buffered row: id, model, version, variant, shadow, ts_ms, latency_ms, and the JSON of
# inputs, features (or None) and output. Only strings, numbers and bytes: the garbage
# collector stops tracking such tuples, so a full buffer adds nothing to its pauses.
Row = tuple[str, str, int, str, bool, int, float, bytes, bytes | None, bytes]


@dataclass
class LoggedBatch:
    """One model call: ``n`` rows with their ids, inputs, fetched features and outputs."""

    ids: list[str]
    ts_ms: int
    model: str
    version: int
    variant: str
    shadow: bool
    latency_ms: float
    inputs: dict[str, list[Any]]
    features: dict[str, list[Any]] | None
    outputs: list[Any]

    def rows(self) -> list[Row]:
        fixed = (self.model, self.version, self.variant, self.shadow, self.ts_ms, self.latency_ms)
        names = list(self.inputs)
        if len(self.ids) == 1:  # single-row traffic: the common case, kept cheap
            inputs = [{name: values[0] for name, values in self.inputs.items()}]
        else:
            inputs = [
                dict(zip(names, row, strict=True))
                for row in zip(*self.inputs.values(), strict=True)
            ]
        features: list[bytes | None] = [None] * len(self.ids)
        if self.features is not None:
            feature_names = list(self.features)
            features = [
                _json(dict(zip(feature_names, row, strict=True)))
                for row in zip(*self.features.values(), strict=True)
            ]
        return [
            (pid, *fixed, _json(row_inputs), row_features, _json(output))
            for pid, row_inputs, row_features, output in zip(
                self.ids, inputs, features, self.outputs, strict=True
            )
        ]


def _record(row: Row) -> PredictionRecord:
    pid, model, version, variant, shadow, ts_ms, latency_ms, inputs, features, output = row
    return PredictionRecord(
        pid,
        model,
        version,
        variant,
        shadow,
        ts_ms,
        latency_ms,
        orjson.Fragment(inputs),
        orjson.Fragment(output),
        None if features is None else orjson.Fragment(features),
    )


class PredictionLogger:
    def __init__(
        self,
        store: PredictionLogStore,
        interval: float,
        on_drop: Callable[[int], Any] = lambda rows: None,
    ) -> None:
        self.store = store
        self.interval = interval
        self.on_drop = on_drop
        self._buffer: list[LoggedBatch | Row] = []
        self._rows = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="shipyard-predlog", daemon=True)
            self._thread.start()

    def log(self, batch: LoggedBatch) -> None:
        """Buffer one model call. A single row is encoded at once (its few objects would
        otherwise linger for the collector to walk); a batch stays in columns, a handful
        of objects for any number of rows, and is encoded by the flush."""
        n = len(batch.ids)
        item: LoggedBatch | Row = batch.rows()[0] if n == 1 else batch
        with self._lock:
            accepted = self._rows + n <= MAX_BUFFERED
            if accepted:
                self._buffer.append(item)
                self._rows += n
            full = self._rows >= FLUSH_ROWS
        if not accepted:
            self.on_drop(n)
        elif full:
            self._wake.set()

    def flush(self) -> int:
        """Write what is buffered now; returns the rows written. A failed write keeps the
        rows buffered for the next try."""
        with self._lock:
            items, self._buffer, count = self._buffer, [], self._rows
            self._rows = 0
        if not items:
            return 0
        rows: list[Row] = []
        for item in items:
            if isinstance(item, LoggedBatch):
                rows += item.rows()
            else:
                rows.append(item)
        try:
            self.store.append([_record(row) for row in rows])
        except Exception:
            with self._lock:  # put them back in front, unless that overflows the buffer
                if self._rows + count <= MAX_BUFFERED:
                    self._buffer[:0] = rows
                    self._rows += count
                else:
                    self.on_drop(count)
            raise
        return count

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                log.exception("could not write the prediction log; will retry")

    def close(self) -> None:
        """Stop the thread and write everything still buffered."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()


def attach_labels(
    store: PredictionLogStore, ids: Sequence[str], labels: Sequence[Any], now_ms: int
) -> int:
    from shipyard.errors import InvalidArgument, NotFound

    ids, labels = list(ids), list(labels)
    if len(ids) != len(labels):
        raise InvalidArgument(f"log_labels got {len(ids)} prediction ids but {len(labels)} labels")
    bad = [i for i in ids if not isinstance(i, str) or len(i) != 32]
    if bad:
        raise InvalidArgument(f"{bad[0]!r} is not a prediction id (32 hex characters)")
    unknown = store.attach_labels(list(zip(ids, labels, strict=True)), now_ms)
    if unknown:
        raise NotFound(
            f"{len(unknown)} of {len(ids)} prediction ids are not in the prediction log "
            f"(first: {unknown[0]}); no label was stored. Predictions reach the log a few "
            "seconds after they are made"
        )
    return len(ids)
