"""Read flow results anywhere, as with Metaflow's client: ``Flow("TrainFlow").latest_run``,
``Run("TrainFlow/12")``, ``run["train"].task.data.model``, ``[s.id for s in run]``.

Every object has Metaflow's ``id``, ``pathspec``, ``parent``, ``created_at``,
``finished_at``, ``successful`` and ``finished``; runs and steps iterate newest first.
``Flow`` and ``Flow.runs()`` see the runs of the current namespace (see
``shipyard.flows.namespaces``); ``Run("Flow/12")`` of a run outside it is NotFound.

A ``Run`` is also the tracked run of the flow: ``run.info`` is its ``TrackedRun``
(status, times, user), and ``run.params``, ``run.metrics`` its parameters and metrics.
``run.id`` is the run number as text (``current.run_id``); ``run.tracking_id`` is the
tracking run's id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from shipyard.errors import InvalidArgument, NotFound
from shipyard.flows.artifacts import TaskView
from shipyard.flows.client_steps import Step, Task
from shipyard.flows.namespaces import get_namespace
from shipyard.store import RunStatus
from shipyard.store.base import FlowRunRecord, TaskRecord
from shipyard.tracking import Client

__all__ = ["Flow", "Metaflow", "Run", "Step", "Task", "get_metadata", "task_logs"]

PROJECT_TAG = "shipyard.project"  # @project(name=...) on the flow run
BRANCH_TAG = "shipyard.project_branch"


class Metaflow:
    """The root of the client: every flow with a run in the current namespace."""

    def __init__(self, client: Client | None = None) -> None:
        self._client = client or Client()

    @property
    def flows(self) -> list[Flow]:
        names = sorted({r.flow_name for r in self._client.store.flows.list_flow_runs()})
        found = [Flow(name, client=self._client, namespace_check=False) for name in names]
        return [f for f in found if get_namespace() is None or f.runs()]

    def __iter__(self) -> Iterator[Flow]:
        return iter(self.flows)

    def __repr__(self) -> str:
        return "Metaflow()"


class Flow:
    """A flow by name; NotFound when it never ran, or has no run in the namespace."""

    parent = None  # the root of the client's tree, as in Metaflow

    def __init__(
        self, name: str, client: Client | None = None, *, namespace_check: bool = True
    ) -> None:
        self.name = self.id = self.pathspec = name
        self._client = client or Client()
        if not self._client.store.flows.list_flow_runs(name):
            raise NotFound(f"no runs of flow {name!r} yet")
        ns = get_namespace()
        if namespace_check and ns is not None and not self.runs():
            raise NotFound(
                f"flow {name!r} has no run in namespace {ns!r}; call namespace(None) to "
                "see every run"
            )

    def __repr__(self) -> str:
        return f"Flow('{self.name}')"

    def runs(self, *tags: str, all_namespaces: bool = False) -> list[Run]:
        """Newest first; with tags, only runs carrying all of them. Only the current
        namespace's runs unless ``all_namespaces``."""
        found = [
            Run(r.run_id, client=self._client, record=r)
            for r in self._client.store.flows.list_flow_runs(self.name)
        ]
        ns = None if all_namespaces else get_namespace()
        return [r for r in found if set(tags) <= r.tags_all and (ns is None or ns in r.tags_all)]

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs())

    def __getitem__(self, run_id: str) -> Run:
        return Run(f"{self.name}/{run_id}", client=self._client)

    def __contains__(self, run_id: str) -> bool:
        return any(r.id == str(run_id) for r in self.runs(all_namespaces=True))

    @property
    def latest_run(self) -> Run | None:
        return next(iter(self.runs()), None)

    @property
    def latest_successful_run(self) -> Run | None:
        return next((r for r in self.runs() if r.successful), None)

    @property
    def created_at(self) -> datetime | None:
        runs = self.runs(all_namespaces=True)
        return runs[-1].created_at if runs else None


class Run:
    """A flow run, by ``"Flow/number"`` pathspec or by its tracking run id."""

    def __init__(
        self,
        pathspec: str,
        client: Client | None = None,
        record: FlowRunRecord | None = None,
        *,
        namespace_check: bool = True,
    ) -> None:
        self._client = client or Client()
        flows = self._client.store.flows
        checked = record is None and namespace_check
        if record is None:
            if "/" in pathspec:
                flow_name, _, number = pathspec.strip("/").partition("/")
                if not number.isdigit():
                    raise InvalidArgument(f"{pathspec!r} is not a run pathspec like 'Flow/12'")
                record = flows.get_flow_run(flow_name, int(number))
            else:
                record = flows.flow_run_of(pathspec)
                checked = False  # a tracking id names one run exactly
        self._record = record
        self.tracking_id = record.run_id
        self.flow_name = record.flow_name
        self.number = record.number
        self.id = str(record.number)  # current.run_id, as the steps saw it
        self.pathspec = f"{record.flow_name}/{record.number}"
        ns = get_namespace()
        if checked and ns is not None and ns not in self.tags_all:
            raise NotFound(
                f"{self.pathspec} is not in namespace {ns!r}; call namespace(None) to see every run"
            )

    def __repr__(self) -> str:
        return f"Run('{self.pathspec}')"

    @property
    def parent(self) -> Flow:
        return Flow(self.flow_name, client=self._client, namespace_check=False)

    @property
    def origin(self) -> Run | None:
        """The run this one resumed, if any."""
        origin_id = self._record.origin_run_id
        return None if origin_id is None else Run(origin_id, client=self._client)

    @property
    def origin_number(self) -> int | None:
        origin = self.origin
        return None if origin is None else origin.number

    @property
    def origin_pathspec(self) -> str | None:
        origin = self.origin
        return None if origin is None else origin.pathspec

    @property
    def info(self) -> Any:
        """The tracked run (``TrackedRun``): status, times, user, params, metrics, tags."""
        if not hasattr(self, "_info"):
            self._info = self._client.get_run(self.tracking_id)
        return self._info

    def refresh(self) -> Run:
        """Read the run's status again (a run still going changes)."""
        self.__dict__.pop("_info", None)
        return self

    @property
    def params(self) -> dict[str, str]:
        return dict(self.info.params)

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.info.metrics)

    @property
    def status(self) -> RunStatus:
        return self.refresh().info.status  # type: ignore[no-any-return]

    @property
    def successful(self) -> bool:
        return self.status is RunStatus.FINISHED

    @property
    def finished(self) -> bool:
        return self.status is not RunStatus.RUNNING

    @property
    def created_at(self) -> datetime:
        return self.info.start_time  # type: ignore[no-any-return]

    @property
    def finished_at(self) -> datetime | None:
        return self.refresh().info.end_time  # type: ignore[no-any-return]

    @property
    def tags(self) -> list[str]:
        """The user's tags (``--tag``), sorted; Shipyard's own ``shipyard.*`` tags are left
        out (Metaflow's ``tags`` also holds the system tags: see ``tags_all``)."""
        return sorted(_user_tags(self.info))

    @property
    def user_tags(self) -> frozenset[str]:
        return _user_tags(self.info)

    @property
    def system_tags(self) -> frozenset[str]:
        """``user:<who>``, ``runtime:dev``, and ``project:``/``project_branch:`` tags."""
        return _system_tags(self.info)

    @property
    def tags_all(self) -> frozenset[str]:
        return self.user_tags | self.system_tags

    def add_tag(self, tag: str) -> None:
        """Tag the run (as ``--tag`` does), as Metaflow's ``Run.add_tag``."""
        self.add_tags([tag])

    def add_tags(self, tags: Iterable[str]) -> None:
        self._client.set_tags(self.tracking_id, {_user_tag(t): "" for t in tags})
        self.refresh()

    def remove_tag(self, tag: str) -> None:
        self.remove_tags([tag])

    def remove_tags(self, tags: Iterable[str]) -> None:
        for tag in tags:
            if _user_tag(tag) in self.user_tags:
                self._client.delete_tag(self.tracking_id, tag)
        self.refresh()

    def replace_tag(self, tag_to_remove: str, tag_to_add: str) -> None:
        self.replace_tags([tag_to_remove], [tag_to_add])

    def replace_tags(self, tags_to_remove: Iterable[str], tags_to_add: Iterable[str]) -> None:
        self.remove_tags(tags_to_remove)
        self.add_tags(tags_to_add)

    def _task_records(self, step: str | None = None) -> list[TaskRecord]:
        return self._client.store.flows.tasks(self.tracking_id, step)

    def steps_in_graph_order(self) -> list[Step]:
        """The steps that ran, in the graph's order (start first)."""
        names: dict[str, list[TaskRecord]] = {}
        for task in self._task_records():
            names.setdefault(task.step, []).append(task)
        rank = {name: i for i, name in enumerate(json.loads(self._record.graph or "{}"))}
        ordered = sorted(names.items(), key=lambda item: rank.get(item[0], len(rank)))
        return [Step(self, step, tasks) for step, tasks in ordered]

    def steps(self) -> list[Step]:
        """The steps that ran, newest first (``end`` first), as Metaflow lists them."""
        return self.steps_in_graph_order()[::-1]

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps())

    def __getitem__(self, step: str) -> Step:
        tasks = self._task_records(step)
        if not tasks:
            raise KeyError(f"{self.pathspec} has no step {step!r}")
        return Step(self, step, tasks)

    def __contains__(self, step: str) -> bool:
        return bool(self._task_records(step))

    @property
    def end_task(self) -> Task | None:
        """The task of the ``end`` step; None while the run has not got there."""
        return self["end"].task if "end" in self else None

    @property
    def data(self) -> TaskView | None:
        """The artifacts of the end step (what the flow produced); None without one."""
        end = self.end_task
        return None if end is None else end.data

    @property
    def code(self) -> None:
        """Metaflow's code package: Shipyard records the code version on ``info`` instead."""
        return None


def get_metadata() -> str:
    """Where the client reads from, as Metaflow's ``get_metadata()``: ``local@<store>``
    for an embedded store, else ``service@<url>``."""
    uri = Client().settings.uri
    return f"{'service' if uri.startswith(('http:', 'https:')) else 'local'}@{uri}"


def _user_tag(tag: str) -> str:
    if not isinstance(tag, str) or not tag or tag.startswith("shipyard."):
        raise InvalidArgument(f"{tag!r} cannot be a user tag (shipyard.* tags are Shipyard's)")
    return tag


def _user_tags(info: Any) -> frozenset[str]:
    return frozenset(t for t in info.tags if not t.startswith("shipyard."))


def _system_tags(info: Any) -> frozenset[str]:
    found = {f"user:{info.user}", "runtime:dev"}
    if info.tags.get(PROJECT_TAG):
        found.add(f"project:{info.tags[PROJECT_TAG]}")
    if info.tags.get(BRANCH_TAG):
        found.add(f"project_branch:{info.tags[BRANCH_TAG]}")
    return frozenset(found)


def task_logs(pathspec: str, which: str = "stdout", client: Client | None = None) -> str:
    """Captured output of FLOW/NUMBER/STEP (all its tasks) or FLOW/NUMBER/STEP/TASK."""
    parts = pathspec.strip("/").split("/")
    if len(parts) not in (3, 4):
        raise InvalidArgument(f"{pathspec!r}: give FLOW/NUMBER/STEP or FLOW/NUMBER/STEP/TASK")
    run = Run("/".join(parts[:2]), client=client, namespace_check=False)
    tasks = run[parts[2]].attempts()
    if len(parts) == 4:
        tasks = [t for t in tasks if t.id.startswith(parts[3])]
        if not tasks:
            raise InvalidArgument(f"{pathspec}: no such task")
    chunks = []
    for task in tasks:
        text = task.stderr if which == "stderr" else task.stdout
        where = task.foreach_path
        header = f"[{task.pathspec}{' ' + where if where else ''}]\n"
        chunks.append(header + text if len(tasks) > 1 else text)
    return "".join(chunks)
