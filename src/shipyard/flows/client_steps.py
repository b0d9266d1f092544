"""Steps, tasks and their artifacts in the flows client (see ``shipyard.flows.client``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipyard._clock import from_millis
from shipyard.errors import InvalidArgument, NotFound
from shipyard.flows.artifacts import ArtifactRef, ArtifactStore, TaskView
from shipyard.flows.decorators.card import CARD_PATH
from shipyard.flows.decorators.catch import CaughtException
from shipyard.flows.worker import task_refs
from shipyard.store import RunStatus
from shipyard.store.base import TaskRecord

if TYPE_CHECKING:
    from shipyard.flows.client import Run


def _run_of(pathspec: str, parts: int, example: str, client: Any) -> tuple[Run, list[str]]:
    """The run of a step or task pathspec, and the pathspec's parts."""
    from shipyard.flows.client import Run

    found = pathspec.strip("/").split("/")
    if len(found) != parts:
        raise InvalidArgument(f"{pathspec!r} is not a pathspec like {example!r}")
    return Run("/".join(found[:2]), client=client), found


class Step:
    """A step of a run: ``id`` is its name; iterating gives its tasks, newest first.
    ``Step("Flow/12/train")`` finds one by pathspec."""

    def __init__(
        self,
        run: Run | str,
        name: str | None = None,
        tasks: list[TaskRecord] | None = None,
        *,
        client: Any = None,
    ) -> None:
        if isinstance(run, str):
            run, parts = _run_of(run, 3, "Flow/12/train", client)
            name = parts[2]
            tasks = run._task_records(name)
            if not tasks:
                raise NotFound(f"{run.pathspec} has no step {name!r}")
        assert name is not None and tasks is not None, "Step(run, name, tasks)"
        self.run = self.parent = run
        self.name = self.id = name
        self.pathspec = f"{run.pathspec}/{name}"
        self._tasks = tasks

    def __repr__(self) -> str:
        return f"Step('{self.pathspec}')"

    def attempts(self) -> list[Task]:
        """Every attempt of every task (failed ones that @retry ran again too), in the
        order they started. Each attempt is a task of its own here, with its own id."""
        return [Task(self.run, t) for t in self._tasks]

    def tasks(self) -> list[Task]:
        """The step's tasks, newest first, as Metaflow lists them: one per foreach
        position, its latest attempt (see ``attempts()`` for the others)."""
        latest = self._latest_attempts()
        return [Task(self.run, t) for t in self._tasks if t in latest][::-1]

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks())

    def __getitem__(self, task_id: str) -> Task:
        for task in self._tasks:
            if task.run_id == task_id:
                return Task(self.run, task)
        raise KeyError(f"{self.pathspec} has no task {task_id!r}")

    @property
    def task(self) -> Task:
        """The step's task (the successful one, if it was retried); for a foreach step, the
        first one: iterate the step for all of them."""
        done = [t for t in self._tasks if t.status is RunStatus.FINISHED] or self._tasks
        return Task(self.run, done[-1] if len({t.foreach_path for t in done}) == 1 else done[0])

    @property
    def created_at(self) -> datetime:
        return from_millis(min(t.start_ms for t in self._tasks))

    @property
    def finished_at(self) -> datetime | None:
        ends = [t.end_ms for t in self._tasks]
        return None if None in ends else from_millis(max(e for e in ends if e is not None))

    @property
    def successful(self) -> bool:
        return all(t.status is RunStatus.FINISHED and not t.error for t in self._latest_attempts())

    def __len__(self) -> int:
        return len(self._latest_attempts())

    @property
    def finished(self) -> bool:
        return all(t.status is not RunStatus.RUNNING for t in self._tasks)

    def _latest_attempts(self) -> list[TaskRecord]:
        latest: dict[str, TaskRecord] = {}
        for task in self._tasks:
            if task.foreach_path not in latest or task.attempt >= latest[task.foreach_path].attempt:
                latest[task.foreach_path] = task
        return list(latest.values())


class Task:
    """One task (one attempt) of a step: its artifacts, output, status and exception.
    ``Task("Flow/12/train/<task id>")`` finds one by pathspec."""

    def __init__(self, run: Run | str, record: TaskRecord | None = None, *, client: Any = None):
        if isinstance(run, str):
            run, parts = _run_of(run, 4, "Flow/12/train/<task id>", client)
            found = [t for t in run._task_records(parts[2]) if t.run_id == parts[3]]
            if not found:
                raise NotFound(f"{run.pathspec}/{parts[2]} has no task {parts[3]!r}")
            record = found[0]
        assert record is not None, "Task(run, record)"
        self.run = run
        self._record = record
        self.id = record.run_id  # current.task_id, as the step saw it
        self.step = record.step
        self.foreach_path = record.foreach_path
        self.pathspec = f"{run.pathspec}/{record.step}/{record.run_id}"

    def __repr__(self) -> str:
        return f"Task('{self.pathspec}')"

    @property
    def parent(self) -> Any:
        """The task's ``Step``."""
        return self.run[self.step]

    @property
    def index(self) -> int | None:
        """In a foreach: the position of the task's item (innermost foreach), else None."""
        path = self._record.foreach_path
        return int(path.rsplit("/", 1)[-1]) if path else None

    @property
    def attempt(self) -> int:
        return self._record.attempt

    current_attempt = attempt  # Metaflow's name

    @property
    def status(self) -> RunStatus:
        return self._record.status

    @property
    def successful(self) -> bool:
        """Whether the step ran to its end without raising. As in Metaflow, a task whose
        exception @catch caught is finished (the run went on) but not successful."""
        return self._record.status is RunStatus.FINISHED and not self._record.error

    @property
    def finished(self) -> bool:
        return self._record.status is not RunStatus.RUNNING

    @property
    def created_at(self) -> datetime:
        return from_millis(self._record.start_ms)

    @property
    def finished_at(self) -> datetime | None:
        end = self._record.end_ms
        return None if end is None else from_millis(end)

    @property
    def error(self) -> str | None:
        return self._record.error

    @property
    def exception(self) -> CaughtException | None:
        """What the failed task raised (``type``, ``message``, ``traceback``), or None.
        As in Metaflow, an exception @catch caught is not here but in @catch's ``var``
        (``error`` has its text)."""
        error = self._record.error
        if not error or self._record.status is RunStatus.FINISHED:
            return None
        kind, _, message = error.partition(": ")
        return CaughtException(kind, message, self.stderr if not self.successful else "")

    @property
    def data(self) -> TaskView:
        """Artifacts by name (``task.data.model``), each loaded on first access."""
        return TaskView(self.step, self.id, self._refs(), self._store())

    @property
    def artifacts(self) -> TaskArtifacts:
        """Artifacts as objects: ``task.artifacts.model.data``, ``[a.id for a in ...]``."""
        return TaskArtifacts(self, self._refs(), self._store())

    def _refs(self) -> dict[str, ArtifactRef]:
        return task_refs(self.run._client, self.id)

    def _store(self) -> ArtifactStore:
        return ArtifactStore(self.run._client.blobs)

    def __getitem__(self, name: str) -> DataArtifact:
        return getattr(self.artifacts, name)  # type: ignore[no-any-return]

    def __contains__(self, name: str) -> bool:
        return name in self._refs()

    def __iter__(self) -> Iterator[DataArtifact]:
        return iter(self.artifacts)

    def _text(self, blob_hash: str | None) -> str:
        return self.run._client.blobs.get_bytes(blob_hash).decode() if blob_hash else ""

    @property
    def stdout(self) -> str:
        return self._text(self._record.stdout_hash)

    @property
    def stderr(self) -> str:
        return self._text(self._record.stderr_hash)

    @property
    def card(self) -> str | None:
        """The HTML card @card made for this task, or None."""
        client = self.run._client
        found = [a for a in client.list_artifacts(self.id) if a.path == CARD_PATH]
        return client.blobs.get_bytes(found[0].blob_hash).decode() if found else None


def get_cards(task: Task) -> list[str]:
    """The cards of a task (HTML), as Metaflow's ``get_cards``: none, or @card's one."""
    card = task.card
    return [] if card is None else [card]


class DataArtifact:
    """One artifact of a task: ``id``/``name``, ``data`` (loaded when read), ``sha``."""

    def __init__(self, task: Task, ref: ArtifactRef, store: ArtifactStore) -> None:
        self.task = self.parent = task
        self.id = self.name = ref.name
        self.sha = ref.blob_hash
        self.size = ref.size
        self.pathspec = f"{task.pathspec}/{ref.name}"
        self._ref, self._store = ref, store

    def __repr__(self) -> str:
        return f"DataArtifact('{self.pathspec}')"

    @property
    def data(self) -> Any:
        return self._store.load(self._ref)

    @property
    def created_at(self) -> datetime | None:
        return self.task.finished_at

    finished_at = created_at
    successful = finished = True


class TaskArtifacts:
    """A task's artifacts: by attribute (``.model``), by name (``["model"]``), iterated."""

    def __init__(self, task: Task, refs: dict[str, ArtifactRef], store: ArtifactStore) -> None:
        self._items = {name: DataArtifact(task, ref, store) for name, ref in sorted(refs.items())}

    def __getattr__(self, name: str) -> DataArtifact:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self._items) or "none"
            raise AttributeError(f"no artifact {name!r} (artifacts: {known})") from None

    def __getitem__(self, name: str) -> DataArtifact:
        return self.__getattr__(name)

    def __iter__(self) -> Iterator[DataArtifact]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items
