"""Background writer: log_metric appends to a buffer and returns; a daemon thread writes
batches through the store's one batch primitive and sends heartbeats for active runs.

No point is lost: a write that fails because the store is unavailable keeps its points for
the next attempt, and ``flush()`` writes everything synchronously (end of run, interpreter
exit, exceptions) and raises if the store still cannot take them. A batch the store refuses
for what is in it is split in halves until the points it cannot take are found: those are
rejected (logged, counted in ``rejected`` and in the run's ``shipyard.rejected_metrics``
tag) and every other point is written, so one bad point never blocks the rest.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from shipyard.errors import InvalidArgument, NotFound, ShipyardError
from shipyard.store import Metric, TrackingStore

log = logging.getLogger(__name__)
BATCH_SIZE = 20_000
REJECTED_TAG = "shipyard.rejected_metrics"
# what a store raises for a batch because of the points in it, not because it is down
_POINT_ERRORS = (InvalidArgument, OverflowError, ValueError, TypeError)


@dataclass(frozen=True, slots=True)
class RejectedPoint:
    run_id: str
    metric: Metric
    error: str


class _Unwritten(Exception):
    """The store went away part-way through one run's points: these are still to write."""

    def __init__(self, points: list[Metric], error: BaseException) -> None:
        super().__init__(str(error))
        self.points = points
        self.error = error


class MetricWriter:
    def __init__(
        self,
        store: Callable[[], TrackingStore],
        flush_interval: float,
        heartbeat_interval: float,
        now_ms: Callable[[], int],
    ) -> None:
        self._store = store
        self._flush_interval = flush_interval
        self._heartbeat_interval = heartbeat_interval
        self._now_ms = now_ms
        self._pending: deque[tuple[str, Metric]] = deque()
        self._retry: list[tuple[str, Metric]] = []
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._stopping = False
        self.active_runs: set[str] = set()
        self.rejected: deque[RejectedPoint] = deque(maxlen=1000)  # the most recent
        self._rejected_per_run: Counter[str] = Counter()
        self._untagged: set[str] = set()  # runs whose tag lags their rejected count

    def add(self, run_id: str, metric: Metric) -> None:
        if self._pid != os.getpid():
            self._after_fork()
        self._pending.append((run_id, metric))
        if self._thread is None:
            self._start()
        if len(self._pending) >= BATCH_SIZE:
            self._wake.set()

    def pending(self) -> int:
        return len(self._pending) + len(self._retry)

    def watch(self, run_id: str) -> None:
        """Send heartbeats for this run until ``unwatch``."""
        if self._pid != os.getpid():
            self._after_fork()
        self.active_runs.add(run_id)
        if self._thread is None:
            self._start()

    def unwatch(self, run_id: str) -> None:
        self.active_runs.discard(run_id)

    def flush(self) -> None:
        """Write every buffered point now; raise if the store cannot take them."""
        if self._pid != os.getpid():
            self._after_fork()
        with self._write_lock:
            self._drain_and_write()

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        self.flush()

    def _after_fork(self) -> None:
        """In a forked child: the parent's thread is gone and its buffered points and runs
        are the parent's to write, not ours (writing them here would duplicate them)."""
        self._pid = os.getpid()
        self._write_lock = threading.Lock()
        self._pending = deque()
        self._retry = []
        self.active_runs = set()
        self._rejected_per_run = Counter()
        self._untagged = set()
        self._thread = None

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="shipyard-writer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        next_heartbeat = time.monotonic() + self._heartbeat_interval
        backoff = self._flush_interval
        while not self._stopping:
            self._wake.wait(min(backoff, max(0.0, next_heartbeat - time.monotonic())))
            self._wake.clear()
            try:
                with self._write_lock:
                    self._drain_and_write()
                if time.monotonic() >= next_heartbeat:
                    next_heartbeat = time.monotonic() + self._heartbeat_interval
                    if self.active_runs:
                        self._store().heartbeat(sorted(self.active_runs), self._now_ms())
                backoff = self._flush_interval
            except ShipyardError as exc:  # keep the points; try again later
                log.warning("shipyard could not write metrics yet (will retry): %s", exc)
                backoff = min(backoff * 2, 30.0)
            except Exception:  # a bug: report it, keep the thread alive
                log.exception("shipyard metric writer failed")
                backoff = min(backoff * 2, 30.0)

    def _drain_and_write(self) -> None:
        batch, self._retry = self._retry, []
        pending = self._pending
        for _ in range(len(pending)):
            batch.append(pending.popleft())
        if not batch:
            return
        by_run: dict[str, list[Metric]] = defaultdict(list)
        for run_id, metric in batch:
            by_run[run_id].append(metric)
        store = self._store()
        items = list(by_run.items())
        for i, (run_id, points) in enumerate(items):
            try:
                self._write_run(store, run_id, points)
            except _Unwritten as stop:
                rest = [(r, m) for r, pts in items[i + 1 :] for m in pts]
                self._retry = [(run_id, m) for m in stop.points] + rest  # keep for later
                raise stop.error from None
            except BaseException:
                self._retry = [(r, m) for r, pts in items[i:] for m in pts]
                raise

    def _write_run(self, store: TrackingStore, run_id: str, points: list[Metric]) -> None:
        """Write one run's points, halving a refused batch until the bad points are found."""
        todo = [points]
        while todo:
            part = todo.pop()
            try:
                store.log_batch(run_id, metrics=part)
            except NotFound:
                left = len(part) + sum(map(len, todo))
                log.warning(
                    "dropping %d metric points of run %s: it no longer exists", left, run_id
                )
                return
            except _POINT_ERRORS as exc:
                if len(part) > 1:
                    middle = len(part) // 2
                    todo += [part[middle:], part[:middle]]  # first half next
                else:
                    self._reject(run_id, part[0], exc)
            except BaseException as exc:
                raise _Unwritten(part + [m for seg in reversed(todo) for m in seg], exc) from exc
        if run_id in self._untagged:
            self._tag_rejected(store, run_id)

    def _reject(self, run_id: str, metric: Metric, exc: BaseException) -> None:
        self.rejected.append(RejectedPoint(run_id, metric, str(exc)))
        self._rejected_per_run[run_id] += 1
        self._untagged.add(run_id)
        log.error(
            "shipyard rejected metric point %s=%r (step %d) of run %s: the store cannot "
            "hold it: %s",
            metric.key, metric.value, metric.step, run_id, exc,
        )  # fmt: skip

    def _tag_rejected(self, store: TrackingStore, run_id: str) -> None:
        count = str(self._rejected_per_run[run_id])
        try:
            store.log_batch(run_id, tags={REJECTED_TAG: count})
            self._untagged.discard(run_id)
        except Exception as exc:  # the points are reported in the log already
            log.warning("could not tag run %s with its rejected points: %s", run_id, exc)
