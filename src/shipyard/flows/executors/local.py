"""Local executors: a pool of reused worker processes, or the calling process itself."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from concurrent.futures import Future

from shipyard.errors import InvalidArgument, TaskFailed
from shipyard.flows.executors.base import Executor
from shipyard.flows.executors.frames import read_frame, write_frame
from shipyard.flows.worker import TaskResult, TaskSpec, run_task

_STOP = None


class _WorkerProcess:
    """One long-lived ``python -m shipyard.flows.worker_main`` talking over pipes."""

    def __init__(self) -> None:
        env = {**os.environ, "SHIPYARD_WORKER_PATH": json.dumps([p for p in sys.path if p])}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "shipyard.flows.worker_main"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._ready = False
        self._timed_out = False

    def run(self, spec: TaskSpec) -> TaskResult:
        assert self.process.stdin is not None and self.process.stdout is not None
        if not self._ready:
            self._ready = read_frame(self.process.stdout) == "ready"
            if not self._ready:
                raise self._died(spec)
        write_frame(self.process.stdin, spec)
        timer = None
        if spec.timeout:
            timer = threading.Timer(spec.timeout, self._time_out)
            timer.start()
        try:
            result = read_frame(self.process.stdout)
        finally:
            if timer is not None:
                timer.cancel()
        if result is None:
            if self._timed_out:
                raise TaskFailed(
                    f"{spec.flow_name}/{spec.run_number}/{spec.step}: timed out "
                    f"after {spec.timeout:g} s (@timeout); the task was stopped"
                )
            raise self._died(spec)
        return result  # type: ignore[no-any-return]

    def _time_out(self) -> None:
        self._timed_out = True
        self.process.kill()

    def _died(self, spec: TaskSpec) -> TaskFailed:
        code = self.process.wait()
        return TaskFailed(
            f"{spec.flow_name}/{spec.run_number}/{spec.step}: the worker "
            f"process died (exit code {code}) while running the task"
        )

    def stop(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class LocalExecutor(Executor):
    """Tasks run in parallel in up to ``max_workers`` worker processes, started at once
    and reused for every task (no new interpreter per task). Workers are fresh
    interpreters (they do not re-run the flow's script); a worker that dies fails its
    task and is replaced."""

    def __init__(self, max_workers: int | None = None) -> None:
        workers = max_workers if max_workers is not None else (os.cpu_count() or 1)
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise InvalidArgument(f"max_workers must be a positive integer, got {workers!r}")
        self.max_workers = workers
        self._queue: queue.Queue[tuple[TaskSpec, Future[TaskResult]] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._add_worker()  # the first one starts now, while the run is being set up

    def _add_worker(self) -> None:
        thread = threading.Thread(
            target=self._serve, daemon=True, name=f"shipyard-worker-{len(self._threads)}"
        )
        self._threads.append(thread)
        thread.start()

    def submit(self, spec: TaskSpec) -> Future[TaskResult]:
        """Queue a task; start another worker if none is free (up to max_workers)."""
        future: Future[TaskResult] = Future()
        self._queue.put((spec, future))
        with self._lock:
            if self._idle < self._queue.qsize() and len(self._threads) < self.max_workers:
                self._add_worker()
        return future

    def _serve(self) -> None:
        worker = _WorkerProcess()
        try:
            while True:
                with self._lock:
                    self._idle += 1
                job = self._queue.get()
                with self._lock:
                    self._idle -= 1
                if job is _STOP:
                    break
                spec, future = job
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(worker.run(spec))
                except BaseException as exc:
                    future.set_exception(exc)
                    worker.stop()
                    worker = _WorkerProcess()
        finally:
            worker.stop()

    def shutdown(self, cancel_pending: bool = False) -> None:
        if cancel_pending:
            while True:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job[1].cancel()
        with self._lock:
            threads = list(self._threads)
            self.max_workers = len(threads)  # no new workers from here on
        for _ in threads:
            self._queue.put(_STOP)
        for thread in threads:
            thread.join()


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
