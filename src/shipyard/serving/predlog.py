"""The prediction log, written off the request path.

A request encodes its model call (inputs in columns, fetched features, outputs) to JSON and
appends it to an in-memory buffer; a background thread writes the buffer to the store every
``prediction_flush_interval`` seconds (or sooner when it fills). The buffer holds only
strings, numbers and bytes, which the garbage collector does not track, so it adds nothing
to collection pauses. A full buffer drops (and counts) rather than slowing requests down.

Given a blob store, the same thread also writes the log's columnar segments (Parquet, for
monitoring; see ``shipyard.store.log_segments``) for the models it logged, once a minute
and only for hours that ended a few minutes ago: never on the request path. Given a
``ChildSealer`` (``shipyard serve``), it hands that work to a child process instead, when
an hour it logged is due, so sealing never holds the server's GIL.

Failed calls are logged too (``log_failure``): the inputs if they were parsed, no outputs,
``rows`` 0 (so no prediction id exists for them and ``log_labels`` refuses any), and
``error`` as ``"STATUS: one-line message"``. Logging a failure never raises.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from shipyard.store.base import PredictionCall, PredictionLogStore

if TYPE_CHECKING:
    from shipyard.serving.sealing import ChildSealer
    from shipyard.store.blobs import BlobStore

log = logging.getLogger("shipyard.serving")
FLUSH_ROWS = 50_000  # flush early past this many buffered predictions
MAX_BUFFERED = 1_000_000  # predictions; past this, drop: the store is down or far too slow
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
SEAL_EVERY_S = 60.0  # seconds between two segment passes of the flusher thread
APPEND_BYTES = 1 << 20  # JSON per store.append: see _groups


def new_ids(n: int, now_ms: int) -> list[str]:
    """The ids of one call's ``n`` predictions: 12 hex digits of time and 14 random ones
    (the call), then the row in 6. ``random`` reseeds itself in forked workers."""
    call = f"{now_ms:012x}{random.getrandbits(56):014x}"
    if n == 1:
        return [call + "000000"]
    rows = _ROWS if n <= len(_ROWS) else [f"{i:06x}" for i in range(n)]
    return [call + row for row in rows[:n]]


_ROWS = [f"{i:06x}" for i in range(4096)]  # the row suffixes of a prediction id


def _json(value: Any) -> bytes:
    return orjson.dumps(value, default=str, option=_JSON_OPTIONS)


# A buffered call: id, model, version, variant, shadow, ts_ms, latency_ms, rows, and the
# JSON of inputs, features (or None) and outputs, then the error (None: a success).
Call = tuple[str, str, int, str, bool, int, float, int, bytes, bytes | None, bytes, str | None]
MAX_ERROR_CHARS = 500


def describe_failure(exc: BaseException) -> str:
    """``"STATUS: one-line message"`` of a failed request: a ShipyardError's HTTP status
    (a 5xx other than an unavailable store is a bug: 500), anything else 500."""
    from shipyard.errors import ShipyardError

    if isinstance(exc, ShipyardError):
        status = exc.http_status
        if status >= 500 and exc.code != "STORE_UNAVAILABLE":
            status = 500
        message = exc.message
    else:
        status, message = 500, f"internal server error: {type(exc).__name__}: {exc}"
    line = " ".join(str(message).split())
    return f"{status}: {line}"[:MAX_ERROR_CHARS]


@dataclass
class LoggedBatch:
    """One model call: ``n`` rows with their ids (from one ``new_ids``), inputs, fetched
    features and outputs."""

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

    def encode(self) -> Call:
        features = None if self.features is None else _json(self.features)
        return (
            self.ids[0][:26],
            self.model,
            self.version,
            self.variant,
            self.shadow,
            self.ts_ms,
            self.latency_ms,
            len(self.ids),
            _json(self.inputs),
            features,
            _json(self.outputs),
            None,
        )


def _groups(calls: list[Call]) -> Iterator[list[Call]]:
    """``calls`` in order, in groups of at most APPEND_BYTES of JSON (a larger call alone).

    The store binds a statement's values while it holds the GIL (SQLite copies each one),
    so one statement of many 1,000-row calls (~400 KB of JSON each) would keep every
    request of the process waiting for milliseconds; groups this size bind in well under
    one switch interval's worth of copying, and small calls still go thousands at a time."""
    group: list[Call] = []
    size = 0
    for call in calls:
        n = len(call[8]) + len(call[10]) + (len(call[9]) if call[9] is not None else 0)
        if group and size + n > APPEND_BYTES:
            yield group
            group, size = [], 0
        group.append(call)
        size += n
    if group:
        yield group


def _call(row: Call) -> PredictionCall:
    (
        cid,
        model,
        version,
        variant,
        shadow,
        ts_ms,
        latency_ms,
        rows,
        inputs,
        features,
        outputs,
        error,
    ) = row
    return PredictionCall(
        cid,
        model,
        version,
        variant,
        shadow,
        ts_ms,
        latency_ms,
        rows,
        orjson.Fragment(inputs),
        orjson.Fragment(outputs),
        None if features is None else orjson.Fragment(features),
        error,
    )


class PredictionLogger:
    def __init__(
        self,
        store: PredictionLogStore,
        interval: float,
        on_drop: Callable[[int], Any] = lambda rows: None,
        blobs: BlobStore | None = None,
        sealer: ChildSealer | None = None,
    ) -> None:
        self.store = store
        self.interval = interval
        self.on_drop = on_drop
        self.blobs = blobs  # None: write no segments
        self.sealer = sealer  # None: the flusher thread seals, every SEAL_EVERY_S
        self._models: set[str] = set()  # the models this logger wrote: the ones it seals
        self._sealed_at = time.monotonic()
        self._buffer: list[Call] = []
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
        """Encode the call now (on the caller's thread) and buffer it."""
        call, n = batch.encode(), len(batch.ids)
        with self._lock:
            accepted = self._rows + n <= MAX_BUFFERED
            if accepted:
                self._buffer.append(call)
                self._rows += n
            full = self._rows >= FLUSH_ROWS
        if not accepted:
            self.on_drop(n)
        elif full:
            self._wake.set()

    def log_failure(
        self,
        *,
        model: str,
        version: int,
        variant: str,
        shadow: bool,
        ts_ms: int,
        latency_ms: float,
        inputs: dict[str, list[Any]] | None,
        error: str,
    ) -> None:
        """Buffer one failed call (``inputs`` None when the request did not parse). Never
        raises: a failure to log a failure is logged and dropped."""
        try:
            try:
                encoded = _json(inputs or {})
            except Exception:  # inputs that do not encode: keep the error, not them
                encoded = b"{}"
            call_id = new_ids(1, ts_ms)[0][:26]
            call: Call = (
                call_id, model, int(version), variant, bool(shadow), int(ts_ms),
                float(latency_ms), 0, encoded, None, b"[]", error,
            )  # fmt: skip
            with self._lock:
                accepted = self._rows + 1 <= MAX_BUFFERED
                if accepted:
                    self._buffer.append(call)
                    self._rows += 1
            if not accepted:
                self.on_drop(1)
        except Exception:
            log.exception("could not log a failed prediction call")

    def flush(self) -> int:
        """Write what is buffered now; returns the predictions written. Calls go to the
        store in groups of about APPEND_BYTES of JSON (see ``_groups``); a failed write
        keeps the calls not written yet buffered for the next try."""
        with self._lock:
            calls, self._buffer, count, self._rows = self._buffer, [], self._rows, 0
        if not calls:
            return 0
        done = 0
        try:
            for group in _groups(calls):
                self.store.append([_call(c) for c in group])
                done += len(group)
                self._models.update(c[1] for c in group)
                if self.sealer is not None:
                    self.sealer.wrote((c[1], c[5]) for c in group)
        except Exception:
            rest = calls[done:]
            rows = sum(c[7] or 1 for c in rest)  # a failed call counts as one
            with self._lock:  # put them back in front, unless that overflows the buffer
                if self._rows + rows <= MAX_BUFFERED:
                    self._buffer[:0] = rest
                    self._rows += rows
                else:
                    self.on_drop(rows)
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
            if time.monotonic() - self._sealed_at >= SEAL_EVERY_S:
                self._seal_pass()

    def _seal_pass(self) -> None:
        if self.sealer is None or self.blobs is None:
            self.seal()
            return
        self._sealed_at = time.monotonic()
        self.sealer.check(time.time_ns() // 1_000_000)  # a child process seals what is due

    def seal(self) -> int:
        """Write the segments of the hours that ended (see ``log_segments.seal``) for the
        models this logger wrote; returns how many. Failures are logged, not raised: the
        next pass retries, and readers take what is not sealed from SQL meanwhile."""
        from shipyard.store.log_segments import LOOKBACK_MS, seal_all

        self._sealed_at = time.monotonic()
        if self.blobs is None or not self._models:
            return 0
        now_ms = time.time_ns() // 1_000_000
        try:
            return seal_all(
                self.store, self.blobs, self._models, now_ms=now_ms, since_ms=now_ms - LOOKBACK_MS
            )
        except Exception:
            log.exception("could not write prediction log segments; will retry")
            return 0

    def close(self) -> None:
        """Stop the thread and write everything still buffered."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()
        self.seal()


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
