"""A flow that cannot run says so in one line: no worker starts for an invalid graph, a
worker stopped before its first task goes quietly, and one whose runtime went away exits
without a traceback (no BrokenPipeError under the one-line error)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from shipyard.errors import InvalidFlow
from shipyard.flows import FlowSpec, step
from shipyard.flows.executors import local

ROOT = Path(__file__).parents[2]

UNJOINED = """
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.end)

    @step
    def b(self):
        self.next(self.end)

    @step
    def end(self):
        pass
"""
UNKNOWN_STEP = """
    @step
    def start(self):
        self.next(self.nowhere)

    @step
    def end(self):
        pass
"""
NO_END = """
    @step
    def start(self):
        self.next(self.middle)

    @step
    def middle(self):
        pass
"""
NEEDS_ALPHA = """
    alpha = Parameter("alpha", type=int, required=True)

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass
"""


def write_flow(folder: Path, body: str) -> Path:
    source = "from shipyard.flows import FlowSpec, Parameter, step\n\n\n"
    source += "class BadFlow(FlowSpec):" + textwrap.dedent(body).replace("\n", "\n    ")
    source += '\n\nif __name__ == "__main__":\n    BadFlow()\n'
    path = folder / "bad_flow.py"
    path.write_text(source)
    return path


def run_flow(path: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHIPYARD_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("SHIPYARD_URI", None)
    # stderr is read to its end: that waits for every process that holds it, an orphaned
    # worker included
    return subprocess.run(
        [sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("body", "args", "says"),
    [
        (UNJOINED, ["run"], "2 steps lead here (a, b), so it must be a join"),
        (UNKNOWN_STEP, ["run"], "self.next() names 'nowhere', which is not a step"),
        (NO_END, ["run"], "end"),
        (NEEDS_ALPHA, ["run"], "BadFlow needs parameter 'alpha': pass --alpha VALUE"),
        (NEEDS_ALPHA, ["resume"], "BadFlow has no run to resume"),
    ],
    ids=["unjoined", "unknown-step", "no-end", "missing-parameter", "nothing-to-resume"],
)
def test_a_flow_that_cannot_run_prints_one_line(tmp_path, body, args, says):
    done = run_flow(write_flow(tmp_path, body), *args, home=tmp_path / "home")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: BadFlow"), done.stderr
    assert says in lines[0]


class Unjoined(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.end)

    @step
    def b(self):
        self.next(self.end)

    @step
    def end(self):
        pass


def test_no_worker_starts_for_an_invalid_graph(shipyard_home, monkeypatch):
    started = []
    real = local._WorkerProcess.__init__

    def spy(self: local._WorkerProcess) -> None:
        started.append(self)
        real(self)

    monkeypatch.setattr(local._WorkerProcess, "__init__", spy)
    with pytest.raises(InvalidFlow, match="must be a join"):
        Unjoined.run()
    assert started == []
    assert psutil.Process().children() == []


def worker() -> subprocess.Popen[bytes]:
    env = {**os.environ, "SHIPYARD_WORKER_PATH": "[]", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "shipyard.flows.worker_main"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def exit_and_stderr(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    assert process.stderr is not None
    with process.stderr:
        said = process.stderr.read().decode()  # to its end: the worker has exited
    return process.wait(timeout=60), said


def test_a_worker_whose_runtime_goes_away_before_it_is_ready_exits_quietly():
    process = worker()
    assert process.stdin is not None and process.stdout is not None
    process.stdin.close()  # the runtime is gone: both ends of the channel closed
    process.stdout.close()
    assert exit_and_stderr(process) == (0, "")


def test_a_worker_told_half_a_task_exits_quietly():
    process = worker()
    assert process.stdin is not None
    # a frame header that promises 1,000 bytes, then the runtime goes away
    process.stdin.write((1000).to_bytes(8, "big") + b"\x80\x05")
    process.stdin.close()
    assert exit_and_stderr(process) == (0, "")
    process.stdout.close()


def test_a_ready_worker_interrupted_by_ctrl_c_exits_quietly():
    """Ctrl-C in the terminal reaches every process of the group, idle workers too."""
    from shipyard.flows.executors.frames import read_frame

    process = worker()
    assert process.stdout is not None and process.stdin is not None
    assert read_frame(process.stdout) == "ready"  # now waiting for its first task
    process.send_signal(signal.SIGINT)
    assert exit_and_stderr(process) == (130, "")
    process.stdin.close()
    process.stdout.close()
