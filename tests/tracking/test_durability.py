"""No point is lost: concurrency, dead processes, and a store that is briefly unavailable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from shipyard._clock import FakeClock, to_millis
from shipyard.errors import StoreUnavailable
from shipyard.store import Metric, RunStatus
from shipyard.tracking import Client

WRITER = """
import sys
from shipyard.tracking import Client
client = Client(uri=sys.argv[1], artifact_uri=sys.argv[2])
run = client.create_run("concurrency", f"writer-{sys.argv[3]}")
for i in range(10_000):
    client.log_metric(run.id, "m", float(i), step=i)
client.end_run(run.id)
print(run.id)
"""


@pytest.mark.slow
def test_eight_processes_log_eighty_thousand_points(store_uri, tmp_path):
    blobs = str(tmp_path / "blobs")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, store_uri, blobs, str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err.lower()
    client = Client(uri=store_uri, artifact_uri=blobs)
    run_ids = [out.strip() for out, _ in outputs]
    histories = [client.get_metric_history(r, "m") for r in run_ids]
    assert sum(len(h) for h in histories) == 80_000
    for history in histories:
        assert [m.step for m in history] == list(range(10_000))
    assert all(r.status is RunStatus.FINISHED for r in client.search_runs("concurrency"))
    client.close()


VICTIM = """
import sys, time
from shipyard.tracking import Client
client = Client(uri=sys.argv[1], artifact_uri=sys.argv[2])
run = client.create_run("reaper", "victim")
for i in range(3000):
    client.log_metric(run.id, "m", float(i), step=i)
client.flush()
print(run.id, flush=True)
for i in range(3000, 10**9):
    client.log_metric(run.id, "m", float(i), step=i)
    time.sleep(0.001)
"""


@pytest.mark.slow
def test_sigkill_leaves_a_killed_run_with_its_flushed_points(store_uri, tmp_path):
    blobs = str(tmp_path / "blobs")
    with subprocess.Popen(
        [sys.executable, "-c", VICTIM, store_uri, blobs],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        run_id = proc.stdout.readline().strip()
        assert len(run_id) == 32
        time.sleep(0.3)  # let it log (and buffer) more points that the kill will cut off
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    client = Client(uri=store_uri, artifact_uri=blobs)
    assert client.get_run(run_id).status is RunStatus.RUNNING  # nothing ended it
    assert run_id in client.reap_dead_runs()
    run = client.get_run(run_id)
    assert run.status is RunStatus.KILLED and run.end_time is not None
    steps = [m.step for m in client.get_metric_history(run_id, "m")]
    assert steps[:3000] == list(range(3000))  # everything flushed before the kill is there
    assert steps == list(range(len(steps)))  # and nothing out of order or duplicated
    assert client.reap_dead_runs() == []
    client.close()


def test_runs_without_heartbeats_are_reaped_after_the_timeout(store_uri, tmp_path):
    clock = FakeClock()
    blobs = str(tmp_path / "blobs")
    client = Client(uri=store_uri, artifact_uri=blobs, clock=clock)
    run = client.create_run("p", "remote")
    # pretend the run lives on another host, so only its heartbeat can tell
    from sqlalchemy import update

    from shipyard.store.sql.tables import runs

    client.store.db.write(
        lambda c: c.execute(update(runs).where(runs.c.id == run.id).values(host="elsewhere"))
    )
    client.writer.unwatch(run.id)
    clock.advance(client.settings.heartbeat_timeout - 1)
    assert client.reap_dead_runs() == []
    clock.advance(2)
    assert client.reap_dead_runs() == [run.id]
    assert client.get_run(run.id).status is RunStatus.KILLED
    client.close()


class _FlakyStore:
    """Delegates to a real store but refuses the first ``failures`` metric batches."""

    def __init__(self, real, failures: int) -> None:
        self.real = real
        self.failures = failures

    def log_batch(self, run_id, metrics=(), params=None, tags=None):
        if metrics and self.failures > 0:
            self.failures -= 1
            raise StoreUnavailable("database restarting")
        return self.real.log_batch(run_id, metrics, params, tags)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_points_survive_a_store_outage(shipyard_client):
    client = shipyard_client
    run = client.create_run("p", "r")
    client.session._store = _FlakyStore(client.store, failures=2)
    for i in range(100):
        client.log_metric(run.id, "m", i, step=i)
    with pytest.raises(StoreUnavailable):
        client.flush()
    with pytest.raises(StoreUnavailable):
        client.flush()
    client.flush()  # the store is back: everything buffered is written once
    assert [m.step for m in client.get_metric_history(run.id, "m")] == list(range(100))
    assert client.writer.pending() == 0


def test_the_writer_thread_flushes_without_being_asked(shipyard_home, monkeypatch):
    monkeypatch.setenv("SHIPYARD_METRIC_FLUSH_INTERVAL", "0.05")
    clock = FakeClock()
    client = Client(clock=clock)
    run = client.create_run("p", "r")
    logged_at = to_millis(clock.now())
    client.log_metric(run.id, "m", 1.0)  # stamped with the client's clock at the call,
    clock.advance(60)  # not when it is written
    client.log_metric(run.id, "m", 2.0)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(client.store.get_metric_history(run.id, "m")) < 2:
        time.sleep(0.02)
    assert client.writer.pending() == 0  # written by the thread: nobody called flush()
    assert client.store.get_metric_history(run.id, "m") == [
        Metric("m", 1.0, 0, logged_at),
        Metric("m", 2.0, 1, logged_at + 60_000),
    ]
    client.close()


def test_heartbeats_keep_a_live_run_alive(shipyard_home, monkeypatch):
    monkeypatch.setenv("SHIPYARD_HEARTBEAT_INTERVAL", "0.05")
    client = Client()
    run = client.create_run("p", "r")
    first = client.store.get_run(run.id).heartbeat_ms
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and client.store.get_run(run.id).heartbeat_ms == first:
        time.sleep(0.05)
    assert client.store.get_run(run.id).heartbeat_ms > first
    assert client.reap_dead_runs() == []  # its own process is alive
    client.end_run(run.id)
    client.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
@pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork:DeprecationWarning")
def test_a_forked_child_does_not_rewrite_the_parents_buffered_points(shipyard_client):
    client = shipyard_client
    run = client.create_run("p", "fork")
    for i in range(10):
        client.log_metric(run.id, "parent", i, step=i)
    pid = os.fork()
    if pid == 0:  # child: logs its own point and flushes; must not write the parent's
        code = 0
        try:
            client.log_metric(run.id, "child", 1.0)
            client.flush()
        except BaseException:
            code = 1
        os._exit(code)
    deadline = time.monotonic() + 60
    while (ended := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    if ended[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child did not exit within 60 s")
    assert os.waitstatus_to_exitcode(ended[1]) == 0
    client.flush()
    assert [m.step for m in client.get_metric_history(run.id, "parent")] == list(range(10))
    assert len(client.get_metric_history(run.id, "child")) == 1
