"""GPUs on this machine for ``@resources(gpu=N)`` tasks of the local executor.

The devices are, first found: the ``gpus`` setting (SHIPYARD_GPUS, ids comma-separated),
the runner's own ``CUDA_VISIBLE_DEVICES``, the GPUs ``nvidia-smi -L`` lists. A task gets
``CUDA_VISIBLE_DEVICES`` set to N free ids, waiting while fewer are free; a task asking
for more GPUs than the machine has fails at once instead of waiting forever.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Sequence

from shipyard.errors import InvalidFlow

_NVIDIA_SMI_LINE = re.compile(r"^GPU (\d+):", re.MULTILINE)


def find_devices(configured: Sequence[str] = ()) -> tuple[str, ...]:
    """This machine's GPU ids, from the setting, CUDA_VISIBLE_DEVICES or nvidia-smi."""
    if configured:
        return tuple(configured)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:  # "" or "-1": the runner was given no GPU
        return tuple(d.strip() for d in visible.split(",") if d.strip() not in ("", "-1"))
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return ()
    try:
        listing = subprocess.run(
            [smi, "-L"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return tuple(_NVIDIA_SMI_LINE.findall(listing))


class DevicePool:
    """Hands out device ids; ``acquire`` waits until enough are free."""

    def __init__(self, devices: Sequence[str]) -> None:
        self.devices = tuple(devices)
        self._free = list(self.devices)
        self._changed = threading.Condition()

    def check(self, where: str, wanted: float) -> int:
        """How many devices a request for ``wanted`` GPUs takes; InvalidFlow if the
        machine has fewer in all (waiting would never end)."""
        count = math.ceil(wanted)
        if count > len(self.devices):
            found = ", ".join(self.devices) if self.devices else "none"
            raise InvalidFlow(
                f"{where} asks for @resources(gpu={wanted:g}) but this machine has "
                f"{len(self.devices)} GPU(s) (found: {found}); set SHIPYARD_GPUS to the "
                "device ids to use, or run it on Ray (--executor ray)"
            )
        return count

    def acquire(self, count: int) -> list[str]:
        with self._changed:
            while len(self._free) < count:
                self._changed.wait()
            taken, self._free = self._free[:count], self._free[count:]
            return taken

    def release(self, devices: Sequence[str]) -> None:
        with self._changed:
            self._free.extend(devices)
            self._changed.notify_all()
