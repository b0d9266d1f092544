"""Flows: Metaflow-style pipelines of steps (authoring API and graph checks so far).

The runtime that executes them (local worker pool, artifacts, resume) is being built.
"""

from shipyard.flows.graph import FlowGraph, Node
from shipyard.flows.parameters import JSONType, Parameter
from shipyard.flows.spec import FlowSpec
from shipyard.flows.step import step

__all__ = ["FlowGraph", "FlowSpec", "JSONType", "Node", "Parameter", "step"]
