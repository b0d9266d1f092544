"""Step decorators and flow decorators (@schedule, @trigger, @project), one per module."""

from shipyard.flows.decorators.base import StepDecorator
from shipyard.flows.decorators.card import card
from shipyard.flows.decorators.catch import CaughtException, catch
from shipyard.flows.decorators.environment import environment
from shipyard.flows.decorators.flow_base import FlowDecorator, flow_decorators
from shipyard.flows.decorators.project import project
from shipyard.flows.decorators.resources import resources
from shipyard.flows.decorators.retry import retry
from shipyard.flows.decorators.schedule import schedule
from shipyard.flows.decorators.timeout import timeout
from shipyard.flows.decorators.trigger import trigger

__all__ = [
    "CaughtException",
    "FlowDecorator",
    "StepDecorator",
    "card",
    "catch",
    "environment",
    "flow_decorators",
    "project",
    "resources",
    "retry",
    "schedule",
    "timeout",
    "trigger",
]
