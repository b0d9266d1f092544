"""Runs whose process died must not stay RUNNING forever.

A run is dead when its heartbeat is older than the timeout, or, sooner, when it ran on
this host and its process is gone (or the pid now belongs to a younger process).
"""

from __future__ import annotations

import os

import psutil

from shipyard.store import RunRecord, TrackingStore
from shipyard.tracking.environment import hostname


def _process_gone(run: RunRecord) -> bool:
    if run.host != hostname() or run.pid <= 0 or run.pid == os.getpid():
        return False  # only the heartbeat can tell for other hosts; we are alive
    try:
        process = psutil.Process(run.pid)
        started_ms = process.create_time() * 1000
        if process.status() == psutil.STATUS_ZOMBIE:
            return True
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False
    return bool(started_ms > run.start_ms + 1000)  # the pid was reused by a newer process


def find_dead_runs(store: TrackingStore, now_ms: int, timeout_s: float) -> list[RunRecord]:
    cutoff = now_ms - int(timeout_s * 1000)
    return [r for r in store.running_runs() if r.heartbeat_ms < cutoff or _process_gone(r)]


def reap_dead_runs(store: TrackingStore, now_ms: int, timeout_s: float) -> list[str]:
    dead = find_dead_runs(store, now_ms, timeout_s)
    if not dead:
        return []
    return store.mark_killed([r.id for r in dead], now_ms)
