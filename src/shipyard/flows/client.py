"""Read flow results anywhere: ``Flow("TrainFlow").latest_run``, ``Run("TrainFlow/12")``,
``run["train"].task.data.model``, as in Metaflow's client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from shipyard.errors import InvalidArgument, NotFound
from shipyard.flows.artifacts import ArtifactStore, TaskView
from shipyard.flows.worker import task_refs
from shipyard.store import RunStatus
from shipyard.store.base import FlowRunRecord, TaskRecord
from shipyard.tracking import Client


class Flow:
    def __init__(self, name: str, client: Client | None = None) -> None:
        self.name = name
        self._client = client or Client()
        if not self._client.store.flows.list_flow_runs(name):
            raise NotFound(f"no runs of flow {name!r} yet")

    def runs(self, *tags: str) -> list[Run]:
        """Newest first; with tags, only runs carrying all of them."""
        found = [
            Run(r.run_id, client=self._client, record=r)
            for r in self._client.store.flows.list_flow_runs(self.name)
        ]
        return [r for r in found if set(tags) <= set(r.tags)]

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs())

    @property
    def latest_run(self) -> Run:
        return self.runs()[0]

    @property
    def latest_successful_run(self) -> Run | None:
        return next((r for r in self.runs() if r.successful), None)


class Run:
    """A flow run, by ``"Flow/number"`` pathspec or by its tracking run id."""

    def __init__(
        self, pathspec: str, client: Client | None = None, record: FlowRunRecord | None = None
    ) -> None:
        self._client = client or Client()
        flows = self._client.store.flows
        if record is None:
            if "/" in pathspec:
                flow_name, _, number = pathspec.partition("/")
                if not number.isdigit():
                    raise InvalidArgument(f"{pathspec!r} is not a run pathspec like 'Flow/12'")
                record = flows.get_flow_run(flow_name, int(number))
            else:
                record = flows.flow_run_of(pathspec)
        self._record = record
        self.id = record.run_id
        self.flow_name = record.flow_name
        self.number = record.number
        self.pathspec = f"{record.flow_name}/{record.number}"

    def __repr__(self) -> str:
        return f"Run('{self.pathspec}')"

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
    def info(self) -> Any:
        return self._client.get_run(self.id)

    @property
    def status(self) -> RunStatus:
        return self.info.status  # type: ignore[no-any-return]

    @property
    def successful(self) -> bool:
        return self.status is RunStatus.FINISHED

    @property
    def finished(self) -> bool:
        return self.status is not RunStatus.RUNNING

    @property
    def tags(self) -> list[str]:
        """The user's tags (``--tag``); Shipyard's own ``shipyard.*`` tags are left out."""
        return sorted(t for t in self.info.tags if not t.startswith("shipyard."))

    def steps(self) -> list[Step]:
        """The steps that ran, in the graph's order (start first); tasks started in the
        same millisecond cannot order them."""
        names: dict[str, list[TaskRecord]] = {}
        for task in self._client.store.flows.tasks(self.id):
            names.setdefault(task.step, []).append(task)
        rank = {name: i for i, name in enumerate(json.loads(self._record.graph or "{}"))}
        ordered = sorted(names.items(), key=lambda item: rank.get(item[0], len(rank)))
        return [Step(self, step, tasks) for step, tasks in ordered]

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps())

    def __getitem__(self, step: str) -> Step:
        tasks = self._client.store.flows.tasks(self.id, step)
        if not tasks:
            raise KeyError(f"{self.pathspec} has no step {step!r}")
        return Step(self, step, tasks)

    @property
    def data(self) -> TaskView:
        """The artifacts of the end step (what the flow produced)."""
        return self["end"].task.data


class Step:
    def __init__(self, run: Run, name: str, tasks: list[TaskRecord]) -> None:
        self.run = run
        self.name = name
        self._tasks = tasks

    def __repr__(self) -> str:
        return f"Step('{self.run.pathspec}/{self.name}')"

    def tasks(self) -> list[Task]:
        return [Task(self.run, t) for t in self._tasks]

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks())

    @property
    def task(self) -> Task:
        """The step's task (the successful one, if it was retried); for a foreach step, the
        first one: iterate the step for all of them."""
        done = [t for t in self._tasks if t.status is RunStatus.FINISHED] or self._tasks
        return Task(self.run, done[-1] if len({t.foreach_path for t in done}) == 1 else done[0])


class Task:
    def __init__(self, run: Run, record: TaskRecord) -> None:
        self.run = run
        self._record = record
        self.id = record.run_id
        self.step = record.step
        self.index = record.foreach_path
        self.pathspec = f"{run.pathspec}/{record.step}/{record.run_id}"

    def __repr__(self) -> str:
        return f"Task('{self.pathspec}')"

    @property
    def status(self) -> RunStatus:
        return self._record.status

    @property
    def successful(self) -> bool:
        return self._record.status is RunStatus.FINISHED

    @property
    def error(self) -> str | None:
        return self._record.error

    @property
    def data(self) -> TaskView:
        """Artifacts by name (``task.data.model``), each loaded on first access."""
        client = self.run._client
        refs = task_refs(client, self.id)
        return TaskView(self.step, self.id, refs, ArtifactStore(client.blobs))

    def __getitem__(self, name: str) -> Any:
        return getattr(self.data, name)

    def _text(self, blob_hash: str | None) -> str:
        return self.run._client.blobs.get_bytes(blob_hash).decode() if blob_hash else ""

    @property
    def stdout(self) -> str:
        return self._text(self._record.stdout_hash)

    @property
    def stderr(self) -> str:
        return self._text(self._record.stderr_hash)


def task_logs(pathspec: str, which: str = "stdout", client: Client | None = None) -> str:
    """Captured output of FLOW/NUMBER/STEP (all its tasks) or FLOW/NUMBER/STEP/TASK."""
    parts = pathspec.strip("/").split("/")
    if len(parts) not in (3, 4):
        raise InvalidArgument(f"{pathspec!r}: give FLOW/NUMBER/STEP or FLOW/NUMBER/STEP/TASK")
    run = Run("/".join(parts[:2]), client=client)
    tasks = run[parts[2]].tasks()
    if len(parts) == 4:
        tasks = [t for t in tasks if t.id.startswith(parts[3])]
        if not tasks:
            raise InvalidArgument(f"{pathspec}: no such task")
    chunks = []
    for task in tasks:
        text = task.stderr if which == "stderr" else task.stdout
        header = f"[{task.pathspec}{' ' + task.index if task.index else ''}]\n"
        chunks.append(header + text if len(tasks) > 1 else text)
    return "".join(chunks)
