"""Experiment tracking: runs with params, metrics, tags, artifacts and their environment."""

from shipyard.tracking.client import Client
from shipyard.tracking.environment import current_user
from shipyard.tracking.fluent import (
    ActiveRun,
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
    use_run,
)
from shipyard.tracking.records import Run

TrackedRun = Run  # the name ``shipyard`` exports it under (shipyard.Run is a flow run)

__all__ = [
    "ActiveRun",
    "Client",
    "Run",
    "TrackedRun",
    "active_run",
    "current_user",
    "end_run",
    "get_metric_history",
    "get_run",
    "list_projects",
    "load_artifact",
    "log_artifact",
    "log_dict",
    "log_figure",
    "log_metric",
    "log_metrics",
    "log_object",
    "log_param",
    "log_params",
    "log_text",
    "search_runs",
    "set_tag",
    "set_tags",
    "start_run",
    "use_run",
]
