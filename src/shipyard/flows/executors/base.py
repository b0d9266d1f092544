"""The executor interface: submit a task, get a future of its result."""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import Future

from shipyard.flows.worker import TaskResult, TaskSpec


class Executor(ABC):
    max_workers: int

    @abstractmethod
    def submit(self, spec: TaskSpec) -> Future[TaskResult]:
        """Start the task (or queue it); the future resolves to its result."""

    @abstractmethod
    def shutdown(self, cancel_pending: bool = False) -> None:
        """Stop accepting tasks; wait for running ones."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(cancel_pending=exc[0] is not None)
