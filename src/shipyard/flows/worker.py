"""One task, run inside a worker process: bind the flow to its parents' artifacts, run the
step with its output captured, store what it assigned, and record it all on the task's run.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

from shipyard._clock import now_millis
from shipyard.errors import InvalidFlow
from shipyard.flows.artifacts import ArtifactRef, ArtifactStore, Inputs, TaskView
from shipyard.flows.current import TaskContext, _context
from shipyard.flows.usage import Meter, gpus_held
from shipyard.store import ArtifactRecord, RunStatus
from shipyard.store.base import TaskRecord
from shipyard.tracking import Client, use_run

DATA_PREFIX = "data/"  # a task's artifacts are the artifacts of its run under data/


@dataclass(frozen=True)
class ParentTask:
    step: str
    task_id: str
    refs: dict[str, ArtifactRef]


@dataclass(frozen=True)
class TaskSpec:
    """Everything a worker needs to run one task (picklable).

    The flow class travels by key: a worker forked from the runner after ``share_flow``
    has the class itself; any other worker gets it by value once (``flow_pickle``, which
    the executor fills in for a worker that has not seen the key yet)."""

    flow_key: str
    flow_name: str
    flow_run_id: str
    run_number: int
    step: str
    is_join: bool
    foreach_param: str | None
    foreach_path: str
    attempt: int
    inherited: dict[str, ArtifactRef]
    parents: tuple[ParentTask, ...]
    item: tuple[ArtifactRef, int] | None
    params: dict[str, Any]
    tags: tuple[str, ...]
    uri: str
    artifact_uri: str
    environment_hash: str | None = None  # the flow run's: workers need not scan packages
    last_attempt: bool = True
    timeout: float | None = None
    flow_pickle: bytes = b""  # the class by value (cloudpickle), for a worker without it
    # the step's @resources (None: not declared), for executors that place tasks by them
    cpu: float | None = None
    memory_mb: float | None = None
    gpu: float = 0
    env: dict[str, str] = field(default_factory=dict)  # set while the task runs (GPU ids)
    username: str = ""  # who runs the flow (current.username)
    parameter_names: tuple[str, ...] = ()
    project: tuple[str, str, bool] | None = None  # @project: (name, branch, production)


@dataclass(frozen=True)
class TaskResult:
    task_id: str
    step: str
    foreach_path: str
    ok: bool
    refs: dict[str, ArtifactRef] = field(default_factory=dict)
    foreach_count: int | None = None
    error: str | None = None
    traceback_tail: str = ""
    caught: str | None = None  # @catch handled this exception; the task counts as done
    cloned: bool = False  # reused from the run being resumed, not run again
    usage: dict[str, float] = field(default_factory=dict)  # what it used (flows.usage)


_clients: dict[tuple[str, str], Client] = {}
_classes: dict[str, type] = {}  # the flow classes this process can run, by key
_keys: dict[type, str] = {}
_pickles: dict[str, bytes] = {}


def share_flow(flow_cls: type) -> str:
    """The key tasks name ``flow_cls`` by. In this process, and in workers forked from it
    afterwards, the key finds the class itself; other workers get it by value."""
    if flow_cls not in _keys:
        key = f"{flow_cls.__module__}.{flow_cls.__qualname__}#{len(_keys) + 1}"
        _keys[flow_cls] = key
        _classes[key] = flow_cls
    return _keys[flow_cls]


def flow_pickle(key: str) -> bytes:
    """A shared flow class by value (cloudpickle, loaded only when a worker needs it):
    classes defined in ``__main__`` or a notebook cell travel with their code."""
    if key not in _pickles:
        import cloudpickle

        _pickles[key] = cloudpickle.dumps(_classes[key])
    return _pickles[key]


def client_for(uri: str, artifact_uri: str) -> Client:
    """One client per store in a worker, reused by every task it runs."""
    key = (uri, artifact_uri)
    if key not in _clients:
        _clients[key] = Client(uri=uri, artifact_uri=artifact_uri)
    return _clients[key]


def _flow_class(spec: TaskSpec) -> type:
    if spec.flow_key not in _classes:
        if not spec.flow_pickle:  # a bug of the executor, not of the flow
            raise RuntimeError(f"this worker was not given the flow class {spec.flow_key}")
        _classes[spec.flow_key] = pickle.loads(spec.flow_pickle)
    return _classes[spec.flow_key]


def run_task(spec: TaskSpec) -> TaskResult:
    client = client_for(spec.uri, spec.artifact_uri)
    task_id = start_task(
        client,
        spec.flow_name,
        spec.flow_run_id,
        spec.step,
        spec.foreach_path,
        spec.attempt,
        [p.task_id for p in spec.parents],
        {},
        spec.environment_hash,
        project=spec.project[0] if spec.project else None,
    )
    context = TaskContext(
        spec.flow_name,
        str(spec.run_number),
        spec.step,
        task_id,
        spec.attempt,
        tags=frozenset(spec.tags),
        run_uuid=spec.flow_run_id,
        username=spec.username,
        parameters=spec.parameter_names,
        project_name=spec.project[0] if spec.project else None,
        branch_name=spec.project[1] if spec.project else None,
        is_production=bool(spec.project and spec.project[2]),
    )
    out, err = io.StringIO(), io.StringIO()
    token = _context.set(context)
    try:
        with Meter() as meter:
            result = _measured(spec, client, task_id, context.pathspec, out, err)
    finally:
        _context.reset(token)
    usage = meter.usage(gpus_held(spec.gpu, spec.env))
    client.log_metrics(task_id, usage)  # written with the task's end (end_run flushes)
    result = dataclasses.replace(result, usage=usage)
    stdout_hash = client.blobs.put_bytes(out.getvalue().encode()).hash if out.getvalue() else None
    stderr_hash = client.blobs.put_bytes(err.getvalue().encode()).hash if err.getvalue() else None
    client.store.flows.finish_task(task_id, stdout_hash, stderr_hash, result.error or result.caught)
    client.end_run(task_id, RunStatus.FINISHED if result.ok else RunStatus.FAILED)
    return result


def _measured(
    spec: TaskSpec, client: Client, task_id: str, pathspec: str, out: io.StringIO, err: io.StringIO
) -> TaskResult:
    """The task's step with its output captured; a failure becomes a failed result."""
    try:
        with (
            redirect_stdout(out),
            redirect_stderr(err),
            use_run(client, task_id),
            _environ(spec.env),
        ):
            return _execute(spec, client, task_id, pathspec)
    except BaseException as exc:  # the user's step failed: record it, report it
        tail = "".join(traceback.format_exception(exc)[-6:])
        err.write(traceback.format_exc())
        return TaskResult(
            task_id,
            spec.step,
            spec.foreach_path,
            False,
            error=f"{type(exc).__name__}: {exc}",
            traceback_tail=tail,
        )


@contextmanager
def _environ(env: dict[str, str]) -> Iterator[None]:
    """``env`` in ``os.environ`` while the task runs, then as it was (workers are reused)."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _execute(spec: TaskSpec, client: Client, task_id: str, pathspec: str) -> TaskResult:
    flow_cls = _flow_class(spec)
    store = ArtifactStore(client.blobs)
    flow = flow_cls(use_cli=False)
    item, index = None, None
    if spec.item is not None:
        ref, index = spec.item
        item = store.load(ref)[index]
    flow._bind(spec.inherited, store, item, index)
    for attr, value in spec.params.items():
        setattr(flow, attr, value)
    method = getattr(flow, spec.step)
    decorators = getattr(method, "decorators", [])
    caught = None
    for decorator in decorators:
        decorator.task_pre_step(flow)
    try:
        if spec.is_join:
            method(Inputs(TaskView(p.step, p.task_id, p.refs, store) for p in spec.parents))
        else:
            method()
    except Exception as exc:
        if not any(d.task_exception(flow, exc, spec.last_attempt) for d in decorators):
            raise
        caught = f"{type(exc).__name__}: {exc}"
    finally:
        for decorator in reversed(decorators):
            decorator.task_post_step(flow)
    if caught is None and spec.step != "end" and flow._transition is None:
        raise InvalidFlow(f"{pathspec}: the step returned without calling self.next()")
    count = None
    if spec.foreach_param is not None:
        values = getattr(flow, spec.foreach_param)
        if not hasattr(values, "__len__") or not hasattr(values, "__getitem__"):
            raise InvalidFlow(
                f"{pathspec}: foreach needs self.{spec.foreach_param} to be a "
                f"list or another sequence, not {type(values).__name__}"
            )
        count = len(values)
        if count == 0:
            raise InvalidFlow(f"{pathspec}: foreach over an empty self.{spec.foreach_param}")
    refs = flow._artifacts(pathspec)
    record_artifacts(client, task_id, refs)
    return TaskResult(task_id, spec.step, spec.foreach_path, True, refs, count, caught=caught)


def task_refs(client: Client, task_id: str) -> dict[str, ArtifactRef]:
    """A finished task's artifacts, from its run's ``data/`` artifact records."""
    return {
        record.path[len(DATA_PREFIX) :]: ArtifactRef(
            record.path[len(DATA_PREFIX) :], record.blob_hash, record.serializer, record.size
        )
        for record in client.list_artifacts(task_id, DATA_PREFIX)
    }


def start_task(
    client: Client,
    flow_name: str,
    flow_run_id: str,
    step: str,
    foreach_path: str,
    attempt: int,
    input_ids: list[str],
    tags: dict[str, str],
    environment_hash: str | None = None,
    project: str | None = None,
) -> str:
    """Record a RUNNING task: its own run (a child of the flow run) and its tasks row, in
    the flow's project (its name, or @project's)."""
    task = client.create_run(
        project or flow_name,
        f"{step}{'/' + foreach_path if foreach_path else ''}",
        parent_id=flow_run_id,
        kind="task",
        capture_code=False,
        environment_hash=environment_hash,
        tags={"step": step, "attempt": attempt, **tags},
    )
    client.store.flows.add_task(TaskRecord(
        task.id, flow_run_id, step, foreach_path, attempt, input_ids,
        None, None, None, RunStatus.RUNNING, 0, None,
    ))  # fmt: skip
    return task.id


def record_artifacts(client: Client, task_id: str, refs: dict[str, ArtifactRef]) -> None:
    """A task's artifacts, as ``data/<name>`` artifacts of its run."""
    client.store.add_artifacts([
        ArtifactRecord(run_id=task_id, path=DATA_PREFIX + name, blob_hash=ref.blob_hash,
                       size=ref.size, serializer=ref.serializer, created_ms=now_millis())
        for name, ref in refs.items()
    ])  # fmt: skip
