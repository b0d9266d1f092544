"""Tasks as Ray tasks: the same worker entry (``run_task``) on a Ray cluster.

Each task is one remote call. ``@resources(cpu, memory, gpu)`` become ``num_cpus``,
``memory`` (bytes; declared in MB) and ``num_gpus``: Ray queues a task until a node has
them free, and gives a GPU task ``CUDA_VISIBLE_DEVICES`` with its own devices. Ray's own
retries are off: ``@retry`` and ``@catch`` work as locally, driven by the runtime and the
worker. ``@timeout`` counts from when the task starts on its Ray worker (not while Ray
queues it): past it, the worker ends the task's run KILLED and kills its own process, as
the local executor kills its worker. A task opens its own store client from the URIs its TaskSpec
names (the blob store must be reachable from every node: a local folder on a single-node
cluster, an object-store URL across nodes) and captures its output into the run's logs.

Workers must be able to import ``shipyard`` (installed on every node, or on the
``PYTHONPATH`` of the process that started Ray); the flow class travels by value.

``ray`` is the ``ray`` extra: the executor registry (``executors.EXECUTORS``) turns its
absence into a one-line message naming ``pip install 'shipyard[ray]'``.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
import warnings
from concurrent.futures import Future
from typing import Any

import ray as _ray

from shipyard._ray import connect as _connect
from shipyard.errors import InvalidArgument, InvalidFlow, TaskFailed
from shipyard.flows.executors.base import Executor
from shipyard.flows.worker import TaskResult, TaskSpec, client_for, flow_pickle, run_task
from shipyard.store import RunStatus

ray: Any = _ray  # partly typed (ray.nodes() is not): used untyped, in this module only
MB = 2**20


def ray_task(spec: TaskSpec, flow: bytes, path: list[str], env: dict[str, str]) -> TaskResult:
    """In a Ray worker: the runner's import path and SHIPYARD_* settings, then the task
    (under its @timeout's watchdog)."""
    sys.path.extend(p for p in path if p not in sys.path)
    for key in [k for k in os.environ if k.startswith("SHIPYARD_") and k not in env]:
        del os.environ[key]
    os.environ.update(env)
    if not spec.timeout:
        return run_task(dataclasses.replace(spec, flow_pickle=flow))
    watchdog = _Watchdog(spec)
    try:
        return run_task(dataclasses.replace(spec, flow_pickle=flow))
    finally:
        watchdog.stop()


class _Watchdog:
    """@timeout on Ray, counted from when the task starts (not while Ray queues it): past
    it, the task's run is ended KILLED with the timeout as its error, then the worker
    process kills itself, as the local executor kills a worker that times out."""

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec
        self._lock = threading.Lock()
        self._done = False
        self._timer = threading.Timer(spec.timeout or 0.0, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def stop(self) -> None:
        with self._lock:
            self._done = True
            self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:  # held until the process dies: the task cannot report meanwhile
            if self._done:
                return
            try:
                _record_timeout(self.spec)
            finally:
                os.kill(os.getpid(), signal.SIGKILL)


def _record_timeout(spec: TaskSpec) -> None:
    """End this attempt's task run KILLED, with the timeout as its error."""
    client = client_for(spec.uri, spec.artifact_uri)
    for task in client.store.flows.tasks(spec.flow_run_id, spec.step):
        if (task.foreach_path, task.attempt) == (spec.foreach_path, spec.attempt) and (
            task.status is RunStatus.RUNNING
        ):
            client.store.flows.finish_task(task.run_id, None, None, timeout_message(spec))
            client.end_run(task.run_id, RunStatus.KILLED)


def timeout_message(spec: TaskSpec) -> str:
    return f"timed out after {spec.timeout:g} s (@timeout); the task was stopped"


class RayExecutor(Executor):
    """Runs tasks on the Ray cluster at ``address`` (``host:6379``, ``ray://host:10001``;
    None: the ``ray_address`` setting, else a local Ray, started if none is running). A
    Ray already initialised in this process is used as it is.

    ``max_workers`` bounds the tasks in flight (default: twice the cluster's CPUs); Ray
    queues each until its resources are free. ``shutdown`` disconnects only what this
    executor connected, and stops only a local Ray that it started.
    """

    places_by_resources = True

    def __init__(self, max_workers: int | None = None, *, address: str | None = None) -> None:
        self._connected = False
        # a cluster at an address may grow (an autoscaler, KubeRay): requests go to Ray as
        # they are; a local Ray (or the process's own) is as big as its nodes are now
        self._elastic = False
        if not ray.is_initialized():
            if address is None:
                from shipyard.config import load_settings

                address = load_settings().ray_address or None
            _connect(address)
            self._connected = True
            self._elastic = bool(address)
        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        self._largest = {
            key: max((float(r.get(key, 0)) for r in nodes), default=0.0)
            for key in ("CPU", "memory", "GPU")
        }
        cpus = sum(float(r.get("CPU", 0)) for r in nodes)
        workers = max_workers if max_workers is not None else max(2, int(cpus) * 2)
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise InvalidArgument(f"max_workers must be a positive integer, got {workers!r}")
        self.max_workers = workers
        self._remote = ray.remote(ray_task)
        self._flows: dict[str, Any] = {}  # flow key -> ObjectRef of the pickled class
        self._path = [p for p in sys.path if p]
        self._warned: set[tuple[str, str]] = set()

    def submit(self, spec: TaskSpec) -> Future[TaskResult]:
        options = self._options(spec)
        if spec.flow_key not in self._flows:
            self._flows[spec.flow_key] = ray.put(flow_pickle(spec.flow_key))
        env = {k: v for k, v in os.environ.items() if k.startswith("SHIPYARD_")}
        ref = self._remote.options(**options).remote(
            dataclasses.replace(spec, flow_pickle=b""), self._flows[spec.flow_key], self._path, env
        )
        future: Future[TaskResult] = Future()
        future.set_running_or_notify_cancel()
        ref.future().add_done_callback(lambda done: _resolve(spec, done, future))
        return future

    def _options(self, spec: TaskSpec) -> dict[str, Any]:
        """Ray's resource requests for the step's @resources. On a Ray of fixed size, a
        CPU or memory request larger than any node is cut to the largest node (it runs
        alone there, as on the local executor) and a GPU request no node can meet fails
        at once; on a cluster at an address they go to Ray as they are (an autoscaler
        may add a node that meets them)."""
        options: dict[str, Any] = {"max_retries": 0}
        where = f"{spec.flow_name}.{spec.step}"
        if self._elastic:
            requests = {"num_cpus": spec.cpu, "num_gpus": spec.gpu or None}
            if spec.memory_mb:
                requests["memory"] = int(spec.memory_mb * MB)
            return {**options, **{k: v for k, v in requests.items() if v is not None}}
        if spec.cpu is not None:
            options["num_cpus"] = self._fit(where, "CPU", spec.cpu, "cpu")
        if spec.memory_mb:
            options["memory"] = int(self._fit(where, "memory", spec.memory_mb * MB, "memory"))
        if spec.gpu:
            if spec.gpu > self._largest["GPU"]:
                raise InvalidFlow(
                    f"{where} asks for @resources(gpu={spec.gpu:g}) but no node of the Ray "
                    f"cluster has that many GPUs (the most on one node: "
                    f"{self._largest['GPU']:g})"
                )
            options["num_gpus"] = spec.gpu
        return options

    def _fit(self, where: str, key: str, wanted: float, name: str) -> float:
        largest = self._largest[key]
        if wanted <= largest or largest <= 0:
            return wanted
        if (where, key) not in self._warned:
            self._warned.add((where, key))
            shown = f"{wanted / MB:,.0f} MB" if key == "memory" else f"{wanted:g}"
            warnings.warn(
                f"{where} asks for @resources({name}={shown}) but the largest node of the "
                "Ray cluster has less; its tasks will ask for the whole node",
                stacklevel=3,
            )
        return largest

    def shutdown(self, cancel_pending: bool = False) -> None:
        """Tasks in flight finish (the runtime waits for them); then disconnect if this
        executor connected. ``ray.shutdown`` stops a Ray only if this process started it:
        a cluster found at an address is left running."""
        if self._connected and ray.is_initialized():
            ray.shutdown()
            self._connected = False


def _resolve(spec: TaskSpec, done: Future[Any], future: Future[TaskResult]) -> None:
    """The task's result; a killed, cancelled or lost Ray task is a failed attempt
    (TaskFailed), as a local worker that died; an error of ``run_task`` itself (not of
    the step, which it records) is raised as it is."""
    where = f"{spec.flow_name}/{spec.run_number}/{spec.step}"
    try:
        future.set_result(done.result())
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause if isinstance(exc.cause, BaseException) else exc
        future.set_exception(cause)
    except BaseException as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        lost = f"the Ray task was lost while running ({type(exc).__name__}: {first})"
        try:
            reason = _settle(spec, lost)
        except Exception as problem:  # the future must resolve, whatever the store says
            reason = f"{lost}; its task run could not be ended ({problem})"
        future.set_exception(TaskFailed(f"{where}: {reason}"))


def _settle(spec: TaskSpec, lost: str) -> str:
    """Why this attempt's Ray task died: the timeout its watchdog recorded, if it did;
    else ``lost``, and its task run (left RUNNING) is ended KILLED with that error, since
    no process check can tell that a worker on another node is gone."""
    client = client_for(spec.uri, spec.artifact_uri)
    for task in client.store.flows.tasks(spec.flow_run_id, spec.step):
        if (task.foreach_path, task.attempt) != (spec.foreach_path, spec.attempt):
            continue
        if spec.timeout and task.error == timeout_message(spec):
            return task.error
        if task.status is RunStatus.RUNNING:
            client.store.flows.finish_task(task.run_id, None, None, lost)
            client.end_run(task.run_id, RunStatus.KILLED)
    return lost
