"""Where tasks run: an interface, so nothing else changes when they run elsewhere.

``EXECUTORS`` names them for ``--executor`` and the ``executor`` setting: ``local``
(reused worker processes) and ``ray`` (the ``ray`` extra), plus any registered under the
``shipyard.executors`` entry point group.
"""

from shipyard._plugins import Registry
from shipyard.flows.executors.base import Executor
from shipyard.flows.executors.local import InProcessExecutor, LocalExecutor

EXECUTORS = Registry(
    "executor",
    {
        "local": "shipyard.flows.executors.local:LocalExecutor",
        "ray": "shipyard.flows.executors.ray:RayExecutor",
    },
    entry_point_group="shipyard.executors",
    extras={"ray": ("ray", "ray")},
)

__all__ = ["EXECUTORS", "Executor", "InProcessExecutor", "LocalExecutor"]
