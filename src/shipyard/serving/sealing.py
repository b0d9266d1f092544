"""The prediction log's segments, sealed in a child process once an hour is due.

Sealing (``shipyard.store.log_segments``) reads a finished hour of calls back from SQL and
writes it as Parquet: Python-heavy work that, in a server's flusher thread, holds the GIL
for as long as it runs (seconds for a busy hour) while requests wait for it. A server that
reads its store from the environment (``shipyard serve``) hands that work to a child
process instead, ``python -m shipyard.serving.sealing MODEL...``, which runs at a lower
CPU priority, and only when it is due: the flusher notes, per model, the oldest and newest
call it wrote since the last hand-off, and an hour is due ``GRACE_MS`` after it ends. One
child at a time; the models of a child that fails are handed off again at the next check.
The child seals what ``seal_all`` would over the lookback (``LOOKBACK_MS``), so a bucket an
earlier server left unsealed is written too.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterable

from shipyard.store.log_segments import GRACE_MS, SEGMENT_MS, bucket_of

log = logging.getLogger("shipyard.serving")
NICENESS = 10  # the child yields the CPU to the server's workers


def is_due(ts_ms: int, now_ms: int) -> bool:
    """Whether the hour of ``ts_ms`` has ended ``GRACE_MS`` before ``now_ms``."""
    return bucket_of(ts_ms) + SEGMENT_MS + GRACE_MS <= now_ms


class ChildSealer:
    """Tracks what a logger wrote and starts the sealing child when an hour of it is due."""

    def __init__(self, command: list[str] | None = None) -> None:
        self.command = command or [sys.executable, "-m", "shipyard.serving.sealing"]
        self._span: dict[str, tuple[int, int]] = {}  # model -> (oldest, newest) ts written
        self._child: subprocess.Popen[bytes] | None = None
        self._handed: dict[str, tuple[int, int]] = {}  # what the running child seals

    def wrote(self, calls: Iterable[tuple[str, int]]) -> None:
        """Note calls (model, ts_ms) that reached the store."""
        span = self._span
        for model, ts in calls:
            old = span.get(model)
            if old is None:
                span[model] = (ts, ts)
            elif ts < old[0] or ts > old[1]:
                span[model] = (min(old[0], ts), max(old[1], ts))

    def check(self, now_ms: int) -> bool:
        """Start the child if an hour is due and no child runs; returns whether it did."""
        if not self._reap():
            return False
        due = {m: s for m, s in self._span.items() if is_due(s[0], now_ms)}
        if not due:
            return False
        try:
            self._child = subprocess.Popen(
                [*self.command, *sorted(due)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
            )
        except OSError:
            log.exception("could not start the prediction log's sealing process; will retry")
            return False
        self._handed = due
        for model, (_, newest) in due.items():
            if is_due(newest, now_ms):
                del self._span[model]
            else:  # its latest hour is not over: still to seal once it is
                self._span[model] = (bucket_of(newest), newest)
        return True

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for a running child; its exit code, or None if none ran."""
        if self._child is None:
            return None
        code = self._child.wait(timeout)
        self._reap()
        return code

    def _reap(self) -> bool:
        """Whether no child runs now; the models of one that failed are due again."""
        child = self._child
        if child is None:
            return True
        code = child.poll()
        if code is None:
            return False
        if code != 0:
            log.warning("the prediction log's sealing process exited with %s; will retry", code)
            self.wrote((model, oldest) for model, (oldest, _) in self._handed.items())
        self._child, self._handed = None, {}
        return True


def main(argv: list[str] | None = None) -> int:
    """Seal the finished hours of the lookback for the models named in ``argv``."""
    from shipyard._clock import to_millis
    from shipyard.store.log_segments import LOOKBACK_MS, seal_all
    from shipyard.tracking import Client

    models = list(sys.argv[1:] if argv is None else argv)
    if hasattr(os, "nice"):
        os.nice(NICENESS)
    client = Client()
    try:
        now_ms = to_millis(client.clock.now())
        seal_all(
            client.store.predictions,
            client.blobs,
            models,
            now_ms=now_ms,
            since_ms=now_ms - LOOKBACK_MS,
        )
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
