"""Resource accounting: each task's wall, CPU, peak memory and GPU seconds, the flow run's
totals, `shipyard flows show` per step and `shipyard usage` rolled up."""

from __future__ import annotations

import json
import sys

import pytest

from shipyard.flows import usage
from shipyard.flows.executors import InProcessExecutor, LocalExecutor
from shipyard.tracking import Client
from tests.cli.conftest import cli  # noqa: F401 - the in-process `shipyard` fixture
from tests.flows.examples.busy_flow import BusyFlow, ChildFlow
from tests.flows.examples.failing_flow import FailingFlow
from tests.flows.examples.hello_flow import HelloFlow


def _tasks(client: Client, run) -> dict[str, dict[str, float]]:
    return {step.id: client.get_run(step.task.id).metrics for step in run}


@pytest.fixture
def busy(shipyard_client):
    with LocalExecutor(max_workers=1) as executor:  # a worker process, reused by each task
        return BusyFlow.run(executor=executor)


def test_a_task_records_its_cpu_wall_and_peak_memory(shipyard_client, busy):
    tasks = _tasks(shipyard_client, busy)
    burn, start = tasks["burn"], tasks["start"]
    assert burn[usage.CPU] >= 0.25  # the busy loop's 0.3 s, measured in the worker
    assert burn[usage.WALL] + 0.02 >= burn[usage.CPU]  # one thread: no more CPU than wall
    assert burn[usage.PEAK_MEMORY] >= 100
    # the 100 MB the step held, over what the same worker held for the step before it
    assert burn[usage.PEAK_MEMORY] - start[usage.PEAK_MEMORY] >= 90
    assert start[usage.CPU] < 0.2 and usage.GPU not in burn


def test_the_flow_run_records_its_tasks_totals(shipyard_client, busy):
    tasks = _tasks(shipyard_client, busy)
    total = shipyard_client.get_run(busy.info.id).metrics
    assert total[usage.TASKS] == 3
    assert total[usage.CPU] == pytest.approx(sum(t[usage.CPU] for t in tasks.values()))
    assert total[usage.PEAK_MEMORY] == max(t[usage.PEAK_MEMORY] for t in tasks.values())
    # wall: the flow run's own duration, here longer than its tasks' (run one at a time)
    assert total[usage.WALL] >= sum(t[usage.WALL] for t in tasks.values())
    assert usage.GPU not in total


@pytest.mark.skipif(sys.platform != "linux", reason="children's CPU is counted on Linux")
def test_the_cpu_of_a_child_process_the_step_waited_for_counts(shipyard_client):
    with LocalExecutor(max_workers=1) as executor:
        run = ChildFlow.run(executor=executor)
    assert _tasks(shipyard_client, run)["start"][usage.CPU] >= 0.25


def test_a_failed_flow_run_records_what_its_tasks_used(shipyard_client):
    with pytest.raises(Exception, match="division by zero"):
        FailingFlow.run(executor=InProcessExecutor())
    (run,) = shipyard_client.search_runs(None, "kind = 'flow'")
    assert run.status == "FAILED"
    assert run.metrics[usage.TASKS] == 2  # start, and divide that failed
    (divide,) = shipyard_client.search_runs(None, "kind = 'task' and name = 'divide'")
    assert divide.status == "FAILED" and divide.metrics[usage.WALL] > 0


def test_flows_show_lists_usage_per_step(cli, busy):  # noqa: F811
    code, out, _ = cli("flows", "show", "BusyFlow/1", "--json")
    assert code == 0
    shown = json.loads(out)
    steps = {s["step"]: s for s in shown["steps"]}
    assert steps["burn"]["usage"]["cpu_seconds"] >= 0.25
    assert steps["burn"]["usage"]["peak_memory_mb"] >= 100
    assert steps["burn"]["usage"] == {**steps["burn"]["tasks"][0]["usage"], "tasks": 1}
    assert shown["usage"]["tasks"] == 3
    assert shown["usage"]["cpu_seconds"] == pytest.approx(
        sum(s["usage"]["cpu_seconds"] for s in shown["steps"])
    )
    code, out, _ = cli("flows", "show", "BusyFlow/1")
    assert code == 0 and "CPU s" in out and "peak MB" in out and "GPU s" not in out
    assert any(line.split()[:2] == ["run", "3"] for line in out.splitlines())


def test_usage_rolls_up_flow_runs_by_flow_user_and_project(cli, shipyard_client):  # noqa: F811
    for _ in range(2):
        HelloFlow.run(executor=InProcessExecutor())
    BusyFlow.run(executor=InProcessExecutor())
    runs = shipyard_client.search_runs(None, "kind = 'flow'")
    hello = [r.metrics for r in runs if r.name.startswith("HelloFlow/")]
    code, out, _ = cli("usage", "--by", "flow", "--json")
    assert code == 0
    rows = {row["flow"]: row for row in json.loads(out)}
    assert sorted(rows) == ["BusyFlow", "HelloFlow"]
    assert rows["HelloFlow"]["runs"] == 2 and rows["HelloFlow"]["tasks"] == 6
    assert rows["HelloFlow"]["cpu_seconds"] == pytest.approx(sum(m[usage.CPU] for m in hello))
    assert rows["HelloFlow"]["wall_seconds"] == pytest.approx(sum(m[usage.WALL] for m in hello))
    assert rows["BusyFlow"]["cpu_seconds"] >= 0.25 and rows["BusyFlow"]["gpu_seconds"] == 0
    code, out, _ = cli("usage", "--by", "user", "--since", "30d", "--json")
    (mine,) = json.loads(out)
    assert code == 0 and mine["user"] == runs[0].user
    assert mine["runs"] == 3 and mine["tasks"] == 9
    assert mine["cpu_seconds"] == pytest.approx(sum(r.metrics[usage.CPU] for r in runs))
    assert mine["peak_memory_mb"] == max(r.metrics[usage.PEAK_MEMORY] for r in runs)
    code, out, _ = cli("usage", "--by", "project")
    assert code == 0 and "HelloFlow" in out and "all" in out and "CPU h" in out


def test_usage_since_leaves_older_runs_out_and_names_bad_input(cli, shipyard_client):  # noqa: F811
    HelloFlow.run(executor=InProcessExecutor())
    code, out, _ = cli("usage", "--since", "2999-01-01", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = cli("usage", "--since", "2999-01-01")
    assert code == 0 and "no ended flow runs since 2999-01-01" in out
    code, _, err = cli("usage", "--since", "lately")
    assert code == 1 and "--since 'lately' is neither a duration" in err


def test_a_gpu_task_records_gpu_seconds(shipyard_client, monkeypatch):
    from tests.flows.examples.gpu_flow import GpuFlow

    monkeypatch.setenv("SHIPYARD_GPUS", "3,5")  # fake devices: one per task
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with LocalExecutor(max_workers=2) as executor:
        run = GpuFlow.run(executor=executor)
    trains = [shipyard_client.get_run(t.id).metrics for t in run["train"]]
    assert len(trains) == 4
    for task in trains:
        assert task[usage.GPU] == pytest.approx(task[usage.WALL] * 1) and task[usage.WALL] >= 0.3
    other = shipyard_client.get_run(run["join"].task.id).metrics
    assert usage.GPU not in other
    total = shipyard_client.get_run(run.info.id).metrics
    assert total[usage.GPU] == pytest.approx(sum(t[usage.GPU] for t in trains))


def test_gpus_held_counts_devices_else_the_request():
    assert usage.gpus_held(0, {"CUDA_VISIBLE_DEVICES": "0"}) == 0
    assert usage.gpus_held(1, {"CUDA_VISIBLE_DEVICES": "3,5"}) == 2
    assert usage.gpus_held(0.5, {}) == 0.5  # Ray: a share of a device


def test_the_meter_samples_while_a_task_runs_and_its_thread_ends_when_idle(monkeypatch):
    import threading
    import time

    import psutil

    monkeypatch.setattr(usage, "_IDLE_SECONDS", 0.05)
    before = psutil.Process().memory_info().rss / 2**20
    with usage.Meter() as meter:
        held = b"x" * (50 * 2**20)
        time.sleep(0.2)  # a few samples while it is held
        del held
    assert meter.usage()[usage.PEAK_MEMORY] - before >= 45  # seen by the sampling thread
    deadline = time.monotonic() + 10
    while any(t.name == "shipyard-meter" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the sampling thread outlived its tasks"
        time.sleep(0.01)
