"""Resource accounting: what a task used (wall time, CPU seconds, peak memory, GPU seconds),
measured around its step in the process that runs it (a local worker, a Ray worker or the
runner itself), recorded as metrics of the task's run; the flow run gets the totals.

- wall: ``time.perf_counter`` around the task (step, decorators, artifact writes).
- CPU: user + system seconds of the task's process (every thread) and of the child
  processes the step waited for (on Linux), as differences around the task:
  workers are reused, so their lifetime totals are not the task's. Tasks sharing one
  process at the same time (threads of the in-process executor) count each other's CPU.
- peak memory: the largest resident set of the task's process while the task ran, sampled
  every 50 ms by one thread per process (and at the start and end): a shorter spike may
  be missed. It includes what the process held before the task (the interpreter, imports);
  child processes are not included.
- GPU seconds: wall x the GPUs the task held: the devices in its ``CUDA_VISIBLE_DEVICES``
  (local executor), else its ``@resources(gpu=N)`` request (Ray, fractions included).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

WALL = "system/wall_seconds"
CPU = "system/cpu_seconds"
PEAK_MEMORY = "system/peak_memory_mb"
GPU = "system/gpu_seconds"
TASKS = "system/tasks"  # on a flow run: the task attempts it ran (not those it reused)
NAMES = (WALL, CPU, PEAK_MEMORY, GPU, TASKS)

_SAMPLE_SECONDS = 0.05
_IDLE_SECONDS = 1.0


class _Sampler:
    """One thread per process samples its resident set while any Meter is open (workers
    run many tasks: starting a thread per task would cost more than the sampling)."""

    def __init__(self, process: Any) -> None:
        self.process = process
        self.pid = os.getpid()
        self._meters: set[Meter] = set()
        self._lock = threading.Lock()
        self._busy = threading.Event()
        self._thread: threading.Thread | None = None

    def rss(self) -> int:
        try:
            return int(self.process.memory_info().rss)
        except Exception:  # a failed sample must not fail the task
            return 0

    def watch(self, meter: Meter) -> None:
        with self._lock:
            self._meters.add(meter)
            self._busy.set()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, daemon=True, name="shipyard-meter"
                )
                self._thread.start()

    def unwatch(self, meter: Meter) -> None:
        with self._lock:
            self._meters.discard(meter)
            if not self._meters:
                self._busy.clear()

    def _loop(self) -> None:
        """Sample while a task runs; wait between tasks; end after a second without any
        (the runner of in-process tasks goes back to one thread, and may fork again)."""
        while True:
            if not self._busy.wait(_IDLE_SECONDS):
                with self._lock:
                    if not self._meters:
                        self._thread = None
                        return
                continue
            time.sleep(_SAMPLE_SECONDS)
            rss = self.rss()
            with self._lock:
                for meter in self._meters:
                    meter.peak_rss = max(meter.peak_rss, rss)


_samplers: list[_Sampler] = []  # this process's (a forked child starts its own)


def _sampler() -> _Sampler:
    if not _samplers or _samplers[0].pid != os.getpid():
        import psutil  # loaded by the worker, not by `import shipyard`

        _samplers[:] = [_Sampler(psutil.Process())]
    return _samplers[0]


class Meter:
    """``with Meter() as meter: ...`` then ``meter.usage(gpus)``: the task's metrics."""

    def __enter__(self) -> Meter:
        self._sampler = _sampler()
        self.peak_rss = self._sampler.rss()
        self._sampler.watch(self)
        self._cpu_before = self._cpu_seconds()
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.wall = time.perf_counter() - self._started
        self.cpu = max(0.0, self._cpu_seconds() - self._cpu_before)
        self._sampler.unwatch(self)
        self.peak_mb = max(self.peak_rss, self._sampler.rss()) / 2**20

    def _cpu_seconds(self) -> float:
        """User + system seconds of this process and of the children it waited for (the
        children's are 0 where the platform does not count them: Windows, macOS)."""
        times = self._sampler.process.cpu_times()
        children = getattr(times, "children_user", 0.0) + getattr(times, "children_system", 0.0)
        return float(times.user + times.system + children)

    def usage(self, gpus: float = 0) -> dict[str, float]:
        """The metrics to record on the task's run (GPU seconds only for a GPU task)."""
        found = {WALL: self.wall, CPU: self.cpu, PEAK_MEMORY: self.peak_mb}
        if gpus:
            found[GPU] = self.wall * gpus
        return found


def gpus_held(gpu: float, env: Mapping[str, str]) -> float:
    """How many GPUs a task held: its devices when the executor assigned some, else what
    it asked for (on Ray, which sets the devices itself, a fraction is a share)."""
    if not gpu:
        return 0.0
    devices = env.get("CUDA_VISIBLE_DEVICES")
    if devices:
        return float(len([d for d in devices.split(",") if d.strip()]))
    return float(gpu)


def combine(tasks: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Several tasks' usage as one: seconds summed, peak memory the largest, ``TASKS``
    how many. A metric no task recorded (GPU seconds of CPU tasks, anything of tasks run
    before accounting) is left out rather than shown as 0."""
    found: dict[str, float] = {TASKS: 0.0}
    for task in tasks:
        found[TASKS] += 1
        for name in (WALL, CPU, GPU):
            if name in task:
                found[name] = found.get(name, 0.0) + task[name]
        if PEAK_MEMORY in task:
            found[PEAK_MEMORY] = max(found.get(PEAK_MEMORY, 0.0), task[PEAK_MEMORY])
    return found


def totals(tasks: Iterable[Mapping[str, float]], wall: float) -> dict[str, float]:
    """A flow run's usage from its tasks': as ``combine``, but wall is the flow run's own
    duration (not the tasks' summed), and CPU seconds and peak memory always recorded."""
    return {CPU: 0.0, PEAK_MEMORY: 0.0, **combine(tasks), WALL: wall}


def short(usage: Mapping[str, float]) -> dict[str, float]:
    """The usage metrics of a run's metrics, named without ``system/`` (for JSON output)."""
    return {name.removeprefix("system/"): usage[name] for name in NAMES if name in usage}
