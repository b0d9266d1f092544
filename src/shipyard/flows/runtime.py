"""The scheduler: walks the graph as tasks finish, fanning out and joining, in one process;
the tasks themselves run on an Executor.

A task's place is its step plus its foreach stack: one (foreach step, index, count) entry
per enclosing foreach. A join waits until all its inputs for the same enclosing stack are
done: every branch of a static split, or every item of a foreach.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from shipyard.errors import InvalidFlow, TaskFailed
from shipyard.flows.artifacts import ArtifactRef
from shipyard.flows.decorators import flow_decorators
from shipyard.flows.executors import Executor
from shipyard.flows.graph import FlowGraph
from shipyard.flows.parameters import resolve
from shipyard.flows.progress import Observer
from shipyard.flows.resume import Origin
from shipyard.flows.triggered import current_trigger
from shipyard.flows.usage import totals as usage_totals
from shipyard.flows.worker import ParentTask, TaskResult, TaskSpec, share_flow
from shipyard.store import RunStatus
from shipyard.tracking import Client, current_user

Stack = tuple[tuple[str, int, int], ...]  # (foreach step, index, count) per foreach level


def _path(stack: Stack) -> str:
    """A task's place among foreach siblings: "2", or "0/3" when nested."""
    return "/".join(str(index) for _, index, _ in stack)


@dataclass
class _Pending:
    step: str
    parents: list[TaskResult]
    stack: Stack
    item: tuple[ArtifactRef, int] | None = None
    attempt: int = 0


class FlowRunner:
    def __init__(
        self,
        flow_cls: type,
        client: Client,
        executor: Executor,
        tags: Sequence[str] = (),
        observer: Observer | None = None,
    ) -> None:
        self.flow_cls = flow_cls
        self.graph: FlowGraph = flow_cls.graph()  # type: ignore[attr-defined]
        self.client = client
        self.executor = executor
        self.tags = tuple(tags)
        self._flow_key = share_flow(flow_cls)
        self._cpus = float(os.cpu_count() or 1)
        self._warned: set[str] = set()
        self.observer = observer or Observer()

    def run(self, params: Mapping[str, Any] | None = None, origin: Origin | None = None) -> str:
        """Run the flow to the end; returns the flow run's id. Raises TaskFailed.

        With ``origin`` (a run to resume) its finished tasks are reused and its parameters
        apply; parameters cannot be given again.
        """
        name = self.flow_cls.__name__
        declared = self.flow_cls.parameters()  # type: ignore[attr-defined]
        if origin is not None:
            if params:
                raise InvalidFlow("a resumed run keeps the parameters of the run it resumes")
            by_attr = origin.parameters([p.attr for p in declared.values()])
            values = {p.name: by_attr.get(p.attr) for p in declared.values()}
        else:
            values = resolve(name, declared, dict(params or {}))
        self._origin = origin
        trigger = current_trigger()
        self._project = self._project_of(current_user())
        run = self.client.create_run(
            self._project[0] if self._project else name,
            f"{name}/pending",
            kind="flow",
            params={k: declared[k].describe(v) for k, v in values.items()},
            tags={
                **{t: "" for t in self.tags},
                **(trigger.tags() if trigger else {}),
                **(
                    {
                        "shipyard.project": self._project[0],
                        "shipyard.project_branch": self._project[1],
                    }
                    if self._project
                    else {}
                ),
            },
        )
        record = self.client.store.flows.create_flow_run(
            run.id, name, self._graph_json(), origin.record.run_id if origin else None
        )
        self.client.store.set_run_name(run.id, f"{name}/{record.number}")
        if trigger is not None:  # the scheduler's firing -> this run
            flow_run = f"{name}/{record.number}"
            self.client.store.events.update_firing(
                trigger.firing_id, run_id=run.id, flow_run=flow_run
            )
        self._run_id, self._number = run.id, record.number
        self._environment_hash = run.environment_hash
        self._username = run.user
        self._parameter_names = tuple(p.attr for p in declared.values())
        self._params = {declared[k].attr: v for k, v in values.items()}
        self._param_refs: dict[str, ArtifactRef] = {}
        self._usage: list[dict[str, float]] = []  # of each task attempt run (not reused)
        started = time.perf_counter()
        try:
            self._schedule()
        except BaseException as exc:
            status = RunStatus.KILLED if isinstance(exc, KeyboardInterrupt) else RunStatus.FAILED
            self._end(run.id, status, started)
            raise
        self._end(run.id, RunStatus.FINISHED, started)
        return run.id

    def _end(self, run_id: str, status: RunStatus, started: float) -> None:
        """End the flow run with its usage: its tasks' totals over its own wall time."""
        try:
            wall = time.perf_counter() - started
            self.client.log_metrics(run_id, usage_totals(self._usage, wall))
        finally:
            self.client.end_run(run_id, status)

    def _project_of(self, username: str) -> tuple[str, str, bool] | None:
        """@project's (name, branch, production), or None."""
        found = flow_decorators(self.flow_cls).get("project")
        if found is None:
            return None
        attributes = found.attributes
        return attributes["name"], found.branch_for(username), bool(attributes["production"])  # type: ignore[attr-defined]

    @property
    def pathspec(self) -> str:
        return f"{self.flow_cls.__name__}/{self._number}"

    def _schedule(self) -> None:
        running: dict[Future[TaskResult], _Pending] = {}
        waiting: dict[tuple[str, Stack], list[tuple[int, TaskResult]]] = {}
        ready = [_Pending("start", [], ())]
        delayed: list[tuple[float, _Pending]] = []  # (monotonic time due, retry)
        try:
            while ready or running or delayed:
                now = time.monotonic()
                ready += [p for due, p in delayed if due <= now]
                delayed = [(due, p) for due, p in delayed if due > now]
                finished = self._clones(ready)
                for pending in self._admissible(ready, running):
                    ready.remove(pending)
                    running[self.executor.submit(self._spec(pending))] = pending
                    self.observer.started(pending.step)
                if not finished:
                    next_due = min((due for due, _ in delayed), default=None)
                    if not running:
                        time.sleep(max(0.0, (next_due or now) - time.monotonic()))
                        continue
                    done, _ = wait(
                        running,
                        return_when=FIRST_COMPLETED,
                        timeout=None if next_due is None else max(0.0, next_due - now),
                    )
                    finished = [(running[f], self._result(f, running.pop(f))) for f in done]
                for pending, result in finished:
                    self.observer.finished(result)
                    if not result.cloned:
                        self._usage.append(result.usage)
                    if not result.ok:
                        delayed.append(self._retry(pending, result))
                        continue
                    if result.step == "start":  # parameters reach every task, joins too
                        self._param_refs = {a: result.refs[a] for a in self._params}
                    ready += self._successors(pending, result, waiting)
        except BaseException:
            for future in running:
                future.cancel()
            wait(running)
            raise

    def _clones(self, ready: list[_Pending]) -> list[tuple[_Pending, TaskResult]]:
        """Ready tasks the resumed run can take from its origin instead of running."""
        if self._origin is None:
            return []
        cloned = []
        for pending in list(ready):
            node = self.graph[pending.step]
            result = self._origin.clone(
                pending.step,
                _path(pending.stack),
                pending.parents,
                node.foreach_param,
                self._run_id,
            )
            if result is not None:
                ready.remove(pending)
                cloned.append((pending, result))
        return cloned

    def _result(self, future: Future[TaskResult], pending: _Pending) -> TaskResult:
        """A worker that died or timed out is a failed attempt like any other."""
        try:
            return future.result()
        except TaskFailed as exc:
            # its task run was left RUNNING: mark it KILLED
            self.client.reap_dead_runs(if_allowed=True)
            return TaskResult("?", pending.step, "", False, error=exc.message)

    def _retry(self, pending: _Pending, result: TaskResult) -> tuple[float, _Pending]:
        """The same task again at once, or TaskFailed when out of tries. As Metaflow's
        local runtime, this one ignores ``minutes_between_retries`` (the delay is for
        remote orchestrators): a flaky step is retried at once rather than seeming to hang."""
        retry = self.graph[pending.step].decorator("retry")
        if retry is None or pending.attempt >= retry.attributes["times"]:
            where = f"{self.pathspec}/{result.step}/{result.task_id}"
            raise TaskFailed(
                f"{where} failed: {result.error}\n{result.traceback_tail.rstrip()}".rstrip()
            )
        self.observer.retrying(pending.step, pending.attempt, result.error)
        again = _Pending(
            pending.step, pending.parents, pending.stack, pending.item, pending.attempt + 1
        )
        return time.monotonic(), again

    def _admissible(
        self, ready: list[_Pending], running: dict[Future[TaskResult], _Pending]
    ) -> list[_Pending]:
        """Ready tasks that may start now: at most max_workers in flight, and declared
        @resources within the machine's capacity (a request larger than the machine
        runs alone rather than never), unless the executor places tasks by their
        resources itself (Ray)."""
        chosen: list[_Pending] = []
        in_flight = list(running.values())
        for pending in ready:
            if len(in_flight) + len(chosen) >= self.executor.max_workers:
                break
            if self.executor.places_by_resources:
                chosen.append(pending)
                continue
            cpu, memory = self._request(pending.step)
            if (cpu or memory) and (in_flight or chosen):  # a request: does it fit now?
                taken = [self._request(p.step) for p in [*in_flight, *chosen]]
                if (
                    sum(c for c, _ in taken) + cpu > self._cpus
                    or sum(m for _, m in taken) + memory > self._memory_mb
                ):
                    continue
            chosen.append(pending)
        return chosen

    @cached_property
    def _memory_mb(self) -> float:
        import psutil  # only for flows that declare @resources

        return float(psutil.virtual_memory().total) / 2**20

    def _request(self, step: str) -> tuple[float, float]:
        resources = self.graph[step].decorator("resources")
        if resources is None:
            return 0.0, 0.0
        cpu = float(resources.attributes["cpu"])
        memory = float(resources.attributes["memory"] or 0)
        if (cpu > self._cpus or memory > self._memory_mb) and step not in self._warned:
            self._warned.add(step)
            warnings.warn(
                f"{self.flow_cls.__name__}.{step} asks for @resources(cpu={cpu:g}, "
                f"memory={memory:g}) but this machine has {self._cpus:g} CPUs and "
                f"{self._memory_mb:,.0f} MB; its tasks will run one at a time",
                stacklevel=2,
            )
        return min(cpu, self._cpus), min(memory, self._memory_mb)

    def _successors(
        self,
        pending: _Pending,
        result: TaskResult,
        waiting: dict[tuple[str, Stack], list[tuple[int, TaskResult]]],
    ) -> list[_Pending]:
        node = self.graph[pending.step]
        if node.type == "foreach":
            count = result.foreach_count or 0
            param_ref = result.refs[node.foreach_param or ""]
            child = node.out_funcs[0]
            return [
                _Pending(child, [result], (*pending.stack, (node.name, i, count)), (param_ref, i))
                for i in range(count)
            ]
        out = []
        for child in node.out_funcs:
            child_node = self.graph[child]
            if child_node.type != "join":
                out.append(_Pending(child, [result], pending.stack))
                continue
            opened = self.graph[child_node.split_parents[-1]]
            if opened.type == "foreach":  # closes the innermost foreach
                key_stack, (_, index, expected) = pending.stack[:-1], pending.stack[-1]
            else:  # closes a static split: one input per branch
                key_stack, expected = pending.stack, len(child_node.in_funcs)
                index = child_node.in_funcs.index(pending.step)
            arrived = waiting.setdefault((child, key_stack), [])
            arrived.append((index, result))
            if len(arrived) == expected:
                del waiting[(child, key_stack)]
                parents = [r for _, r in sorted(arrived, key=lambda pair: pair[0])]
                out.append(_Pending(child, parents, key_stack))
        return out

    def _spec(self, pending: _Pending) -> TaskSpec:
        node = self.graph[pending.step]
        parents = tuple(ParentTask(p.step, p.task_id, p.refs) for p in pending.parents)
        inherited = pending.parents[0].refs if pending.parents and node.type != "join" else {}
        inherited = {**self._param_refs, **inherited}
        return TaskSpec(
            flow_key=self._flow_key,
            flow_name=self.flow_cls.__name__,
            flow_run_id=self._run_id,
            run_number=self._number,
            step=pending.step,
            is_join=node.type == "join",
            foreach_param=node.foreach_param,
            foreach_path=_path(pending.stack),
            attempt=pending.attempt,
            last_attempt=self._last_attempt(pending),
            timeout=self._timeout(pending.step),
            inherited=dict(inherited),
            parents=parents,
            item=pending.item,
            params=self._params if pending.step == "start" else {},
            tags=self.tags,
            environment_hash=self._environment_hash,
            uri=self.client.settings.uri,
            artifact_uri=self.client.settings.artifact_uri,
            **self._resources(pending.step),
            username=self._username,
            parameter_names=self._parameter_names,
            project=self._project,
        )

    def _resources(self, step: str) -> dict[str, Any]:
        """The step's @resources as TaskSpec fields (memory in MB, as declared)."""
        resources = self.graph[step].decorator("resources")
        if resources is None:
            return {}
        memory = resources.attributes["memory"]
        return {
            "cpu": float(resources.attributes["cpu"]),
            "memory_mb": None if memory is None else float(memory),
            "gpu": float(resources.attributes["gpu"]),
        }

    def _last_attempt(self, pending: _Pending) -> bool:
        retry = self.graph[pending.step].decorator("retry")
        return retry is None or pending.attempt >= retry.attributes["times"]

    def _timeout(self, step: str) -> float | None:
        timeout = self.graph[step].decorator("timeout")
        return None if timeout is None else float(timeout.total_seconds)

    def _graph_json(self) -> str:
        return json.dumps(
            {
                n.name: {
                    "type": n.type,
                    "next": n.out_funcs,
                    "foreach": n.foreach_param,
                    "doc": n.doc,
                    "line": n.lineno,
                }
                for n in self.graph.sorted_nodes()
            }
        )
