"""The prediction log, written off the request path.

A request only appends its columns to an in-memory buffer; a background thread turns the
buffer into rows and appends them to the store every ``prediction_flush_interval``
seconds (or sooner when it fills). Ids start with the prediction time in milliseconds, so
they sort by time; a full buffer drops (and counts) rather than slowing requests down.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.store.base import PredictionLogStore, PredictionRecord

log = logging.getLogger("shipyard.serving")
FLUSH_ROWS = 20_000  # flush early past this many buffered rows
MAX_BUFFERED = 500_000  # past this, drop: the store is down or far too slow


def new_ids(n: int, now_ms: int) -> list[str]:
    """``n`` ids: 12 hex digits of time, then 20 random ones."""
    prefix = f"{now_ms:012x}"
    noise = os.urandom(10 * n).hex()
    return [prefix + noise[20 * i : 20 * (i + 1)] for i in range(n)]


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

    def records(self) -> list[PredictionRecord]:
        fixed = (self.model, self.version, self.variant, self.shadow, self.ts_ms, self.latency_ms)
        if len(self.ids) == 1:  # single-row traffic: the common case, kept cheap
            inputs = {name: values[0] for name, values in self.inputs.items()}
            features = (
                {name: values[0] for name, values in self.features.items()}
                if self.features is not None
                else None
            )
            return [PredictionRecord(self.ids[0], *fixed, inputs, self.outputs[0], features)]
        names = list(self.inputs)
        rows = zip(*self.inputs.values(), strict=True)
        inputs_of = [dict(zip(names, row, strict=True)) for row in rows]
        features_of: list[dict[str, Any] | None] = [None] * len(self.ids)
        if self.features is not None:
            feature_names = list(self.features)
            features_of = [
                dict(zip(feature_names, row, strict=True))
                for row in zip(*self.features.values(), strict=True)
            ]
        return [
            PredictionRecord(pid, *fixed, inputs, output, features)
            for pid, inputs, output, features in zip(
                self.ids, inputs_of, self.outputs, features_of, strict=True
            )
        ]


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
        self._batches: list[LoggedBatch] = []
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
        with self._lock:
            if self._rows + len(batch.ids) > MAX_BUFFERED:
                dropped = len(batch.ids)
            else:
                self._batches.append(batch)
                self._rows += len(batch.ids)
                dropped = 0
                full = self._rows >= FLUSH_ROWS
        if dropped:
            self.on_drop(dropped)
        elif full:
            self._wake.set()

    def flush(self) -> int:
        """Write what is buffered now; returns the rows written. A failed write keeps the
        rows buffered for the next try."""
        with self._lock:
            batches, self._batches, self._rows = self._batches, [], 0
        if not batches:
            return 0
        records = [r for b in batches for r in b.records()]
        try:
            self.store.append(records)
        except Exception:
            with self._lock:  # put them back in front, unless that overflows the buffer
                if self._rows + len(records) <= MAX_BUFFERED:
                    self._batches[:0] = batches
                    self._rows += len(records)
                else:
                    self.on_drop(len(records))
            raise
        return len(records)

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
