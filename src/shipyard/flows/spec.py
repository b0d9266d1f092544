"""FlowSpec: the base class of flows, written as in Metaflow.

    class TrainFlow(FlowSpec):
        alpha = Parameter("alpha", default=0.01)

        @step
        def start(self):
            self.data = load()
            self.next(self.train)
        ...

The class is read once into a ``FlowGraph`` (checked before anything runs); parameters
are class attributes holding ``Parameter`` objects.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from shipyard.errors import InvalidFlow, ShipyardError
from shipyard.flows.graph import FlowGraph
from shipyard.flows.parameters import Parameter, resolve
from shipyard.flows.step import is_step

if TYPE_CHECKING:  # at run time, only tasks need them (they load the blob store)
    from shipyard.flows.artifacts import ArtifactRef, ArtifactStore, Inputs

_NO_ITEM: Any = object()
RESERVED = frozenset(
    {"next", "input", "index", "graph", "parameters", "merge_artifacts", "foreach_stack"}
)


class FlowSpec:
    _graphs: ClassVar[dict[type, FlowGraph]] = {}

    def __init__(self, use_cli: bool = True) -> None:
        """``MyFlow()`` at the bottom of a flow file runs its command line, as in Metaflow."""
        self._transition: tuple[list[str], str | None] | None = None
        self._inherited: dict[str, ArtifactRef] = {}
        self._artifact_store: ArtifactStore | None = None
        self._item: Any = _NO_ITEM
        self._item_index: int | None = None
        if use_cli:
            from shipyard.flows.cli import main

            main(type(self))

    @classmethod
    def run(
        cls,
        *,
        max_workers: int | None = None,
        tags: Iterable[str] = (),
        executor: Any = None,
        progress: bool = False,
        **params: Any,
    ) -> Any:
        """Run the flow from Python or a notebook; returns the finished ``Run``.

        ``MyFlow.run(alpha=0.1)``: parameters by name; raises TaskFailed if a step fails.
        ``executor``: an Executor, or ``"local"`` / ``"ray"`` (default: the ``executor``
        setting; Ray at the ``ray_address`` setting, else a local Ray).
        """
        return _execute(cls, max_workers, tags, executor, params, None, None, progress)

    @classmethod
    def resume(
        cls,
        origin: str | int | None = None,
        step: str | None = None,
        *,
        max_workers: int | None = None,
        tags: Iterable[str] = (),
        executor: Any = None,
        progress: bool = False,
    ) -> Any:
        """Run again from where ``origin`` (a run number; default: the latest run) stopped,
        reusing its finished tasks; ``step`` reruns that step and everything after it."""
        return _execute(cls, max_workers, tags, executor, {}, origin or "latest", step, progress)

    def _bind(
        self,
        inherited: Mapping[str, ArtifactRef],
        store: ArtifactStore,
        item: Any = _NO_ITEM,
        index: int | None = None,
    ) -> None:
        """Prepare this instance to run one task on top of its parent's artifacts."""
        self._inherited = dict(inherited)
        self._artifact_store = store
        self._item, self._item_index = item, index

    def __getattr__(self, name: str) -> Any:
        """Only called for names not set on the instance: load a parent's artifact."""
        return self._artifact(name)

    def _artifact(self, name: str) -> Any:
        inherited = self.__dict__.get("_inherited", {})
        if name.startswith("_") or name not in inherited:
            raise AttributeError(
                f"{type(self).__name__} has no artifact or attribute '{name}'"
                + (f" (artifacts: {', '.join(sorted(inherited))})" if inherited else "")
            )
        store = self.__dict__["_artifact_store"]
        value = store.load(inherited[name])
        self.__dict__[name] = value  # later reads are free; mutations are kept
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if name in RESERVED or is_step(getattr(type(self), name, None)):
            raise InvalidFlow(
                f"{type(self).__name__}: self.{name} is reserved (a step or a "
                "FlowSpec method); choose another artifact name"
            )
        object.__setattr__(self, name, value)

    @property
    def input(self) -> Any:
        """In a foreach task: the item of the parent's list this task works on."""
        if self._item is _NO_ITEM:
            raise InvalidFlow("self.input exists only in the steps of a foreach")
        return self._item

    @property
    def index(self) -> int:
        """In a foreach task: the position of ``self.input`` in the parent's list."""
        if self._item_index is None:
            raise InvalidFlow("self.index exists only in the steps of a foreach")
        return self._item_index

    def merge_artifacts(
        self,
        inputs: Inputs,
        exclude: Iterable[str] | None = None,
        include: Iterable[str] | None = None,
    ) -> None:
        """In a join: carry over the artifacts all branches agree on (see artifacts.merge)."""
        from shipyard.flows.artifacts import Inputs, merge

        if not isinstance(inputs, Inputs):
            raise InvalidFlow("merge_artifacts(inputs) takes the join step's inputs")
        already = [k for k in self.__dict__ if not k.startswith("_")]
        self._inherited.update(merge(inputs, already, exclude or (), include or ()))

    def _artifacts(self, where: str) -> dict[str, ArtifactRef]:
        """After the step: what it assigned, stored, on top of what it inherited."""
        store = self._artifact_store
        if store is None:
            raise InvalidFlow(f"{where}: the task was not bound to an artifact store")
        values = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        return {**self._inherited, **store.save(where, values)}

    @classmethod
    def graph(cls) -> FlowGraph:
        """The checked graph of this flow (built once per class)."""
        if cls not in FlowSpec._graphs:
            FlowSpec._graphs[cls] = FlowGraph(cls)
        return FlowSpec._graphs[cls]

    @classmethod
    def parameters(cls) -> dict[str, Parameter]:
        """Parameters by their command-line name; their attribute must not shadow a step."""
        found: dict[str, Parameter] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                if isinstance(value, Parameter):
                    if value.name in found and found[value.name] is not value:
                        raise InvalidFlow(
                            f"{cls.__name__}: two parameters are named '{value.name}'"
                        )
                    found[value.name] = value
                    if is_step(getattr(cls, value.name, None)):
                        raise InvalidFlow(
                            f"{cls.__name__}: parameter '{value.name}' has the "
                            f"name of a step (attribute {attr})"
                        )
        return found

    def next(self, *steps: Any, foreach: str | None = None) -> None:
        """Name the step(s) that run after this one (the last statement of every step)."""
        names = [getattr(s, "__name__", repr(s)) for s in steps]
        if self._transition is not None:
            raise InvalidFlow(f"{type(self).__name__}: self.next() was called twice in a step")
        if foreach is not None and not isinstance(foreach, str):
            raise InvalidFlow('foreach= takes the name of an artifact: foreach="items"')
        self._transition = (names, foreach)


def _execute(
    cls: type[FlowSpec],
    max_workers: int | None,
    tags: Iterable[str],
    executor: Any,
    params: dict[str, Any],
    origin: str | int | None,
    step: str | None,
    progress: bool = False,
    fork: bool = False,
    ray_address: str | None = None,
) -> Any:
    """Run (or resume) ``cls``. ``fork``: the first worker may be a fork of this process
    (``python flow.py run`` asks for it: that process is ours, from its first line).
    ``executor``: an Executor, or the name of one (None: the ``executor`` setting)."""
    from shipyard.flows.client import Run
    from shipyard.flows.progress import Observer, progress_for
    from shipyard.flows.runtime import FlowRunner
    from shipyard.tracking import Client

    # everything that can be checked is checked before a worker process starts
    steps = [n.name for n in cls.graph().sorted_nodes()]
    if origin is None:
        resolve(cls.__name__, cls.parameters(), params)
    client = Client()  # its settings only: it opens its stores on first use
    owned = executor is None or isinstance(executor, str)
    pool = _pool(cls, executor, max_workers, fork, client, ray_address)  # workers start first
    observer: Observer | None = None
    try:
        resumed = _origin(cls, client, origin, step) if origin is not None else None
        observer = progress_for(cls.__name__, steps) if progress else None
        run_id = FlowRunner(cls, client, pool, tuple(tags), observer).run(params, origin=resumed)
    finally:
        if observer is not None:
            observer.close()
        if owned:
            pool.shutdown()
    return Run(run_id, client=client)


def _pool(
    cls: type[FlowSpec],
    executor: Any,
    max_workers: int | None,
    fork: bool,
    client: Any,
    ray_address: str | None,
) -> Any:
    """The executor given, or the one named (by ``executor`` or the ``executor`` setting):
    ``local``, ``ray`` (at ``ray_address``, else the ``ray_address`` setting) or one
    registered under the ``shipyard.executors`` entry point group."""
    if executor is not None and not isinstance(executor, str):
        return executor
    from shipyard.flows.executors import EXECUTORS

    name = executor or client.settings.executor
    if name == "local":
        return _local_pool(cls, max_workers, fork, client)
    factory = EXECUTORS.load(name)  # a missing extra: "pip install 'shipyard[ray]'"
    if name == "ray":
        return factory(max_workers, address=ray_address or client.settings.ray_address or None)
    return factory(max_workers)


def _local_pool(cls: type[FlowSpec], max_workers: int | None, fork: bool, client: Any) -> Any:
    """A LocalExecutor. Forking its first worker, this process first imports what both
    need (the store, the blob store, the task code: once, not once per process) and
    shares the flow class; the worker then opens its own stores while this process
    records the run. Nothing is open and no other thread runs yet: safe to fork."""
    from shipyard.flows.executors.local import LocalExecutor, can_fork
    from shipyard.flows.worker import client_for, share_flow

    if not (fork and can_fork()):
        return LocalExecutor(max_workers)
    import psutil  # noqa: F401  (both reap dead runs when they record their first run)

    from shipyard.flows import artifacts, runtime  # noqa: F401  (what the tasks run)
    from shipyard.store.registry import TRACKING_STORES, scheme_of

    uri, artifact_uri = client.settings.uri, client.settings.artifact_uri
    with contextlib.suppress(ShipyardError):  # opening the store says what is wrong
        TRACKING_STORES.load(scheme_of(uri))  # imports the backend, opens nothing (SQLite:
        # the sqlite3 fast path; SQLAlchemy is imported only if the schema must migrate)
    if uri.startswith("sqlite:"):
        import sqlite3  # noqa: F401  (SQLAlchemy imports its driver when it connects)
    client.blobs  # noqa: B018  (fsspec; creates no file handle)
    share_flow(cls)

    def warm() -> None:
        worker_client = client_for(uri, artifact_uri)
        worker_client.store  # noqa: B018
        worker_client.blobs  # noqa: B018

    return LocalExecutor(max_workers, fork=True, warm=warm)


def _origin(cls: type[FlowSpec], client: Any, origin: str | int, step: str | None) -> Any:
    """The run to resume: ``"latest"`` or a run number (``12`` or ``"TrainFlow/12"``)."""
    from shipyard.flows.resume import Origin

    flows = client.store.flows
    if origin == "latest":
        previous = flows.list_flow_runs(cls.__name__)
        if not previous:
            raise InvalidFlow(f"{cls.__name__} has no run to resume")
        record = previous[0]
    else:
        number = str(origin).rsplit("/", 1)[-1]
        if not number.isdigit():
            raise InvalidFlow(f"{origin!r} is not a run number of {cls.__name__}")
        record = flows.get_flow_run(cls.__name__, int(number))
    return Origin(client, record, cls.graph(), step)
