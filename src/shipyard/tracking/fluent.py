"""Module-level tracking functions over an active run kept in a ContextVar.

    with shipyard.start_run(project="churn", run_name="xgb-1") as run:
        shipyard.log_params({"max_depth": 6})
        for step, loss in enumerate(losses):
            shipyard.log_metric("loss", loss, step=step)

A run started without ``with`` ends at ``end_run()`` or at interpreter exit (FAILED if an
exception escaped, FINISHED otherwise). Logging with no active run starts one, as MLflow does.
"""

from __future__ import annotations

import atexit
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from types import TracebackType
from typing import Any

from shipyard.errors import Conflict
from shipyard.session import current_session
from shipyard.store import ArtifactRecord, Metric, Project, RunStatus
from shipyard.tracking.client import Client
from shipyard.tracking.records import Run

_active: ContextVar[tuple[ActiveRun, ...]] = ContextVar("shipyard_active_runs", default=())
_unended: dict[str, ActiveRun] = {}  # process-wide, for the exit handler
_client_lock = threading.Lock()
_client: Client | None = None
_crashed = False
_hooks_installed = False


class ActiveRun:
    """A started run: a context manager that ends it, with the tracking calls bound to it."""

    def __init__(self, client: Client, run: Run) -> None:
        self.client = client
        self.id = run.id
        self.name = run.name
        self.project = run.project
        self._ended = False

    @property
    def info(self) -> Run:
        return self.client.get_run(self.id)

    def __repr__(self) -> str:
        return f"<ActiveRun {self.project}/{self.name} id={self.id}>"

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            status = RunStatus.FINISHED
        elif issubclass(kind, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        self.end(status)

    def end(self, status: RunStatus | str = RunStatus.FINISHED) -> None:
        if self._ended:
            return
        self._ended = True
        _unended.pop(self.id, None)
        stack = _active.get()
        if self in stack:
            _active.set(tuple(r for r in stack if r is not self))
        self.client.end_run(self.id, status)

    def log_param(self, key: str, value: Any) -> None:
        self.client.log_param(self.id, key, value)

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.client.log_params(self.id, params)

    def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        self.client.log_metric(self.id, key, value, step)

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        self.client.log_metrics(self.id, metrics, step)

    def set_tag(self, key: str, value: Any) -> None:
        self.client.set_tag(self.id, key, value)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.client.set_tags(self.id, tags)

    def log_artifact(
        self, local_path: str | Path, artifact_path: str | None = None
    ) -> list[ArtifactRecord]:
        return self.client.log_artifact(self.id, local_path, artifact_path)


def _default_client() -> Client:
    """A client over the current session (remade when SHIPYARD_URI/HOME change)."""
    global _client
    session = current_session()
    with _client_lock:
        if _client is None or _client.session is not session:
            _client = Client(session=session)
        return _client


def _current() -> ActiveRun:
    stack = _active.get()
    return stack[-1] if stack else start_run()


def start_run(
    project: str | None = None,
    run_name: str | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    nested: bool = False,
    client: Client | None = None,
) -> ActiveRun:
    """Start a run and make it the active one; use it as a context manager to end it."""
    stack = _active.get()
    if stack and not nested:
        raise Conflict(
            f"run {stack[-1].name} ({stack[-1].id}) is still active; end it first, "
            "or pass nested=True to start a child run"
        )
    client = client or _default_client()
    _install_exit_hooks()
    run = client.create_run(
        project, run_name, params=params, tags=tags, parent_id=stack[-1].id if stack else None
    )
    active = ActiveRun(client, run)
    _active.set((*stack, active))
    _unended[run.id] = active
    return active


@contextmanager
def use_run(client: Client, run_id: str) -> Iterator[ActiveRun]:
    """Make an existing run the active one in this context (it is not ended on exit).

    Flows use it so that ``shipyard.log_metric`` inside a step logs to that step's task.
    """
    active = ActiveRun(client, client.get_run(run_id))
    token = _active.set((*_active.get(), active))
    try:
        yield active
    finally:
        _active.reset(token)


def active_run() -> ActiveRun | None:
    stack = _active.get()
    return stack[-1] if stack else None


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    stack = _active.get()
    if stack:
        stack[-1].end(status)


def log_param(key: str, value: Any) -> None:
    _current().log_param(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    _current().log_params(params)


def log_metric(key: str, value: Any, step: int | None = None) -> None:
    run = _current()
    run.client.log_metric(run.id, key, value, step)


def log_metrics(metrics: Mapping[str, Any], step: int | None = None) -> None:
    _current().log_metrics(metrics, step)


def set_tag(key: str, value: Any) -> None:
    _current().set_tag(key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    _current().set_tags(tags)


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> list[ArtifactRecord]:
    return _current().log_artifact(local_path, artifact_path)


def log_object(obj: Any, path: str) -> ArtifactRecord:
    run = _current()
    return run.client.log_object(run.id, obj, path)


def log_dict(data: Any, path: str) -> ArtifactRecord:
    run = _current()
    return run.client.log_dict(run.id, data, path)


def log_text(text: str, path: str) -> ArtifactRecord:
    run = _current()
    return run.client.log_text(run.id, text, path)


def log_figure(figure: Any, path: str) -> ArtifactRecord:
    run = _current()
    return run.client.log_figure(run.id, figure, path)


def get_run(run_id: str) -> Run:
    return _default_client().get_run(run_id)


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    return _default_client().get_metric_history(run_id, key)


def search_runs(
    projects: str | list[str] | None = None,
    filter: str = "",
    order_by: str | list[str] | None = None,
    limit: int = 1000,
    offset: int = 0,
    include_deleted: bool = False,
) -> list[Run]:
    """Runs matching a filter; see ``Client.search_runs``."""
    return _default_client().search_runs(projects, filter, order_by, limit, offset, include_deleted)


def load_artifact(run_id: str, path: str) -> Any:
    return _default_client().load_artifact(run_id, path)


def list_projects() -> list[Project]:
    return _default_client().list_projects()


def _end_unended_runs() -> None:
    status = RunStatus.FAILED if _crashed else RunStatus.FINISHED
    for run in list(_unended.values()):
        try:
            run.end(status)
        except Exception as exc:
            print(f"shipyard: could not end run {run.id}: {exc}", file=sys.stderr)


def _install_exit_hooks() -> None:
    """On first use: end runs left open at exit, FAILED if an exception escaped."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    previous = sys.excepthook

    def _excepthook(
        kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        global _crashed
        _crashed = True
        previous(kind, exc, tb)

    sys.excepthook = _excepthook
    atexit.register(_end_unended_runs)
