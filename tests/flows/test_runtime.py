"""Running flows: the local runtime end to end, in real worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import shipyard
from shipyard.errors import InvalidFlow, TaskFailed
from shipyard.flows import Flow, Run
from shipyard.flows.executors import InProcessExecutor, LocalExecutor
from tests.flows.examples.branch_flow import BranchFlow
from tests.flows.examples.failing_flow import FailingFlow
from tests.flows.examples.foreach_flow import ForeachFlow
from tests.flows.examples.hello_flow import HelloFlow

EXAMPLES = Path(__file__).parent / "examples"
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def pool():
    """One pool of worker processes for the module: workers are reused across runs."""
    with LocalExecutor(max_workers=2) as executor:
        yield executor


def run_file(name: str, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHIPYARD_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.slow
def test_hello_flow_from_the_command_line(shipyard_home):
    done = run_file("hello_flow.py", "run", "--max-workers", "2", home=shipyard_home)
    assert done.returncode == 0, done.stderr
    assert "HelloFlow/1 finished" in done.stdout
    assert "HelloFlow hello: 1 task(s) done" in done.stdout  # progress, one line per step
    run = Flow("HelloFlow").latest_run
    assert run.successful and run.pathspec == "HelloFlow/1"
    assert run["hello"].task.stdout == "Shipyard says: Hi!\n"
    assert [s.name for s in run.steps()] == ["end", "hello", "start"]  # newest first
    assert [s.name for s in run.steps_in_graph_order()] == ["start", "hello", "end"]
    shown = run_file("hello_flow.py", "show", home=shipyard_home)
    assert "Step hello" in shown.stdout and "=> end" in shown.stdout


def test_branches_join_by_name_and_merge(shipyard_home, pool):
    run = BranchFlow.run(executor=pool)
    assert isinstance(run, Run) and run.successful
    assert run.data.total == 3 and run.data.shared == "from start"
    assert sorted(t.data.x for t in [run["a"].task, run["b"].task]) == [1, 2]


def test_nested_foreach_with_parameters(shipyard_home, pool):
    run = ForeachFlow.run(executor=pool, scale=10, groups='{"x": [1, 2, 3], "y": [4]}')
    assert run.data.sums == {"x": 60.0, "y": 40.0}
    members = run["member"].tasks()
    assert sorted(t.foreach_path for t in members) == ["0/0", "0/1", "0/2", "1/0"]
    assert sorted(t.index for t in members) == [0, 0, 1, 2]  # the innermost foreach
    assert all(t.data.where.startswith(f"ForeachFlow/{run.number}/member/") for t in members)
    assert run.data.scale == 10.0  # parameters are artifacts, visible in every step
    # metrics logged inside a step belong to that step's task
    values = sorted(shipyard.get_run(t.id).metrics["value"] for t in members)
    assert values == [10.0, 20.0, 30.0, 40.0]
    flow_run = shipyard.get_run(run.tracking_id)
    assert run.info == flow_run and run.params["scale"] == "10.0"  # one Run: flow and tracked
    assert flow_run.kind == "flow" and flow_run.params["scale"] == "10.0"


def test_runs_are_numbered_and_artifacts_deduplicated(shipyard_home, pool):
    first = BranchFlow.run(executor=pool)
    second = BranchFlow.run(executor=pool)
    assert (first.number, second.number) == (1, 2)
    assert Flow("BranchFlow").latest_run.number == 2
    a1 = shipyard.Client().list_artifacts(first["a"].task.id, "data/")
    a2 = shipyard.Client().list_artifacts(second["a"].task.id, "data/")
    assert [a.blob_hash for a in a1] == [a.blob_hash for a in a2]  # same values, same blobs


def test_a_failing_step_fails_the_run_and_says_where(shipyard_home):
    with pytest.raises(TaskFailed) as failure:
        FailingFlow.run(executor=InProcessExecutor())
    message = str(failure.value)
    assert message.startswith("FailingFlow/1/divide/")
    assert "ZeroDivisionError: division by zero" in message
    run = Flow("FailingFlow").latest_run
    assert run.status is shipyard.RunStatus.FAILED
    task = run["divide"].task
    assert not task.successful and "ZeroDivisionError" in task.error
    assert task.stdout == "about to divide\n" and "Traceback" in task.stderr


@pytest.mark.slow
def test_cli_errors_are_one_line(shipyard_home):
    done = run_file("failing_flow.py", "run", "--divisor", "zero", home=shipyard_home)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: parameter 'divisor' expects int, got 'zero': "
        "invalid literal for int() with base 10: 'zero'"
    )
    done = run_file("failing_flow.py", "run", home=shipyard_home)
    assert done.returncode == 1 and done.stderr.startswith("error: FailingFlow/1/divide/")


def test_unknown_parameters_are_refused_before_anything_runs(shipyard_home):
    with pytest.raises(InvalidFlow, match="has no parameter alpha"):
        HelloFlow.run(executor=InProcessExecutor(), alpha=1)
    assert shipyard.search_runs("HelloFlow") == []


def test_raw_fd_writes_do_not_corrupt_the_workers(shipyard_home, capfd):
    from tests.flows.examples.rough_flow import RoughFlow

    # a pool of its own: its workers inherit fd 2 while capfd holds it
    with LocalExecutor(max_workers=1) as executor:
        run = RoughFlow.run(executor=executor)
    assert run.successful and run.data.ok is True
    captured = capfd.readouterr()
    # both raw writes reached the worker's stderr, neither went into the task channel
    assert "raw bytes on fd 1\n" in captured.err and "raw bytes on fd 2\n" in captured.err
    assert "raw bytes" not in captured.out


def test_a_dead_worker_fails_its_task_and_is_replaced(shipyard_home):
    from tests.flows.examples.rough_flow import RoughFlow

    with LocalExecutor(max_workers=1) as executor:
        with pytest.raises(
            TaskFailed,
            match=r"RoughFlow/1/middle: the worker process died "
            r"\(exit code 3\)",
        ):
            RoughFlow.run(executor=executor, crash=True)
        assert RoughFlow.run(executor=executor).successful  # a fresh worker took over
    failed = Flow("RoughFlow").runs()[1]
    assert failed.status is shipyard.RunStatus.FAILED
    # the dead worker never ended its task's run; the reaper (run when the next run
    # started, or by hand) sees that its process is gone
    shipyard.Client().reap_dead_runs()
    assert failed["middle"].task.status is shipyard.RunStatus.KILLED


def test_step_decorators(shipyard_home, pool):
    from shipyard.flows import CaughtException
    from tests.flows.examples.decorated_flow import DecoratedFlow

    with pytest.warns(UserWarning, match=r"configured asks for @resources.*one at a time"):
        run = DecoratedFlow.run(executor=pool)
    assert run.successful
    # @retry: the first attempt failed, the second succeeded; both are recorded
    attempts = sorted(run["start"].attempts(), key=lambda t: t.id)
    assert [t.attempt for t in run["start"]] == [1]  # tasks: the latest attempt, as Metaflow
    assert sorted(shipyard.get_run(t.id).tags["attempt"] for t in attempts) == ["0", "1"]
    assert run["start"].task.data.attempts_seen == 1
    # @catch: the exception is an artifact and the run went on
    problem = run["risky"].task.data.problem
    assert isinstance(problem, CaughtException) and problem.type == "IndexError"
    risky = run["risky"].task  # caught: finished, not successful (as in Metaflow)
    assert risky.finished and not risky.successful and "IndexError" in risky.error
    # @environment: set during the step only (workers are reused)
    assert run["configured"].task.data.mode == "on"
    assert run.data.mode_after is None


def test_timeout_stops_the_task(shipyard_home, pool):
    import time

    from tests.flows.examples.decorated_flow import DecoratedFlow

    started = time.monotonic()
    with pytest.warns(UserWarning), pytest.raises(TaskFailed, match=r"timed out after 1 s"):
        DecoratedFlow.run(executor=pool, sleep=30.0)
    assert time.monotonic() - started < 20
    run = Flow("DecoratedFlow").latest_run
    assert run.status is shipyard.RunStatus.FAILED
    assert run["slow"].task.status is shipyard.RunStatus.KILLED


def test_bad_decorator_arguments_are_refused_at_definition(shipyard_home):
    from shipyard.flows import retry, step

    with pytest.raises(InvalidFlow, match="@retry has no argument tries"):

        @retry(tries=3)
        @step
        def one(self):
            pass

    with pytest.raises(InvalidFlow, match="goes above @step"):

        @step
        @retry
        def two(self):
            pass


NOTEBOOK_CELL = """
from shipyard.flows import FlowSpec, step


class CellFlow(FlowSpec):
    @step
    def start(self):
        self.values = [1, 2, 3]
        self.next(self.end)

    @step
    def end(self):
        self.total = sum(self.values)
"""


def test_a_flow_defined_in_a_notebook_cell(shipyard_home, pool):
    """As IPython runs a cell: source only in linecache, the class in __main__ (no file);
    workers get the class by value."""
    import linecache

    filename = "<ipython-input-3-shipyard>"
    lines = NOTEBOOK_CELL.splitlines(keepends=True)
    linecache.cache[filename] = (len(NOTEBOOK_CELL), None, lines, filename)
    namespace = {"__name__": "__main__"}
    exec(compile(NOTEBOOK_CELL, filename, "exec"), namespace)
    run = namespace["CellFlow"].run(executor=pool)
    assert run.successful and run.data.total == 6
    assert "Step start" in namespace["CellFlow"].graph().render()


def test_live_progress_table_on_a_terminal():
    import io

    from rich.console import Console

    from shipyard.flows.progress import RichProgress
    from shipyard.flows.worker import TaskResult

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, color_system=None)
    progress = RichProgress("DemoFlow", ["start", "train", "end"], console=console)
    progress.started("start")
    progress.finished(TaskResult("t1", "start", "", True))
    for _ in range(3):
        progress.started("train")
    progress.finished(TaskResult("t2", "train", "0", True))
    progress.finished(TaskResult("t3", "train", "1", False, error="boom"))
    progress.retrying("train", 0, "bad key [/] in [bold]row")  # text, not markup
    progress.close()
    assert "bad key [/] in [bold]row" in screen.getvalue()
    last_frame = screen.getvalue().rsplit("DemoFlow", 1)[-1].replace("│", " ")
    rows = {
        cells[0]: cells[1:]
        for cells in (line.split() for line in last_frame.splitlines())
        if cells and cells[0] in ("start", "train", "end")
    }
    assert rows["start"] == ["1"]  # done, nothing running
    assert rows["train"] == ["1", "1", "1"]  # done, running, failed
    assert rows["end"] == ["0"]


def test_an_artifact_that_cannot_be_stored_fails_clearly(shipyard_home, pool):
    from tests.flows.examples.unpicklable_flow import UnpicklableFlow

    with pytest.raises(TaskFailed) as failure:
        UnpicklableFlow.run(executor=pool)
    first_line = str(failure.value).splitlines()[0]
    assert first_line.startswith("UnpicklableFlow/1/hold/")
    assert "artifact self.lock cannot be stored" in first_line and "lock" in first_line
    run = Flow("UnpicklableFlow").latest_run
    assert run.status is shipyard.RunStatus.FAILED and run["start"].task.successful


def test_runs_can_be_filtered_by_tag(shipyard_home, pool):
    HelloFlow.run(executor=pool, tags=["nightly", "team-a"])
    HelloFlow.run(executor=pool, tags=["adhoc"])
    flow = Flow("HelloFlow")
    assert [r.number for r in flow.runs("nightly")] == [1]
    assert [r.number for r in flow.runs()] == [2, 1]
    assert flow.runs("nightly", "team-a")[0].tags == ["nightly", "team-a"]
