"""``python flow.py run`` on Linux: the first worker is a fork of the runner, made before
the runner opens its stores or starts a thread. Tasks still run in a process of their own,
with their output captured, their failures isolated, @retry, @timeout and Ctrl-C as with
workers that are fresh interpreters; a worker started later, or in place of a dead one, is
a fresh interpreter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

import shipyard
from shipyard.flows import Flow
from shipyard.flows.executors import local
from shipyard.flows.executors.local import LocalExecutor, can_fork
from tests.flows.examples.hello_flow import HelloFlow
from tests.flows.examples.where_flow import WhereFlow

EXAMPLES = Path(__file__).parent / "examples"
ROOT = Path(__file__).parents[2]

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux")


def flow_env(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "SHIPYARD_HOME": str(home), "PYTHONPATH": str(ROOT), **extra}
    env.pop("PYTHONUNBUFFERED", None)  # stdout is a pipe: block-buffered, as in CI logs
    return env


def run_file(name: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@linux_only
@pytest.mark.slow
def test_a_linear_run_forks_one_worker_and_starts_no_interpreter(client, shipyard_home):
    env = flow_env(shipyard_home, SHIPYARD_URI=client.settings.uri)  # SQLite, PostgreSQL
    done = run_file("where_flow.py", "run", "--max-workers", "2", env=env)
    assert done.returncode == 0, done.stderr
    run = Flow("WhereFlow", client=client).latest_run
    assert run.successful and run.pathspec == "WhereFlow/1"
    places = run.data.places
    worker = places[0]["pid"]
    assert [p["pid"] for p in places] == [worker] * 3  # every task, one worker
    assert all(p["runner_children"] == [worker] for p in places)  # and no other
    # a fork of the runner: the same command line, no `python -m ...worker_main`
    command = [str(EXAMPLES / "where_flow.py"), "run", "--max-workers", "2"]
    assert places[0]["cmdline"][1:] == command
    assert run["start"].task.stdout == "start ran\n"  # the task's output, captured
    # what the flow file printed (still in the runner's buffer at the fork) shows once
    said = done.stdout + done.stderr
    assert said.count("printed by the flow file before the run") == 1


@linux_only
@pytest.mark.slow
def test_a_forked_worker_that_dies_fails_its_attempt_and_a_fresh_one_retries(shipyard_home):
    done = run_file("where_flow.py", "run", "--crash", "true", env=flow_env(shipyard_home))
    assert done.returncode == 0, done.stderr
    run = Flow("WhereFlow").latest_run
    first, again, last = run.data.places
    assert again["pid"] != first["pid"]  # the forked worker died with the first attempt
    assert "shipyard.flows.worker_main" in again["cmdline"]  # its replacement: a fresh one
    assert last["pid"] == again["pid"]
    attempts = sorted(
        run["middle"].attempts(), key=lambda t: shipyard.get_run(t.id).tags["attempt"]
    )
    assert [t.status for t in attempts] == [shipyard.RunStatus.KILLED, shipyard.RunStatus.FINISHED]


@linux_only
@pytest.mark.slow
def test_timeout_stops_a_forked_worker(shipyard_home):
    done = run_file("sleepy_flow.py", "run", "--overrun", "30", env=flow_env(shipyard_home))
    assert done.returncode == 1
    assert "SleepyFlow/1/limited: timed out after 1 s (@timeout)" in done.stderr
    run = Flow("SleepyFlow").latest_run
    assert run.status is shipyard.RunStatus.FAILED
    assert run["limited"].task.status is shipyard.RunStatus.KILLED


@linux_only
@pytest.mark.slow
def test_ctrl_c_stops_the_run_and_its_forked_worker_quietly(shipyard_home, tmp_path):
    ready = tmp_path / "ready"
    env = flow_env(shipyard_home, SHIPYARD_TEST_READY=str(ready))
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "sleepy_flow.py"), "run", "--nap", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a terminal would make it
    )
    deadline = time.monotonic() + 60
    while not ready.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists(), process.communicate()
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches every process of the group
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "Traceback" not in err and "Traceback" not in out
    with pytest.raises(ProcessLookupError):  # the worker went with the runner
        os.killpg(process.pid, 0)
    run = Flow("SleepyFlow").latest_run
    assert run.status is shipyard.RunStatus.KILLED
    assert not run["napping"].task.successful


def test_no_fork_while_another_thread_runs(shipyard_home):
    """A fork copies the locks other threads hold: then the worker is a fresh interpreter."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not can_fork()
        with LocalExecutor(max_workers=1, fork=True) as executor:
            assert not executor.forked
            assert HelloFlow.run(executor=executor).successful
    finally:
        stop.set()
        other.join(timeout=60)
        assert not other.is_alive()


def test_a_linear_flow_starts_one_worker_of_two(shipyard_home, monkeypatch):
    """The worker that just finished a task counts as free before the runner submits the
    next one: no second worker starts for a flow that never runs two tasks at once."""
    started: list[local._WorkerProcess] = []
    real = local._WorkerProcess.__init__

    def spy(self: local._WorkerProcess, *args: object, **kwargs: object) -> None:
        started.append(self)
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(local._WorkerProcess, "__init__", spy)
    with LocalExecutor(max_workers=2) as executor:
        for _ in range(3):
            assert WhereFlow.run(executor=executor).successful
    assert len(started) == 1
    assert psutil.Process().children() == []


def test_a_flow_file_imports_no_store_before_its_run_starts():
    """``from shipyard.flows import FlowSpec, step``, the first line of every flow file,
    loads neither the store (SQLAlchemy) nor the tracking client nor the worker code."""
    code = (
        "import sys\n"
        "from shipyard.flows import FlowSpec, step\n"
        "heavy = ('sqlalchemy', 'fsspec', 'cloudpickle', 'psutil', 'click', 'shipyard.store',"
        " 'shipyard.tracking', 'shipyard.registry', 'shipyard.flows.worker')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
