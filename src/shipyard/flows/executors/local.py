"""Local executors: a pool of reused worker processes, or the calling process itself."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor

from shipyard.errors import InvalidArgument
from shipyard.flows.executors.base import Executor
from shipyard.flows.worker import TaskResult, TaskSpec, run_task


class LocalExecutor(Executor):
    """Tasks run in parallel in up to ``max_workers`` worker processes, started once and
    reused for every task (no new interpreter per task). Workers are spawned, not forked,
    so they behave the same on Linux, macOS and Windows and inherit no threads."""

    def __init__(self, max_workers: int | None = None) -> None:
        workers = max_workers if max_workers is not None else (os.cpu_count() or 1)
        if not isinstance(workers, int) or workers < 1:
            raise InvalidArgument(f"max_workers must be a positive integer, got {workers!r}")
        self.max_workers = workers
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        )

    def submit(self, spec: TaskSpec) -> Future[TaskResult]:
        return self._pool.submit(run_task, spec)

    def shutdown(self, cancel_pending: bool = False) -> None:
        self._pool.shutdown(wait=True, cancel_futures=cancel_pending)


class InProcessExecutor(Executor):
    """Runs each task at once in the calling process: for debugging and fast tests."""

    max_workers = 1

    def submit(self, spec: TaskSpec) -> Future[TaskResult]:
        future: Future[TaskResult] = Future()
        try:
            future.set_result(run_task(spec))
        except BaseException as exc:  # a bug in the runtime itself, not the step
            future.set_exception(exc)
        return future

    def shutdown(self, cancel_pending: bool = False) -> None:
        return None
