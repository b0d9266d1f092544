"""Which projects a request touches, from the values it names.

Runs, flow runs, models and monitors are looked up to their project (runs never move, so
their projects are cached); a value that names nothing that exists is skipped, and the
route answers 404 itself. A request naming nothing needs the role on ``*``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.concurrency import run_in_threadpool

from shipyard.errors import ShipyardError
from shipyard.governance import Need
from shipyard.store import rpc, wire
from shipyard.store.base import TrackingStore

if TYPE_CHECKING:
    from fastapi import Request

    from shipyard.server.authz import Rule

_PROJECT_KEYS = ("project", "projects", "project_name", "experiment_name")
_RUN_KEYS = ("run_id", "run_ids", "run_uuid", "parent_id")
_PREDICTION_KEYS = ("prediction_id", "prediction_ids")
_MODEL_KEYS = ("model", "model_name", "registered_model_name")
_EXPERIMENT_KEYS = ("experiment_id", "experiment_ids")
DEFAULT_EXPERIMENT = "0"
# store calls whose ``name`` argument is a project's (a model's, in the models area)
_RPC_NAMES: dict[tuple[str, str], str] = {
    ("tracking", "create_project"): "project",
    ("tracking", "get_project"): "project",
    ("tracking", "get_or_create_project"): "project",
    ("monitors", "get_monitor"): "monitor",
}


def rpc_need(area: str, method: str) -> Need:
    if area == "identity":
        return Need.ADMIN
    if area == "audit":  # every project's history: for admins of every project
        return Need.MANAGE
    return Need.READ if rpc.is_read(method) else Need.WRITE


# store calls that list across projects: narrowed for a user without a role on every one
_RPC_LISTINGS = frozenset(
    {("tracking", "list_projects"), ("tracking", "search_runs"), ("tracking", "count_runs")}
)


def rpc_lists(request: Request) -> bool:
    return (request.path_params["area"], request.path_params["method"]) in _RPC_LISTINGS


def narrowed_call(
    method: str, args: list[Any], kwargs: dict[str, Any], readable: set[str]
) -> tuple[list[Any], dict[str, Any]]:
    """A listing's arguments limited to ``readable`` projects (``search_runs``,
    ``count_runs``)."""
    if method in ("search_runs", "count_runs"):
        kwargs = {**kwargs, "projects": sorted(readable)}
        args = args[1:]  # ``projects`` is the first parameter
        if args:  # the rest were positional: keep them, by name
            names = list(rpc.methods("tracking")[method].parameters)[1:]
            kwargs.update(zip(names, args, strict=False))
            args = []
    return args, kwargs


def narrowed_result(method: str, result: Any, readable: set[str]) -> Any:
    if method == "list_projects":
        return [p for p in result if p.name in readable]
    return result


async def projects_of(request: Request, found: Rule) -> set[str]:
    values: dict[str, list[Any]] = {}
    for key, value in request.path_params.items():
        values.setdefault(key, []).append(value)
    for key, value in request.query_params.multi_items():
        values.setdefault(key, []).append(value)
    names: str | None = found.names
    if found.scope == "body":
        _add_fields(values, await _json_object(request))
    elif found.scope == "rpc":
        area, method = request.path_params["area"], request.path_params["method"]
        names = _RPC_NAMES.get((area, method), "model" if area == "models" else None)
        _add_fields(values, _rpc_arguments(area, method, await request.body()))
    state = request.app.state
    store: TrackingStore = state.client.store
    default: str = state.client.settings.project
    known = _run_projects(state)
    try:  # in the event loop when every lookup is a run already seen: no thread, no I/O
        return _resolve(_KnownRuns(known), values, names, default)
    except _NeedsStore:
        runs = _RunsNoted(store, known)
        return await run_in_threadpool(_resolve, runs, values, names, default)


async def blob_projects(request: Request) -> set[str]:
    store: TrackingStore = request.app.state.client.store
    digest = str(request.path_params.get("sha256", ""))
    return await run_in_threadpool(store.blob_projects, digest)


async def _json_object(request: Request) -> dict[str, Any]:
    if "json" not in request.headers.get("content-type", "json"):
        return {}
    raw = await request.body()
    try:
        data = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        return {}  # the route refuses it with its own message
    return data if isinstance(data, dict) else {}


def _rpc_arguments(area: str, method: str, raw: bytes) -> dict[str, Any]:
    signature = rpc.methods(area).get(method)
    if signature is None:
        return {}
    try:
        data = wire.loads(raw or b"{}")
        bound = signature.bind_partial(*data.get("args", []), **data.get("kwargs", {}))
    except (TypeError, ValueError, AttributeError):
        return {}  # the store call refuses it with its own message
    return dict(bound.arguments)


def _add_fields(values: dict[str, list[Any]], fields: dict[str, Any]) -> None:
    for key, value in fields.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if dataclasses.is_dataclass(item) or isinstance(item, dict):
                record = (
                    item
                    if isinstance(item, dict)
                    else {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
                )
                for sub in ("project", "run_id", "model", "prediction_id"):
                    if isinstance(record.get(sub), str):
                        values.setdefault(sub, []).append(record[sub])
            else:
                values.setdefault(key, []).append(item)


def _strings(values: dict[str, list[Any]], keys: Iterable[str]) -> list[str]:
    return [str(v) for k in keys for v in values.get(k, []) if isinstance(v, (str, int))]


def _resolve(
    store: TrackingStore, values: dict[str, list[Any]], names: str | None, default: str
) -> set[str]:
    projects = set(_strings(values, _PROJECT_KEYS))
    named = _strings(values, ["name"])
    if names == "project":
        projects.update(named)
    for run_id in _strings(values, _RUN_KEYS):
        projects.update(_run_project(store, run_id))
    models = _strings(values, _MODEL_KEYS) + (named if names == "model" else [])
    for model in models:
        projects.update(_model_project(store, model))
    if names == "monitor":
        for monitor in named:
            projects.update(_monitor_project(store, monitor))
    if names == "flow":
        for flow in _strings(values, ["flow", "flow_name"]):
            numbers = _strings(values, ["number"])
            projects.update(_flow_project(store, flow, numbers[0] if numbers else None))
    predictions = _strings(values, _PREDICTION_KEYS)
    if predictions:
        projects.update(_prediction_projects(store, predictions))
    for model_id in _strings(values, ["model_id"]):  # MLflow's logged models are runs
        from shipyard.server.routes.mlflow.artifacts import model_run_id

        projects.update(_run_project(store, model_run_id(model_id)))
    if names == "mlflow_artifact":
        for path in _strings(values, ["path"]):
            projects.update(_run_project(store, mlflow_artifact_run(path)))
    if names == "lineage":
        projects.update(_lineage_projects(store, values, default))
    experiments = _strings(values, _EXPERIMENT_KEYS)
    if experiments:
        by_id = {str(p.id): p.name for p in store.list_projects()}
        for ident in experiments:
            projects.add(default if ident == DEFAULT_EXPERIMENT else by_id.get(ident, ident))
    return projects


def mlflow_artifact_run(path: str) -> str:
    """The run an MLflow artifact path (``EXPERIMENT/RUN/artifacts/...``) belongs to."""
    from shipyard.server.routes.mlflow.artifacts import locate
    from shipyard.server.routes.mlflow.errors import MlflowError

    try:
        return locate(path)[0]
    except MlflowError:
        return ""


def _lineage_projects(store: TrackingStore, values: dict[str, list[Any]], default: str) -> set[str]:
    """The project of the object a lineage walk starts from (the walk then follows the
    links it finds: names of linked objects in other projects are part of the answer)."""
    from shipyard.lineage import dataset_ref, model_ref

    kind = next(iter(_strings(values, ["kind"])), "feature-view")
    ident = next(iter(_strings(values, ["ident", "name"])), "")
    named = _strings(values, ["project"])
    try:
        if kind == "prediction":
            return _prediction_projects(store, [ident])
        if kind == "model":
            return _model_project(store, model_ref(ident).name)
        if kind == "run":
            return _run_project(store, ident)
        if kind == "dataset":
            return {dataset_ref(ident).project or (named[0] if named else default)}
    except ShipyardError:
        return set()
    return {named[0] if named else default}  # a feature view, in its project


def _quietly(lookup: Any, *args: Any) -> set[str]:
    try:
        found = lookup(*args)
    except ShipyardError:
        return set()
    return {found} if found else set()


def _run_project(store: TrackingStore, run_id: str) -> set[str]:
    return _quietly(_project_of_run, store, run_id)


def _project_of_run(store: TrackingStore, run_id: str) -> str:
    return str(store.get_run(run_id).project)


# -- runs never move to another project: each app remembers the ones it has seen ---------


class _NeedsStore(Exception):
    """A lookup the remembered runs cannot answer: resolve in a thread, with the store."""


def _run_projects(state: Any) -> dict[str, str]:
    try:
        known: dict[str, str] = state.run_projects
    except AttributeError:
        known = state.run_projects = {}
    if len(known) > 100_000:
        known.clear()
    return known


class _KnownRuns:
    """Answers ``get_run(id).project`` from memory and nothing else."""

    def __init__(self, known: dict[str, str]) -> None:
        self._known = known

    def get_run(self, run_id: str) -> Any:
        try:
            return _Project(self._known[run_id])
        except KeyError:
            raise _NeedsStore from None

    def __getattr__(self, name: str) -> Any:
        raise _NeedsStore


class _RunsNoted:
    """The store, remembering the project of every run it is asked for."""

    def __init__(self, store: TrackingStore, known: dict[str, str]) -> None:
        self._store, self._known = store, known

    def get_run(self, run_id: str) -> Any:
        if run_id not in self._known:
            self._known[run_id] = self._store.get_run(run_id).project
        return _Project(self._known[run_id])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@dataclasses.dataclass(frozen=True)
class _Project:
    project: str


def _model_project(store: TrackingStore, name: str) -> set[str]:
    """A model belongs to the project of the run its first version came from."""

    def lookup() -> str | None:
        for version in store.models.list_model_versions(name):
            if version.run_id:
                return _project_of_run(store, version.run_id)
        return None

    return _quietly(lookup)


def _monitor_project(store: TrackingStore, name: str) -> set[str]:
    try:
        model = store.monitors.get_monitor(name).model
    except ShipyardError:
        return set()
    return _model_project(store, model)


def _prediction_projects(store: TrackingStore, ids: list[str]) -> set[str]:
    try:
        models = {p.model for p in store.predictions.get(ids)}
    except ShipyardError:
        return set()
    return {project for model in models for project in _model_project(store, model)}


def _flow_project(store: TrackingStore, flow: str, number: str | None) -> set[str]:
    def lookup() -> str | None:
        if number is not None and number.isdigit():
            return _project_of_run(store, store.flows.get_flow_run(flow, int(number)).run_id)
        runs = store.flows.list_flow_runs(flow)
        return _project_of_run(store, runs[0].run_id) if runs else None

    return _quietly(lookup)


def model_projects(store: TrackingStore, name: str) -> set[str]:
    """The project a model belongs to (empty: none known), for pages that list models."""
    return _model_project(store, name)


__all__ = ["model_projects", "projects_of", "rpc_need"]
