"""The executor interface: submit a task, get a future of its result."""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import Future

from shipyard.flows.worker import TaskResult, TaskSpec


class Executor(ABC):
    max_workers: int  # tasks in flight at once
    # True: the executor queues each task until its @resources are free (Ray); False:
    # the runtime admits tasks only while their requests fit this machine
    places_by_resources: bool = False

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
