"""What every MLflow route needs: the client, request bodies, and the id mappings.

Experiments are Shipyard projects (experiment id = the project's id; "0", MLflow's default
experiment, is the settings' default project). MLflow run ids are Shipyard run ids. Two
kinds of hidden runs hold what projects and runs have no column for: a project's
experiment tags (kind ``mlflow_experiment``) and MLflow 3 logged models
(kind ``mlflow_model``, run id = the model id without its ``m-`` prefix).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Request

from shipyard.errors import NotFound
from shipyard.server.routes.mlflow.errors import INVALID, NOT_FOUND, MlflowError
from shipyard.store.base import Project, TrackingStore
from shipyard.tracking import Client

EXPERIMENT_KIND = "mlflow_experiment"
MODEL_KIND = "mlflow_model"
HIDDEN_KINDS = (EXPERIMENT_KIND, MODEL_KIND)
DEFAULT_EXPERIMENT = "0"


_OBJECT_LISTS = frozenset({"tags", "params", "metrics", "models", "datasets"})
_STRING_LISTS = frozenset({"experiment_ids", "order_by", "stages", "run_ids"})


async def json_body(request: Request) -> dict[str, Any]:
    """The request's fields: the JSON object a POST/PATCH sent over the query parameters
    (all a GET or a DELETE sends). Checked at the door, so routes can trust the types:
    lists only where MLflow has them (``experiment_ids`` and ``order_by`` as lists of
    strings, ``tags``/``params``/``metrics`` as lists of objects), every other field a
    string (numbers become strings; routes convert them back)."""
    fields: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in _STRING_LISTS:
            fields.setdefault(key, []).append(value)
        else:
            fields[key] = value
    raw = await request.body()
    if raw.strip():
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise MlflowError(INVALID, f"request body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise MlflowError(INVALID, "request body must be a JSON object")
        fields.update(data)
    return {key: _checked(key, value) for key, value in fields.items()}


def _checked(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key in _OBJECT_LISTS:
        return entries(value, key)
    if key in _STRING_LISTS:
        items = value if isinstance(value, list) else [value]
        return [_scalar(key, item) for item in items]
    return _scalar(key, value)


def _scalar(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise MlflowError(INVALID, f"Invalid value {value!r} for parameter '{key}'")


def as_int(value: Any, name: str, default: int) -> int:
    """An integer field (sent as a number or a string); ``default`` when absent."""
    if value is None or value == "":
        return default
    invalid = MlflowError(INVALID, f"Invalid value {value!r} for parameter '{name}'")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise invalid
    try:
        return int(value)
    except ValueError:
        raise invalid from None


JsonBody = Annotated[dict[str, Any], Depends(json_body)]


def required(body: Mapping[str, Any], name: str) -> Any:
    value = body.get(name)
    if value is None or value == "":
        raise MlflowError(INVALID, f"Missing value for required parameter '{name}'.")
    return value


def number(value: float) -> float | str:
    """A metric value as MLflow's protobuf JSON writes it: NaN and infinities as strings."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def metric_list(metrics: Mapping[str, float]) -> list[dict[str, Any]]:
    """A run's latest values (Shipyard keeps no step or time with them: 0 for both)."""
    return [
        {"key": k, "value": number(v), "timestamp": 0, "step": 0}
        for k, v in sorted(metrics.items())
    ]


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def entries(items: Any, what: str = "tags") -> list[Mapping[str, Any]]:
    """A list of JSON objects (MLflow's tags, params, metrics), or INVALID_PARAMETER_VALUE."""
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise MlflowError(INVALID, f"'{what}' must be a list of objects")
    return items


def tag_dict(items: Any, what: str = "tags") -> dict[str, str]:
    """``[{"key": k, "value": v}, ...]`` as a dict (a missing value is "")."""
    return {
        str(required(t, "key")): "" if t.get("value") is None else str(t["value"])
        for t in entries(items, what)
    }


def experiment_tags_run_id(project: str) -> str:
    """The hidden run that holds a project's MLflow experiment tags."""
    return hashlib.sha256(f"mlflow-experiment:{project}".encode()).hexdigest()[:32]


class Context:
    def __init__(self, client: Client) -> None:
        self.client = client

    @property
    def store(self) -> TrackingStore:
        return self.client.store

    def now_ms(self) -> int:
        return int(self.client.clock.now().timestamp() * 1000)

    def projects(self) -> list[Project]:
        return self.store.list_projects()

    def default_project(self) -> Project:
        return self.store.get_or_create_project(self.client.settings.project)

    def project(self, experiment_id: Any) -> Project:
        """The project behind an experiment id (RESOURCE_DOES_NOT_EXIST if none)."""
        ident = str(experiment_id)
        if ident == DEFAULT_EXPERIMENT:
            return self.default_project()
        for project in self.projects():
            if str(project.id) == ident:
                return project
        raise MlflowError(NOT_FOUND, f"No Experiment with id={ident} exists")

    def experiment_id(self, project_name: str) -> str:
        for project in self.projects():
            if project.name == project_name:
                return str(project.id)
        raise NotFound(f"no project named {project_name!r}")

    def experiment_ids(self) -> dict[str, str]:
        """Project name -> experiment id, for many runs at once."""
        return {p.name: str(p.id) for p in self.projects()}
