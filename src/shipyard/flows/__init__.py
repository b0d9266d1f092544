"""Flows: Metaflow-style pipelines of steps, run by a local pool of worker processes,
every ``self.x`` stored as a versioned artifact, every run a tracked run.

The client names (``Flow``, ``Run``, ``Step``, ``Task``) load on first use: a flow file's
``from shipyard.flows import FlowSpec, step`` then loads neither the tracking client nor
the store, which the runner imports only once the command line has been checked.
"""

from typing import TYPE_CHECKING, Any

from shipyard.flows.current import current
from shipyard.flows.decorators import (
    CaughtException,
    card,
    catch,
    environment,
    project,
    resources,
    retry,
    schedule,
    timeout,
    trigger,
)
from shipyard.flows.graph import FlowGraph, Node
from shipyard.flows.namespaces import default_namespace, get_namespace, namespace
from shipyard.flows.parameters import IncludeFile, JSONType, Parameter
from shipyard.flows.spec import FlowSpec
from shipyard.flows.step import step
from shipyard.flows.storage import S3, Storage, StorageObject

if TYPE_CHECKING:
    from shipyard.flows.client import Flow, Metaflow, Run, Step, Task, get_metadata

_CLIENT_NAMES = frozenset({"Flow", "Metaflow", "Run", "Step", "Task", "get_metadata"})


def __getattr__(name: str) -> Any:
    """The client classes (``Flow``, ``Run``...) from ``shipyard.flows.client``, on first use."""
    if name not in _CLIENT_NAMES:
        raise AttributeError(f"module 'shipyard.flows' has no attribute {name!r}")
    from shipyard.flows import client

    value = getattr(client, name)
    globals()[name] = value
    return value


__all__ = [
    "S3",
    "CaughtException",
    "Flow",
    "FlowGraph",
    "FlowSpec",
    "IncludeFile",
    "JSONType",
    "Metaflow",
    "Node",
    "Parameter",
    "Run",
    "Step",
    "Storage",
    "StorageObject",
    "Task",
    "card",
    "catch",
    "current",
    "default_namespace",
    "environment",
    "get_metadata",
    "get_namespace",
    "namespace",
    "project",
    "resources",
    "retry",
    "schedule",
    "step",
    "timeout",
    "trigger",
]
