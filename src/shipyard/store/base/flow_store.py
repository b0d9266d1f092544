"""Flow runs and their tasks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shipyard.store.base.tracking_store import RunStatus


@dataclass(frozen=True, slots=True)
class FlowRunRecord:
    run_id: str
    flow_name: str
    number: int
    origin_run_id: str | None
    graph: str


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A task of a flow run; its status and times live on its own run (kind "task")."""

    run_id: str
    flow_run_id: str
    step: str
    foreach_path: str
    attempt: int
    input_ids: list[str]
    stdout_hash: str | None
    stderr_hash: str | None
    error: str | None
    status: RunStatus
    start_ms: int
    end_ms: int | None


class FlowStore(Protocol):
    """Flow runs (numbered per flow) and their tasks, on top of the tracking tables."""

    def create_flow_run(
        self, run_id: str, flow_name: str, graph: str, origin_run_id: str | None = None
    ) -> FlowRunRecord: ...
    def get_flow_run(self, flow_name: str, number: int) -> FlowRunRecord: ...
    def flow_run_of(self, run_id: str) -> FlowRunRecord: ...
    def list_flow_runs(self, flow_name: str | None = None) -> list[FlowRunRecord]: ...
    def add_task(self, task: TaskRecord) -> None: ...
    def finish_task(
        self, run_id: str, stdout_hash: str | None, stderr_hash: str | None, error: str | None
    ) -> None: ...
    def tasks(self, flow_run_id: str, step: str | None = None) -> list[TaskRecord]: ...
