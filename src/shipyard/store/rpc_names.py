"""The name rules a local caller's API applies, applied again to store calls that arrive
by name over HTTP (``rpc.call``): a remote client calls the store directly, below the
capability that would have checked them, so what the robustness rules refuse stays refused
through the server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from shipyard._names import check_text, model_name, project_name
from shipyard.errors import InvalidArgument

_RUN_ID = re.compile(r"[0-9a-f]{32}")
MAX_NAME = 256


def _run_id(value: Any, what: str = "run id") -> None:
    if not isinstance(value, str) or not _RUN_ID.fullmatch(value):
        raise InvalidArgument(f"{value!r} is not a {what} (32 lowercase hex characters)")


def _text(value: Any, what: str, limit: int = MAX_NAME) -> None:
    check_text(what, value, limit)


def _new_run(args: Mapping[str, Any]) -> None:
    run = args["run"]
    _run_id(run.id)
    project_name(run.project)
    _text(run.name, "run name")
    if run.parent_id is not None:
        _run_id(run.parent_id, "parent run id")
    for what, values in (("param", run.params), ("tag", run.tags)):
        for key, value in values.items():
            _text(key, f"{what} key", 250)
            _text(value, f"{what} {key!r}", 8000)


def _project(args: Mapping[str, Any]) -> None:
    project_name(args.get("name", args.get("project")))
    if "description" in args:
        _text(args["description"], "project description", 8000)


def _run_name(args: Mapping[str, Any]) -> None:
    _text(args["name"], "run name")


def _flow_run(args: Mapping[str, Any]) -> None:
    _run_id(args["run_id"])
    _text(args["flow_name"], "flow name")


def _feature_project(args: Mapping[str, Any]) -> None:
    project_name(args["project"])


def _dataset(args: Mapping[str, Any]) -> None:
    project_name(args["project"])
    _text(args["name"], "dataset name")


def _monitor(args: Mapping[str, Any]) -> None:
    _text(args["name"], "monitor name")
    model_name(args["model"])


CHECKS: dict[tuple[str, str], Callable[[Mapping[str, Any]], None]] = {
    ("tracking", "create_project"): _project,
    ("tracking", "get_or_create_project"): _project,
    ("tracking", "create_run"): _new_run,
    ("tracking", "set_run_name"): _run_name,
    ("flows", "create_flow_run"): _flow_run,
    ("features", "apply_feature_objects"): _feature_project,
    ("features", "create_dataset"): _dataset,
    ("monitors", "upsert_monitor"): _monitor,
}


def check(area: str, method: str, arguments: Mapping[str, Any]) -> None:
    found = CHECKS.get((area, method))
    if found is not None:
        found(arguments)
