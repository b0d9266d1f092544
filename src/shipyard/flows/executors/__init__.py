"""Where tasks run: an interface, so nothing else changes when they run elsewhere."""

from shipyard.flows.executors.base import Executor
from shipyard.flows.executors.local import InProcessExecutor, LocalExecutor

__all__ = ["Executor", "InProcessExecutor", "LocalExecutor"]
