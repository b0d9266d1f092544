"""The scheduler: walks the graph as tasks finish, fanning out and joining, in one process;
the tasks themselves run on an Executor.

A task's place is its step plus its foreach stack: one (foreach step, index, count) entry
per enclosing foreach. A join waits until all its inputs for the same enclosing stack are
done: every branch of a static split, or every item of a foreach.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any

import cloudpickle

from shipyard.errors import TaskFailed
from shipyard.flows.artifacts import ArtifactRef
from shipyard.flows.executors import Executor
from shipyard.flows.graph import FlowGraph
from shipyard.flows.parameters import resolve
from shipyard.flows.worker import ParentTask, TaskResult, TaskSpec
from shipyard.store import RunStatus
from shipyard.tracking import Client

Stack = tuple[tuple[str, int, int], ...]  # (foreach step, index, count) per foreach level


@dataclass
class _Pending:
    step: str
    parents: list[TaskResult]
    stack: Stack
    item: tuple[ArtifactRef, int] | None = None


class FlowRunner:
    def __init__(
        self, flow_cls: type, client: Client, executor: Executor, tags: Sequence[str] = ()
    ) -> None:
        self.flow_cls = flow_cls
        self.graph: FlowGraph = flow_cls.graph()  # type: ignore[attr-defined]
        self.client = client
        self.executor = executor
        self.tags = tuple(tags)
        self._pickle = cloudpickle.dumps(flow_cls)

    def run(self, params: Mapping[str, Any] | None = None) -> str:
        """Run the flow to the end; returns the flow run's id. Raises TaskFailed."""
        name = self.flow_cls.__name__
        declared = self.flow_cls.parameters()  # type: ignore[attr-defined]
        values = resolve(name, declared, dict(params or {}))
        run = self.client.create_run(
            name,
            f"{name}/pending",
            kind="flow",
            params={k: json.dumps(v) if not isinstance(v, str) else v for k, v in values.items()},
            tags={t: "" for t in self.tags},
        )
        record = self.client.store.flows.create_flow_run(run.id, name, self._graph_json())
        self.client.store.set_run_name(run.id, f"{name}/{record.number}")
        self._run_id, self._number = run.id, record.number
        self._environment_hash = run.environment_hash
        self._params = {declared[k].attr: v for k, v in values.items()}
        self._param_refs: dict[str, ArtifactRef] = {}
        try:
            self._schedule()
        except BaseException as exc:
            status = RunStatus.KILLED if isinstance(exc, KeyboardInterrupt) else RunStatus.FAILED
            self.client.end_run(run.id, status)
            raise
        self.client.end_run(run.id, RunStatus.FINISHED)
        return run.id

    @property
    def pathspec(self) -> str:
        return f"{self.flow_cls.__name__}/{self._number}"

    def _schedule(self) -> None:
        running: dict[Future[TaskResult], _Pending] = {}
        waiting: dict[tuple[str, Stack], list[tuple[int, TaskResult]]] = {}
        ready = [_Pending("start", [], ())]
        try:
            while ready or running:
                for pending in ready:
                    running[self.executor.submit(self._spec(pending))] = pending
                ready = []
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    pending = running.pop(future)
                    result = future.result()
                    if not result.ok:
                        raise TaskFailed(
                            f"{self.pathspec}/{result.step}/{result.task_id} failed: "
                            f"{result.error}\n{result.traceback_tail.rstrip()}"
                        )
                    if result.step == "start":  # parameters reach every task, joins too
                        self._param_refs = {a: result.refs[a] for a in self._params}
                    ready += self._successors(pending, result, waiting)
        except BaseException:
            for future in running:
                future.cancel()
            wait(running)
            raise

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
            flow_pickle=self._pickle,
            flow_name=self.flow_cls.__name__,
            flow_run_id=self._run_id,
            run_number=self._number,
            step=pending.step,
            is_join=node.type == "join",
            foreach_param=node.foreach_param,
            foreach_path="/".join(str(index) for _, index, _ in pending.stack),
            attempt=0,
            inherited=dict(inherited),
            parents=parents,
            item=pending.item,
            params=self._params if pending.step == "start" else {},
            tags=self.tags,
            environment_hash=self._environment_hash,
            uri=self.client.settings.uri,
            artifact_uri=self.client.settings.artifact_uri,
        )

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
