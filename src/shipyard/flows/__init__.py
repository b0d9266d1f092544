"""Flows: Metaflow-style pipelines of steps, run by a local pool of worker processes,
every ``self.x`` stored as a versioned artifact, every run a tracked run."""

from shipyard.flows.client import Flow, Run, Step, Task
from shipyard.flows.current import current
from shipyard.flows.decorators import (
    CaughtException,
    catch,
    environment,
    resources,
    retry,
    schedule,
    timeout,
    trigger,
)
from shipyard.flows.graph import FlowGraph, Node
from shipyard.flows.parameters import JSONType, Parameter
from shipyard.flows.spec import FlowSpec
from shipyard.flows.step import step

__all__ = [
    "CaughtException",
    "Flow",
    "FlowGraph",
    "FlowSpec",
    "JSONType",
    "Node",
    "Parameter",
    "Run",
    "Step",
    "Task",
    "catch",
    "current",
    "environment",
    "resources",
    "retry",
    "schedule",
    "step",
    "timeout",
    "trigger",
]
