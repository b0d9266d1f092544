"""Task artifacts: every public attribute a step assigns to ``self`` is stored after the
step, content-addressed (identical values are stored once across tasks and runs), and
recorded as a reference. Downstream tasks start from their parents' references and load
an artifact only when the step first reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.errors import InvalidArgument, InvalidFlow
from shipyard.store.blobs import BlobStore
from shipyard.store.objects import load_object, store_object


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    name: str
    blob_hash: str
    serializer: str
    size: int


class ArtifactStore:
    """Saves and loads artifacts through the blob store; counts loads (lazy loading shows)."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self.loads = 0

    def save(self, where: str, values: Mapping[str, Any]) -> dict[str, ArtifactRef]:
        refs = {}
        for name, value in values.items():
            try:
                info, serializer = store_object(self.blobs, value)
            except InvalidArgument as exc:
                raise InvalidFlow(
                    f"{where}: artifact self.{name} cannot be stored: {exc.message}"
                ) from exc
            refs[name] = ArtifactRef(name, info.hash, serializer, info.size)
        return refs

    def load(self, ref: ArtifactRef) -> Any:
        self.loads += 1
        return load_object(self.blobs, ref.blob_hash, ref.serializer)


class TaskView:
    """A finished task's artifacts, read-only, each loaded on first access."""

    def __init__(
        self, step: str, task_id: str, refs: Mapping[str, ArtifactRef], store: ArtifactStore
    ) -> None:
        self._step = step
        self._task_id = task_id
        self._refs = dict(refs)
        self._store = store
        self._loaded: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._refs:
            known = ", ".join(sorted(self._refs)) or "none"
            raise AttributeError(
                f"task {self._step}/{self._task_id} has no artifact '{name}' (artifacts: {known})"
            )
        if name not in self._loaded:
            self._loaded[name] = self._store.load(self._refs[name])
        return self._loaded[name]

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_"):
            raise InvalidFlow(f"inputs are read-only: assign self.{name} in the join step")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return f"<task {self._step}/{self._task_id}: {', '.join(sorted(self._refs))}>"


class Inputs:
    """What a join step receives: its parent tasks, in order; ``inputs.a`` is branch a."""

    def __init__(self, views: Iterable[TaskView]) -> None:
        self._views = list(views)

    def __iter__(self) -> Iterator[TaskView]:
        return iter(self._views)

    def __len__(self) -> int:
        return len(self._views)

    def __getitem__(self, index: int) -> TaskView:
        return self._views[index]

    def __getattr__(self, step: str) -> TaskView:
        if step.startswith("_"):
            raise AttributeError(step)
        found = [v for v in self._views if v._step == step]
        if len(found) != 1:
            steps = ", ".join(sorted({v._step for v in self._views}))
            raise AttributeError(
                f"inputs.{step}: "
                + (
                    "several tasks of that step (a foreach): iterate over inputs instead"
                    if found
                    else f"no branch named '{step}' (branches: {steps})"
                )
            )
        return found[0]


def merge(
    inputs: Inputs,
    already_set: Iterable[str],
    exclude: Iterable[str] = (),
    include: Iterable[str] = (),
) -> dict[str, ArtifactRef]:
    """References to carry into a join, compared by hash, never loaded.

    An artifact merges when every branch that has it has the same value; artifacts the
    join already set, and excluded ones, are left alone; any other difference is an error
    naming each conflicting artifact and the branches that disagree.
    """
    exclude, include = set(exclude), set(include)
    if exclude and include:
        raise InvalidFlow("merge_artifacts takes include= or exclude=, not both")
    names = {name for view in inputs for name in view._refs}
    missing = include - names
    if missing:
        raise InvalidFlow(f"merge_artifacts: no branch has {', '.join(sorted(missing))}")
    wanted = (include or names) - exclude - set(already_set)
    merged, conflicts = {}, []
    for name in sorted(wanted):
        holders = [v for v in inputs if name in v._refs]
        if len({v._refs[name].blob_hash for v in holders}) > 1:
            where = ", ".join(f"{v._step}/{v._task_id}" for v in holders)
            conflicts.append(f"'{name}' ({where})")
        else:
            merged[name] = holders[0]._refs[name]
    if conflicts:
        raise InvalidFlow(
            "merge_artifacts: these artifacts differ between branches: "
            + "; ".join(conflicts)
            + ". Assign them in the join step first, or pass exclude=[...]"
        )
    return merged
