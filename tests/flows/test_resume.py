"""Resume: reuse the finished tasks of a failed or killed run, rerun the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import shipyard
from shipyard.errors import InvalidFlow, TaskFailed
from shipyard.flows import Flow
from shipyard.flows.executors import LocalExecutor
from tests.flows.examples.resumable_flow import ResumableFlow

EXAMPLE = Path(__file__).parent / "examples" / "resumable_flow.py"
ROOT = Path(__file__).parents[2]
EXPECTED_TOTAL = sum(100 + i for i in range(6))


@pytest.fixture(scope="module")
def pool():
    with LocalExecutor(max_workers=2) as executor:
        yield executor


def test_resume_after_a_failure_reuses_finished_tasks(shipyard_home, pool, tmp_path):
    marker = tmp_path / "broken"
    marker.touch()
    with pytest.raises(TaskFailed, match="item 4 is broken"):
        ResumableFlow.run(executor=pool, marker=str(marker))
    failed = Flow("ResumableFlow").latest_run
    marker.unlink()  # "fix the bug"
    resumed = ResumableFlow.resume(executor=pool)
    assert resumed.successful and resumed.data.total == EXPECTED_TOTAL
    assert resumed.origin.pathspec == failed.pathspec and resumed.number == 2
    start = resumed["start"].task
    assert shipyard.get_run(start.id).tags["cloned_from"] == failed["start"].task.id
    assert start.stdout == "start ran\n"  # the clone keeps the origin's logs
    work = {t.foreach_path: shipyard.get_run(t.id).tags for t in resumed["work"]}
    assert "cloned_from" not in work["4"]  # the failed item ran again
    assert sum("cloned_from" in tags for tags in work.values()) >= 1
    assert "cloned_from" not in shipyard.get_run(resumed["join"].task.id).tags


def test_resume_from_a_given_step_reruns_it_and_everything_after(shipyard_home, pool):
    first = ResumableFlow.run(executor=pool)
    again = ResumableFlow.resume(first.number, "join", executor=pool)
    assert again.data.total == EXPECTED_TOTAL
    for step in ("start", "work"):
        assert all("cloned_from" in shipyard.get_run(t.id).tags for t in again[step])
    for step in ("join", "end"):
        assert "cloned_from" not in shipyard.get_run(again[step].task.id).tags
    # artifacts of cloned tasks are the very same blobs
    original = {
        a.path: a.blob_hash for a in shipyard.Client().list_artifacts(first["start"].task.id)
    }
    cloned = {a.path: a.blob_hash for a in shipyard.Client().list_artifacts(again["start"].task.id)}
    assert original == cloned


def test_resume_errors(shipyard_home, pool):
    with pytest.raises(InvalidFlow, match="has no run to resume"):
        ResumableFlow.resume(executor=pool)
    run = ResumableFlow.run(executor=pool)
    with pytest.raises(InvalidFlow, match="no such step"):
        ResumableFlow.resume(run.number, "nope", executor=pool)
    with pytest.raises(InvalidFlow, match="keeps the parameters"):
        from shipyard.flows.resume import Origin
        from shipyard.flows.runtime import FlowRunner

        client = shipyard.Client()
        record = client.store.flows.get_flow_run("ResumableFlow", run.number)
        origin = Origin(client, record, ResumableFlow.graph())
        FlowRunner(ResumableFlow, client, pool).run({"pause": 1}, origin=origin)


@pytest.mark.slow
def test_sigkill_the_runner_then_resume_gives_the_same_artifacts(shipyard_home):
    env = {**os.environ, "SHIPYARD_HOME": str(shipyard_home), "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(
        [sys.executable, str(EXAMPLE), "run", "--max-workers", "2", "--pause", "0.4"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as runner:
        client = shipyard.Client()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until some work tasks have finished
            runs = client.search_runs(
                "ResumableFlow", "kind = 'task' and name like 'work%' and status = 'FINISHED'"
            )
            if len(runs) >= 2:
                break
            time.sleep(0.05)
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait(timeout=30)
    time.sleep(1.0)  # let the orphaned workers finish their task and exit at EOF
    resumed = subprocess.run(
        [sys.executable, str(EXAMPLE), "resume", "--max-workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    killed, done = Flow("ResumableFlow").runs()[1], Flow("ResumableFlow").latest_run
    assert killed.status is shipyard.RunStatus.KILLED
    assert done.successful and done.origin.number == killed.number
    assert done.data.total == EXPECTED_TOTAL
    with LocalExecutor(max_workers=2) as executor:
        uninterrupted = ResumableFlow.run(executor=executor)
    assert uninterrupted.data.values == done.data.values


def test_a_run_that_is_still_going_cannot_be_resumed(shipyard_home):
    from shipyard.errors import Conflict
    from shipyard.flows.resume import Origin

    client = shipyard.Client()
    run = client.create_run("ResumableFlow", "live", kind="flow")  # RUNNING, our own pid
    record = client.store.flows.create_flow_run(run.id, "ResumableFlow", "{}")
    with pytest.raises(Conflict, match="still running"):
        Origin(client, record, ResumableFlow.graph())
