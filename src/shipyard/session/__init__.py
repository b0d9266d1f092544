"""The session: one per process, the settings, the clock and the stores every capability
shares (metadata, blobs, the buffered metric writer).

``current_session()`` is created lazily and replaced only when the settings change (say a
test points ``SHIPYARD_HOME`` elsewhere) or the process forks, so convenience calls such as
``register_model`` or ``log_labels`` reuse one engine instead of opening their own.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import weakref
from collections.abc import Iterable

from shipyard._clock import SYSTEM_CLOCK, Clock, to_millis
from shipyard.config import Settings, load_settings
from shipyard.session.metric_writer import MetricWriter
from shipyard.store import TrackingStore, open_blob_store, open_tracking_store
from shipyard.store.blobs import BlobStore
from shipyard.store.registry import artifact_uri_of

__all__ = ["MetricWriter", "Session", "close_current", "current_session", "flush_all"]

_sessions: weakref.WeakSet[Session] = weakref.WeakSet()


class Session:
    """Settings, clock and lazily opened stores; constructing one opens nothing."""

    def __init__(self, settings: Settings | None = None, clock: Clock | None = None) -> None:
        self.settings = settings or load_settings()
        self.clock = clock or SYSTEM_CLOCK
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._store: TrackingStore | None = None
        self._blobs: BlobStore | None = None
        self._writer: MetricWriter | None = None
        _sessions.add(self)

    @property
    def store(self) -> TrackingStore:
        """The metadata store the settings' URI names (SQL, or a server's REST API)."""
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = open_tracking_store(self.settings.uri, self._has_blobs)
        return self._store

    def _has_blobs(self) -> bool:
        blobs = open_blob_store(artifact_uri_of(self.settings))  # not self.blobs: we hold the lock
        return next(iter(blobs.iter_blobs()), None) is not None

    @property
    def blobs(self) -> BlobStore:
        if self._blobs is None:
            with self._lock:
                if self._blobs is None:
                    self._blobs = open_blob_store(artifact_uri_of(self.settings))
        return self._blobs

    @property
    def writer(self) -> MetricWriter:
        """The buffered metric writer: log_metric appends and returns in microseconds."""
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    self._writer = MetricWriter(
                        lambda: self.store,
                        self.settings.metric_flush_interval,
                        self.settings.heartbeat_interval,
                        self.now_ms,
                    )
        return self._writer

    def now_ms(self) -> int:
        return to_millis(self.clock.now())

    def flush(self) -> None:
        """Write all buffered metric points now."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush, stop the writer and close the stores; a later use opens them again."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._blobs is not None:
            close = getattr(self._blobs, "close", None)
            if close is not None:
                close()
            self._blobs = None


_current: Session | None = None
_current_lock = threading.Lock()


def current_session() -> Session:
    """This process's session for the current settings (env, ``shipyard.toml``)."""
    global _current
    settings = load_settings()
    replaced = None
    with _current_lock:
        session = _current
        if session is None or session.pid != os.getpid():  # a fork opens its own engine
            _current = session = Session(settings)
        elif session.settings.values != settings.values:
            replaced, _current = session, Session(settings)
            session = _current
    if replaced is not None:
        replaced.close()  # flushed, and its engine and writer thread released
    return session


def close_current() -> None:
    """Flush and close this process's session, if any; the next use opens a new one (the
    CLI does this at the end of each command)."""
    global _current
    with _current_lock:
        session, _current = _current, None
    if session is not None and session.pid == os.getpid():
        session.close()


def flush_all(sessions: Iterable[Session] | None = None) -> None:
    """Flush every session's buffered points (at interpreter exit)."""
    for session in list(sessions if sessions is not None else _sessions):
        try:
            session.flush()
        except Exception as exc:  # at exit there is nobody left to raise to
            print(f"shipyard: could not write buffered metrics: {exc}", file=sys.stderr)


atexit.register(flush_all)
