"""Resource accounting: what a task used (wall time, CPU seconds, peak memory, GPU seconds),
measured around its step in the process that runs it (a local worker, a Ray worker or the
runner itself), recorded as metrics of the task's run; the flow run gets the totals.

- wall: ``time.perf_counter`` around the task (step, decorators, artifact writes).
- CPU: user + system seconds of the task's process (every thread) and of the child
  processes the step waited for (on Linux), as differences around the task:
  workers are reused, so their lifetime totals are not the task's. Tasks sharing one
  process at the same time (threads of the in-process executor) count each other's CPU.
- peak memory: the largest resident set of the task's process while the task ran, sampled
  every 50 ms by a thread (and at the start and end): a spike shorter than that may be
  missed. It includes what the process held before the task (the interpreter, imports);
  child processes are not included.
- GPU seconds: wall x the GPUs the task held: the devices in its ``CUDA_VISIBLE_DEVICES``
  (local executor), else its ``@resources(gpu=N)`` request (Ray, fractions included).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from contextlib import suppress
from types import TracebackType

WALL = "system/wall_seconds"
CPU = "system/cpu_seconds"
PEAK_MEMORY = "system/peak_memory_mb"
GPU = "system/gpu_seconds"
TASKS = "system/tasks"  # on a flow run: the task attempts it ran (not those it reused)
NAMES = (WALL, CPU, PEAK_MEMORY, GPU, TASKS)

_SAMPLE_SECONDS = 0.05


class Meter:
    """``with Meter() as meter: ...`` then ``meter.usage(gpus)``: the task's metrics."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._peak_rss = 0
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Meter:
        import psutil  # loaded by the worker, not by `import shipyard`

        self._process = psutil.Process()
        self._sample()
        self._thread = threading.Thread(
            target=self._sample_until_stopped, daemon=True, name="shipyard-meter"
        )
        self._thread.start()
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
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        self.peak_mb = self._peak_rss / 2**20

    def _cpu_seconds(self) -> float:
        """User + system seconds of this process and of the children it waited for (the
        children's are 0 where the platform does not count them: Windows, macOS)."""
        times = self._process.cpu_times()
        children = getattr(times, "children_user", 0.0) + getattr(times, "children_system", 0.0)
        return float(times.user + times.system + children)

    def _sample(self) -> None:
        with suppress(Exception):  # a failed sample must not fail the task
            self._peak_rss = max(self._peak_rss, self._process.memory_info().rss)

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(_SAMPLE_SECONDS):
            self._sample()

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
