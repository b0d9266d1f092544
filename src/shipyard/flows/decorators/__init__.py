"""Step decorators, one per module."""

from shipyard.flows.decorators.base import StepDecorator
from shipyard.flows.decorators.catch import CaughtException, catch
from shipyard.flows.decorators.environment import environment
from shipyard.flows.decorators.resources import resources
from shipyard.flows.decorators.retry import retry
from shipyard.flows.decorators.timeout import timeout

__all__ = [
    "CaughtException",
    "StepDecorator",
    "catch",
    "environment",
    "resources",
    "retry",
    "timeout",
]
