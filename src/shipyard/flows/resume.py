"""Resuming a flow run: a new run that reuses the origin's finished tasks.

A task is cloned (its record copied, its artifacts shared by hash, nothing re-run) when
the origin run finished the same step at the same foreach position and every one of its
inputs was itself cloned; anything downstream of a task that runs again runs again too.
``step`` forces that step and everything after it to run again.
"""

from __future__ import annotations

from typing import Any

from shipyard.errors import Conflict, InvalidFlow
from shipyard.flows.artifacts import ArtifactRef, ArtifactStore
from shipyard.flows.graph import FlowGraph
from shipyard.flows.worker import TaskResult, record_artifacts, start_task, task_refs
from shipyard.store import RunStatus
from shipyard.store.base import FlowRunRecord, TaskRecord
from shipyard.tracking import Client


class Origin:
    def __init__(
        self, client: Client, record: FlowRunRecord, graph: FlowGraph, step: str | None = None
    ) -> None:
        self.client = client
        self.record = record
        # a runner killed with SIGKILL left its run RUNNING
        client.reap_dead_runs(if_allowed=True)
        if client.get_run(record.run_id).status is RunStatus.RUNNING:
            raise Conflict(
                f"{record.flow_name}/{record.number} is still running; "
                "resume it when it has stopped"
            )
        if step is not None and step not in graph.nodes:
            raise InvalidFlow(
                f"cannot resume from '{step}': {record.flow_name} has no such "
                f"step (steps: {', '.join(graph.nodes)})"
            )
        self.rerun = graph.descendants(step) if step else set()
        self.finished: dict[tuple[str, str], TaskRecord] = {
            (t.step, t.foreach_path): t
            for t in client.store.flows.tasks(record.run_id)
            if t.status is RunStatus.FINISHED
        }
        self.store = ArtifactStore(client.blobs)

    def refs(self, task: TaskRecord) -> dict[str, ArtifactRef]:
        return task_refs(self.client, task.run_id)

    def parameters(self, attrs: list[str]) -> dict[str, Any]:
        """The origin's parameter values, read from its start task's artifacts."""
        start = self.finished.get(("start", ""))
        if start is None:
            raise InvalidFlow(
                f"{self.record.flow_name}/{self.record.number} never finished "
                "its start step: start a new run instead of resuming"
            )
        refs = self.refs(start)
        return {attr: self.store.load(refs[attr]) for attr in attrs if attr in refs}

    def clone(
        self,
        step: str,
        foreach_path: str,
        parents: list[TaskResult],
        foreach_param: str | None,
        flow_run_id: str,
    ) -> TaskResult | None:
        """The origin's result for this task, recorded in the new run; None to run it."""
        task = self.finished.get((step, foreach_path))
        if task is None or step in self.rerun or not all(p.cloned for p in parents):
            return None
        refs = self.refs(task)
        clone_id = start_task(
            self.client,
            self.record.flow_name,
            flow_run_id,
            step,
            foreach_path,
            0,
            [p.task_id for p in parents],
            {"cloned_from": task.run_id},
            project=self.client.get_run(flow_run_id).project,
        )
        record_artifacts(self.client, clone_id, refs)
        self.client.store.flows.finish_task(clone_id, task.stdout_hash, task.stderr_hash, None)
        self.client.end_run(clone_id, RunStatus.FINISHED)
        count = len(self.store.load(refs[foreach_param])) if foreach_param else None
        return TaskResult(clone_id, step, foreach_path, True, refs, count, cloned=True)
