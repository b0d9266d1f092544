"""``current``: where the running step is, as in Metaflow: ``flow_name``, ``run_id`` (the
run number as text), ``step_name``, ``task_id``, ``retry_count``, ``pathspec``,
``username``, ``parameter_names``, ``is_production``, and under @project
``project_name``, ``branch_name``, ``project_flow_name``."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import InvalidFlow


@dataclass(frozen=True)
class TaskContext:
    flow_name: str
    run_id: str  # the run's number within its flow, as text ("12")
    step_name: str
    task_id: str
    retry_count: int = 0
    origin_run_id: str | None = None
    tags: frozenset[str] = field(default_factory=frozenset)
    run_uuid: str = ""  # the tracking run id of the flow run
    username: str = ""
    parameters: tuple[str, ...] = ()  # the flow's parameters (attribute names)
    project_name: str | None = None  # with @project
    branch_name: str | None = None
    is_production: bool = False

    @property
    def parameter_names(self) -> list[str]:
        """The flow's parameters, as a list (Metaflow's type)."""
        return list(self.parameters)

    @property
    def project_flow_name(self) -> str | None:
        """``<project>.<branch>.<Flow>`` under @project, as in Metaflow."""
        if self.project_name is None:
            return None
        return f"{self.project_name}.{self.branch_name}.{self.flow_name}"

    @property
    def pathspec(self) -> str:
        return f"{self.flow_name}/{self.run_id}/{self.step_name}/{self.task_id}"


_context: ContextVar[TaskContext | None] = ContextVar("shipyard_current_task", default=None)


class Current:
    """Reads the running task's context; outside a task, every attribute is an error."""

    def __getattr__(self, name: str) -> Any:
        context = _context.get()
        if context is None:
            raise InvalidFlow(f"current.{name} is only available inside a running step")
        return getattr(context, name)

    @property
    def is_running_flow(self) -> bool:
        return _context.get() is not None

    @property
    def trigger(self) -> Any:
        """What started this run (``shipyard.flows.triggered.Trigger``: ``.event.name``,
        ``.event.payload``...), or None for a run started by hand."""
        from shipyard.flows.triggered import current_trigger

        return current_trigger()


current = Current()
