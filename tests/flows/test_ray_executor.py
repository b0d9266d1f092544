"""The Ray executor: the same flows, artifacts and client view as on the local executor;
@retry, @catch and @timeout as locally; resume after the driver is killed; and the
one-line message when Ray is not installed.

One local Ray (2 CPUs, no dashboard) serves the whole module. ``ray`` tests skip without
Ray, except with SHIPYARD_TEST_RAY=1 (CI), where such a skip fails the run.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import shipyard
from shipyard.errors import InvalidFlow, MissingExtra, TaskFailed
from shipyard.flows import CaughtException, Flow
from shipyard.flows.executors import LocalExecutor
from tests.flows.examples.decorated_flow import DecoratedFlow
from tests.flows.examples.wide_flow import WideFlow

ROOT = Path(__file__).parents[2]
WIDE = Path(__file__).parent / "examples" / "wide_flow.py"


@pytest.fixture(scope="module")
def ray_address(local_ray: Any) -> str:
    """The module's local Ray's address, for runners in subprocesses."""
    return str(local_ray.get_runtime_context().gcs_address)


@pytest.fixture
def on_ray(ray_address: str) -> Iterator[Any]:
    from shipyard.flows.executors.ray import RayExecutor

    with RayExecutor() as executor:  # the module's Ray, already initialised here
        yield executor


def _artifacts(run: Any) -> dict[tuple[str, str], dict[str, str]]:
    """Every task's artifacts by (step, foreach index): name -> blob hash."""
    client = shipyard.Client()
    return {
        (task.step, task.index): {a.path: a.blob_hash for a in client.list_artifacts(task.id)}
        for step in run
        for task in step
    }


def _view(run: Any) -> list[tuple[Any, ...]]:
    """What the client shows of a run, minus its ids: steps, tasks, statuses, output."""
    return [
        (step.name, task.index, task.successful, task.error, task.stdout, task.stderr)
        for step in run
        for task in sorted(step, key=lambda t: int(t.index or 0))
    ]


@pytest.mark.ray
@pytest.mark.slow
def test_a_200_task_foreach_on_ray_matches_the_local_executor(shipyard_home, on_ray):
    with LocalExecutor(max_workers=2) as local:
        here = WideFlow.run(executor=local)
    there = WideFlow.run(executor=on_ray)
    assert there.successful and there.finished and there.data.total == here.data.total
    assert len(there["work"].tasks()) == 200
    assert _artifacts(there) == _artifacts(here)
    assert _view(there) == _view(here)
    assert there["work"].tasks()[0].stdout.startswith("item ")  # logs came back
    # steps iterate newest first, as Metaflow's client does
    assert [s.name for s in Flow("WideFlow").latest_run] == ["end", "join", "work", "start"]


@pytest.mark.ray
@pytest.mark.ray
def test_tasks_on_ray_record_their_usage(shipyard_home, on_ray):
    from shipyard.flows import usage
    from tests.flows.examples.busy_flow import BusyFlow

    run = BusyFlow.run(executor=on_ray)
    client = shipyard.Client()
    burn = client.get_run(run["burn"].task.id).metrics  # measured in the Ray worker
    assert burn[usage.CPU] >= 0.25 and burn[usage.PEAK_MEMORY] >= 100
    assert burn[usage.WALL] + 0.02 >= burn[usage.CPU]
    total = client.get_run(run.info.id).metrics
    assert total[usage.TASKS] == 3 and total[usage.CPU] >= burn[usage.CPU]


def test_resources_become_ray_requests(ray_address):
    from shipyard.flows.executors.ray import MB, RayExecutor
    from shipyard.flows.worker import TaskSpec

    def spec(**resources: Any) -> TaskSpec:
        return TaskSpec(
            "k", "F", "r", 1, "train", False, None, "", 0, {}, (), None, {}, (), "u", "a",
            **resources,
        )  # fmt: skip

    executor = RayExecutor()
    assert executor._options(spec()) == {"max_retries": 0}  # Ray's defaults: 1 CPU
    assert executor._options(spec(cpu=2.0, memory_mb=512.0)) == {
        "max_retries": 0,
        "num_cpus": 2.0,
        "memory": 512 * MB,
    }
    with pytest.warns(UserWarning, match=r"F.train asks for @resources\(cpu=64\).*largest"):
        assert executor._options(spec(cpu=64.0))["num_cpus"] == 2.0
    with pytest.raises(InvalidFlow, match=r"gpu=1\) but no node of the Ray cluster"):
        executor._options(spec(gpu=1.0))  # this cluster has none: fail, do not wait
    executor._elastic = True  # as when connected at an address: an autoscaler may grow it
    assert executor._options(spec(cpu=64.0, memory_mb=1.0, gpu=1.0)) == {
        "max_retries": 0,
        "num_cpus": 64.0,
        "memory": MB,
        "num_gpus": 1.0,
    }
    executor.shutdown()
    import ray

    assert ray.is_initialized()  # it did not start this Ray: it leaves it alone


@pytest.mark.ray
@pytest.mark.parametrize("where", ["local", "ray"])
def test_retry_catch_and_environment_behave_as_locally(shipyard_home, where, request):
    executor = request.getfixturevalue("on_ray") if where == "ray" else LocalExecutor(2)
    with pytest.warns(UserWarning, match=r"configured asks for @resources"):
        run = DecoratedFlow.run(executor=executor)
    if where == "local":
        executor.shutdown()
    assert run.successful
    # @retry: attempt 0 failed, attempt 1 succeeded; both recorded
    attempts = run["start"].attempts()  # tasks(): the latest attempt of each position
    assert sorted(shipyard.get_run(t.id).tags["attempt"] for t in attempts) == ["0", "1"]
    assert sorted(t.successful for t in attempts) == [False, True]
    assert run["start"].task.data.attempts_seen == 1
    assert "flaky on the first attempt" in next(t.stderr for t in attempts if not t.successful)
    # @catch: the exception is an artifact and the run went on
    problem = run["risky"].task.data.problem
    assert isinstance(problem, CaughtException) and problem.type == "IndexError"
    risky = run["risky"].task  # as Metaflow: finished, not successful, no exception left
    assert risky.finished and not risky.successful and risky.exception is None
    assert run["configured"].task.data.mode == "on"
    assert run.data.mode_after is None


@pytest.mark.ray
@pytest.mark.parametrize("where", ["local", "ray"])
def test_timeout_stops_the_task_as_locally(shipyard_home, where, request):
    executor = request.getfixturevalue("on_ray") if where == "ray" else LocalExecutor(2)
    started = time.monotonic()
    with pytest.warns(UserWarning), pytest.raises(TaskFailed, match=r"timed out after 1 s"):
        DecoratedFlow.run(executor=executor, sleep=30.0)
    if where == "local":
        executor.shutdown()
    assert time.monotonic() - started < 20
    run = Flow("DecoratedFlow").latest_run
    assert run.status is shipyard.RunStatus.FAILED
    assert run["slow"].task.status is shipyard.RunStatus.KILLED


@pytest.mark.ray
def test_a_worker_that_dies_fails_its_attempt_and_its_run_is_killed(shipyard_home, on_ray):
    from tests.flows.examples.rough_flow import RoughFlow

    with pytest.raises(TaskFailed, match=r"RoughFlow/1/middle: the Ray task was lost"):
        RoughFlow.run(executor=on_ray, crash=True)
    failed = Flow("RoughFlow").latest_run
    assert failed.status is shipyard.RunStatus.FAILED
    middle = failed["middle"].task  # ended by the executor: no reaper needed
    assert middle.status is shipyard.RunStatus.KILLED and "lost" in middle.error
    assert RoughFlow.run(executor=on_ray).successful  # Ray replaced the worker


@pytest.mark.ray
def test_timeout_counts_from_the_start_of_the_task_not_the_queue(shipyard_home, ray_address):
    from shipyard.flows.executors.ray import RayExecutor
    from tests.flows.examples.queued_flow import QueuedFlow

    with RayExecutor(max_workers=6) as executor:  # 6 tasks of 0.8 s handed to 2 CPUs
        run = QueuedFlow.run(executor=executor)
    assert run.data.done == list(range(6))
    assert all(t.successful for t in run["work"])


@pytest.mark.ray
@pytest.mark.slow
def test_resume_on_ray_after_the_driver_is_killed(shipyard_home, ray_address):
    env = {**os.environ, "SHIPYARD_HOME": str(shipyard_home), "PYTHONPATH": _pythonpath()}
    ray_args = ["--executor", "ray", "--ray-address", ray_address]
    args = [sys.executable, str(WIDE), "run", *ray_args, "--width", "12", "--pause", "0.3"]
    log = (shipyard_home.parent / "runner.log").open("wb")
    with subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT) as runner:
        client = shipyard.Client()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # until some work tasks have finished
            done = client.search_runs(
                "WideFlow", "kind = 'task' and name like 'work%' and status = 'FINISHED'"
            )
            if len(done) >= 3 or runner.poll() is not None:
                break
            time.sleep(0.05)
        assert runner.poll() is None, log.name + ": " + Path(log.name).read_text()
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait(timeout=30)
    log.close()
    resumed = subprocess.run(
        [sys.executable, str(WIDE), "resume", *ray_args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    killed, done_run = Flow("WideFlow").runs()[1], Flow("WideFlow").latest_run
    assert killed.status is shipyard.RunStatus.KILLED
    assert done_run.successful and done_run.origin.number == killed.number
    assert done_run.data.total == sum(i * i for i in range(12))
    work = [shipyard.get_run(t.id).tags for t in done_run["work"]]
    assert 3 <= sum("cloned_from" in tags for tags in work) < 12  # finished ones reused
    import ray

    assert ray.cluster_resources()["CPU"] == 2  # the runners left the cluster running


@pytest.mark.ray
def test_an_unreachable_cluster_is_a_one_line_error(ray_address, monkeypatch):
    from shipyard.errors import InvalidArgument
    from shipyard.flows.executors import ray as ray_executor

    def refuse(**kwargs: Any) -> None:
        raise ConnectionError(f"Failed to connect to Ray cluster at {kwargs['address']}")

    monkeypatch.setattr(ray_executor.ray, "init", refuse)
    with pytest.raises(InvalidArgument, match=r"cannot connect to the Ray cluster at h:1 \(Failed"):
        ray_executor._connect("h:1")


def _pythonpath() -> str:
    return os.pathsep.join([str(ROOT), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])


def test_without_ray_the_message_names_the_extra(shipyard_home, monkeypatch):
    from shipyard.flows.executors import EXECUTORS

    monkeypatch.setitem(sys.modules, "ray", None)  # "import ray" raises ImportError
    monkeypatch.delitem(sys.modules, "shipyard.flows.executors.ray", raising=False)
    monkeypatch.setattr(EXECUTORS, "_loaded", {})
    with pytest.raises(MissingExtra) as caught:
        WideFlow.run(executor="ray", width=2)
    assert caught.value.message == (
        "The executor 'ray' needs the 'ray' package: pip install 'shipyard[ray]'"
    )


def test_the_flow_command_line_says_so_in_one_line(shipyard_home, tmp_path):
    blocker = tmp_path / "no_ray"
    blocker.mkdir()
    (blocker / "ray.py").write_text("raise ImportError('No module named ray')\n")
    env = {
        **os.environ,
        "SHIPYARD_HOME": str(shipyard_home),
        "SHIPYARD_EXECUTOR": "ray",  # the setting; --executor local would win over it
        "PYTHONPATH": os.pathsep.join([str(blocker), _pythonpath()]),
    }
    result = subprocess.run(
        [sys.executable, str(WIDE), "run", "--width", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr == (
        "error: The executor 'ray' needs the 'ray' package: pip install 'shipyard[ray]'\n"
    )
    local = subprocess.run(
        [sys.executable, str(WIDE), "run", "--width", "2", "--executor", "local"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert local.returncode == 0, local.stderr


def test_local_gpu_tasks_get_their_own_devices_and_wait(shipyard_home, monkeypatch):
    from tests.flows.examples.gpu_flow import GpuFlow

    monkeypatch.setenv("SHIPYARD_GPUS", "3,5")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with LocalExecutor(max_workers=4) as executor:
        run = GpuFlow.run(executor=executor)
    seen = [task.data.devices for task in run["train"]]
    assert all(len(d.split(",")) == 1 for d in seen) and set(seen) <= {"3", "5"}
    spans = sorted((t.data.began, t.data.ended, t.data.devices) for t in run["train"])
    for device in ("3", "5"):  # never two tasks on one device at once
        mine = [(b, e) for b, e, d in spans if d == device]
        assert all(e1 <= b2 for (_, e1), (b2, _) in itertools.pairwise(mine))
    assert run.data.outside is None  # only the GPU step saw the variable


def test_local_gpu_tasks_fail_at_once_when_the_machine_has_too_few(shipyard_home, monkeypatch):
    from tests.flows.examples.gpu_flow import GpuFlow

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # the runner was given no GPU
    with (
        LocalExecutor(max_workers=2) as executor,
        pytest.raises(InvalidFlow, match=r"GpuFlow.train asks for @resources\(gpu=1\) but "),
    ):
        GpuFlow.run(executor=executor)
