"""Local executors: a pool of reused worker processes, or the calling process itself."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import IO

from shipyard.errors import InvalidArgument, TaskFailed
from shipyard.flows.executors.base import Executor
from shipyard.flows.executors.frames import read_frame, write_frame
from shipyard.flows.executors.gpus import DevicePool, find_devices
from shipyard.flows.worker import TaskResult, TaskSpec, flow_pickle, run_task
from shipyard.flows.worker_main import serve_forked

_STOP = None


class _Forked:
    """A worker forked from this process, with the two pipes of its channel; the subset
    of ``subprocess.Popen`` the pool uses (``kill``, ``wait``)."""

    def __init__(self, warm: Callable[[], object] | None) -> None:
        to_worker, from_runner = os.pipe()
        to_runner, from_worker = os.pipe()
        for stream in (sys.stdout, sys.stderr):  # the child must not inherit (and later
            with contextlib.suppress(OSError, ValueError):  # repeat) buffered output
                stream.flush()
        pid = os.fork()
        if pid == 0:  # the worker: it must never return into the runner's code
            try:
                os.close(from_runner)
                os.close(to_runner)
                serve_forked(to_worker, from_worker, warm)
            finally:
                os._exit(1)
        os.close(to_worker)
        os.close(from_worker)
        self.pid = pid
        self.stdin: IO[bytes] = os.fdopen(from_runner, "wb")
        self.stdout: IO[bytes] = os.fdopen(to_runner, "rb")
        self.returncode: int | None = None

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        """Its exit code (minus the signal number if a signal ended it), as Popen's;
        raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.001
        while self.returncode is None:
            pid, status = os.waitpid(self.pid, 0 if deadline is None else os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
            elif deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0.0)
            else:
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        return self.returncode


class _WorkerProcess:
    """One long-lived ``python -m shipyard.flows.worker_main`` talking over pipes; or,
    given ``fork``, a fork of this process (which has the flow classes shared so far)."""

    def __init__(self, fork: bool = False, warm: Callable[[], object] | None = None) -> None:
        self.process: subprocess.Popen[bytes] | _Forked
        self._known: set[str] = set()  # flow keys this worker has the class of
        if fork:
            from shipyard.flows.worker import _classes

            self._known = set(_classes)
            self.process = _Forked(warm)
        else:
            env = {**os.environ, "SHIPYARD_WORKER_PATH": json.dumps([p for p in sys.path if p])}
            self.process = subprocess.Popen(
                [sys.executable, "-m", "shipyard.flows.worker_main"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
        self._ready = fork  # a forked worker says nothing before its first task
        self._timed_out = False
        self.used = False

    def run(self, spec: TaskSpec) -> TaskResult:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.used = True
        if not self._ready:
            self._ready = read_frame(self.process.stdout) == "ready"
            if not self._ready:
                raise self._died(spec)
        if spec.flow_key not in self._known and not spec.flow_pickle:
            spec = dataclasses.replace(spec, flow_pickle=flow_pickle(spec.flow_key))
        write_frame(self.process.stdin, spec)
        self._known.add(spec.flow_key)  # the worker keeps the class it was sent
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
        """Close the channel: the worker exits. One that never ran a task is killed rather
        than waited for (it may still be starting: nothing of it needs to finish)."""
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        if not self.used:
            self.process.kill()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def can_fork() -> bool:
    """Whether a worker may be a fork of this process: on Linux, and only while this
    process runs a single thread (a fork copies locks other threads may hold)."""
    return sys.platform == "linux" and hasattr(os, "fork") and threading.active_count() == 1


class LocalExecutor(Executor):
    """Tasks run in parallel in up to ``max_workers`` worker processes, reused for every
    task (no new interpreter per task). The first worker starts at once; another starts
    when a task waits and no worker is free. A worker that dies fails its task and is
    replaced.

    Workers are fresh interpreters (they do not re-run the flow's script). With
    ``fork=True`` (what ``python flow.py run`` asks for) and where ``can_fork()``, the
    first worker is instead a fork of this process, made now: it starts in a few
    milliseconds with everything imported, and ``warm`` (if given) runs in it before its
    first task. Fork before opening stores or starting threads; workers started later,
    and replacements, are fresh interpreters.

    A task of a ``@resources(gpu=N)`` step waits for N free devices of ``gpus`` (default:
    found as ``executors.gpus`` says, on the first such task), runs with
    ``CUDA_VISIBLE_DEVICES`` set to them, and its worker is replaced afterwards (CUDA
    reads that variable once per process).
    """

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        fork: bool = False,
        warm: Callable[[], object] | None = None,
        gpus: Sequence[str] | None = None,
    ) -> None:
        workers = max_workers if max_workers is not None else (os.cpu_count() or 1)
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise InvalidArgument(f"max_workers must be a positive integer, got {workers!r}")
        self.max_workers = workers
        self._queue: queue.Queue[tuple[TaskSpec, Future[TaskResult]] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # workers waiting for a task, the ones still starting included
        self._lock = threading.Lock()
        self._gpus = None if gpus is None else DevicePool(gpus)
        first = _WorkerProcess(fork=True, warm=warm) if fork and can_fork() else None
        self.forked = first is not None
        with self._lock:
            self._add_worker(first)  # the first one starts now, while the run is set up

    def _add_worker(self, worker: _WorkerProcess | None = None) -> None:
        """Start a serving thread (and its worker, unless given); holds the lock."""
        self._idle += 1
        thread = threading.Thread(
            target=self._serve,
            args=(worker,),
            daemon=True,
            name=f"shipyard-worker-{len(self._threads)}",
        )
        self._threads.append(thread)
        thread.start()

    def submit(self, spec: TaskSpec) -> Future[TaskResult]:
        """Queue a task; start another worker if none is free (up to max_workers). A task
        wanting more GPUs than the machine has is refused here (InvalidFlow)."""
        if spec.gpu:
            self._devices().check(f"{spec.flow_name}.{spec.step}", spec.gpu)
        future: Future[TaskResult] = Future()
        with self._lock:
            self._queue.put((spec, future))
            if self._idle < self._queue.qsize() and len(self._threads) < self.max_workers:
                self._add_worker()
        return future

    def _serve(self, worker: _WorkerProcess | None) -> None:
        worker = worker or _WorkerProcess()
        try:
            while True:
                job = self._queue.get()
                with self._lock:
                    self._idle -= 1
                if job is _STOP:
                    break
                spec, future = job
                if not future.set_running_or_notify_cancel():
                    with self._lock:
                        self._idle += 1
                    continue
                devices = self._take_gpus(spec)
                if devices:
                    spec = dataclasses.replace(
                        spec, env={**spec.env, "CUDA_VISIBLE_DEVICES": ",".join(devices)}
                    )
                try:
                    result = worker.run(spec)
                except BaseException as exc:
                    worker.stop()
                    worker = _WorkerProcess()
                    self._done(future, exception=exc, devices=devices)
                else:
                    if devices:  # CUDA keeps the devices it saw: a fresh worker for the next
                        worker.stop()
                        worker = _WorkerProcess()
                    self._done(future, result, devices=devices)
        finally:
            worker.stop()

    def _devices(self) -> DevicePool:
        if self._gpus is None:
            from shipyard.config import load_settings

            self._gpus = DevicePool(find_devices(load_settings().gpus))
        return self._gpus

    def _take_gpus(self, spec: TaskSpec) -> list[str]:
        """The devices of a GPU task (waits until enough are free); none for others."""
        if not spec.gpu:
            return []
        pool = self._devices()
        return pool.acquire(pool.check(f"{spec.flow_name}.{spec.step}", spec.gpu))

    def _done(
        self,
        future: Future[TaskResult],
        result: TaskResult | None = None,
        exception: BaseException | None = None,
        devices: list[str] | None = None,
    ) -> None:
        """Count the worker (and its GPUs) free *before* the runner hears of the result:
        the task it submits next must not start another worker while this one is about
        to wait."""
        if devices:
            self._devices().release(devices)
        with self._lock:
            self._idle += 1
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(result)  # type: ignore[arg-type]

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
