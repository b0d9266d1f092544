"""Shipyard: a fun-sized MLOps platform. This module only re-exports the public API.

Each name is imported from its module on first use (PEP 562 ``__getattr__``), so that a
flow file's ``from shipyard.flows import FlowSpec, step`` loads the flows and nothing
else (not the registry, serving or tracking): that import is on the critical path of
every ``python flow.py run``. The imports under ``TYPE_CHECKING`` declare the same names
for type checkers and editors.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.errors import (
        AlreadyExists,
        Conflict,
        FilterSyntaxError,
        InvalidArgument,
        NotFound,
        ShipyardError,
    )
    from shipyard.flows import (
        S3,
        Flow,
        FlowSpec,
        IncludeFile,
        JSONType,
        Metaflow,
        Parameter,
        Run,
        Step,
        Storage,
        Task,
        card,
        catch,
        default_namespace,
        environment,
        get_metadata,
        get_namespace,
        namespace,
        project,
        resources,
        retry,
        schedule,
        timeout,
        trigger,
    )

    # from their modules: both names are also submodules of shipyard.flows (for mypy)
    from shipyard.flows.current import current
    from shipyard.flows.step import step
    from shipyard.registry import (
        PythonModel,
        load_model,
        promote_model,
        register_model,
        set_model_alias,
    )
    from shipyard.serving import log_labels
    from shipyard.store import Metric, Project, RunStatus
    from shipyard.store.serializers import register_serializer
    from shipyard.tracking import (
        ActiveRun,
        Client,
        TrackedRun,
        active_run,
        end_run,
        get_metric_history,
        get_run,
        list_projects,
        load_artifact,
        log_artifact,
        log_dict,
        log_figure,
        log_metric,
        log_metrics,
        log_object,
        log_param,
        log_params,
        log_text,
        search_runs,
        set_tag,
        set_tags,
        start_run,
    )
    from shipyard.tracking.autolog import autolog

__version__ = "0.1.0"

_MODULES = {
    "ActiveRun": "shipyard.tracking",
    "AlreadyExists": "shipyard.errors",
    "Client": "shipyard.tracking",
    "Conflict": "shipyard.errors",
    "FilterSyntaxError": "shipyard.errors",
    "Flow": "shipyard.flows",
    "FlowSpec": "shipyard.flows",
    "IncludeFile": "shipyard.flows",
    "InvalidArgument": "shipyard.errors",
    "JSONType": "shipyard.flows",
    "Metaflow": "shipyard.flows",
    "Metric": "shipyard.store",
    "NotFound": "shipyard.errors",
    "Parameter": "shipyard.flows",
    "Project": "shipyard.store",
    "PythonModel": "shipyard.registry",
    "Run": "shipyard.flows",
    "RunStatus": "shipyard.store",
    "S3": "shipyard.flows",
    "ShipyardError": "shipyard.errors",
    "Step": "shipyard.flows",
    "Storage": "shipyard.flows",
    "Task": "shipyard.flows",
    "TrackedRun": "shipyard.tracking",
    "active_run": "shipyard.tracking",
    "autolog": "shipyard.tracking.autolog",
    "card": "shipyard.flows",
    "catch": "shipyard.flows",
    "current": "shipyard.flows.current",
    "default_namespace": "shipyard.flows",
    "end_run": "shipyard.tracking",
    "environment": "shipyard.flows",
    "get_metadata": "shipyard.flows",
    "get_metric_history": "shipyard.tracking",
    "get_namespace": "shipyard.flows",
    "get_run": "shipyard.tracking",
    "list_projects": "shipyard.tracking",
    "load_artifact": "shipyard.tracking",
    "load_model": "shipyard.registry",
    "log_artifact": "shipyard.tracking",
    "log_dict": "shipyard.tracking",
    "log_figure": "shipyard.tracking",
    "log_labels": "shipyard.serving",
    "log_metric": "shipyard.tracking",
    "log_metrics": "shipyard.tracking",
    "log_object": "shipyard.tracking",
    "log_param": "shipyard.tracking",
    "log_params": "shipyard.tracking",
    "log_text": "shipyard.tracking",
    "namespace": "shipyard.flows",
    "project": "shipyard.flows",
    "promote_model": "shipyard.registry",
    "register_model": "shipyard.registry",
    "register_serializer": "shipyard.store.serializers",
    "resources": "shipyard.flows",
    "retry": "shipyard.flows",
    "schedule": "shipyard.flows",
    "search_runs": "shipyard.tracking",
    "set_model_alias": "shipyard.registry",
    "set_tag": "shipyard.tracking",
    "set_tags": "shipyard.tracking",
    "start_run": "shipyard.tracking",
    "step": "shipyard.flows.step",
    "timeout": "shipyard.flows",
    "trigger": "shipyard.flows",
}

__all__ = [
    "S3",
    "ActiveRun",
    "AlreadyExists",
    "Client",
    "Conflict",
    "FilterSyntaxError",
    "Flow",
    "FlowSpec",
    "IncludeFile",
    "InvalidArgument",
    "JSONType",
    "Metaflow",
    "Metric",
    "NotFound",
    "Parameter",
    "Project",
    "PythonModel",
    "Run",
    "RunStatus",
    "ShipyardError",
    "Step",
    "Storage",
    "Task",
    "TrackedRun",
    "__version__",
    "active_run",
    "autolog",
    "card",
    "catch",
    "current",
    "default_namespace",
    "end_run",
    "environment",
    "get_metadata",
    "get_metric_history",
    "get_namespace",
    "get_run",
    "list_projects",
    "load_artifact",
    "load_model",
    "log_artifact",
    "log_dict",
    "log_figure",
    "log_labels",
    "log_metric",
    "log_metrics",
    "log_object",
    "log_param",
    "log_params",
    "log_text",
    "namespace",
    "project",
    "promote_model",
    "register_model",
    "register_serializer",
    "resources",
    "retry",
    "schedule",
    "search_runs",
    "set_model_alias",
    "set_tag",
    "set_tags",
    "start_run",
    "step",
    "timeout",
    "trigger",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its module the first time it is asked for."""
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
