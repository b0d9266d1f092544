"""Tracking: projects, runs, params, metrics, tags and artifact records, and the store
that holds them (the other capabilities' stores are its attributes)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from shipyard.store.base.audit_log import AuditStore
    from shipyard.store.base.event_store import EventStore
    from shipyard.store.base.feature_meta import FeatureMetaStore
    from shipyard.store.base.flow_store import FlowStore
    from shipyard.store.base.identity_store import IdentityStore
    from shipyard.store.base.model_registry import ModelRegistryStore
    from shipyard.store.base.monitor_store import MonitorStore
    from shipyard.store.base.prediction_log import PredictionLogStore


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING


@dataclass(frozen=True, slots=True)
class Project:
    id: int
    name: str
    description: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class Metric:
    """One point. ``value`` is a float; NaN is stored as SQL NULL and read back as NaN."""

    key: str
    value: float
    step: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: str
    project: str
    name: str
    status: RunStatus
    start_ms: int
    end_ms: int | None
    heartbeat_ms: int
    user: str
    host: str
    pid: int
    command: str
    code_version: str
    environment_hash: str | None
    parent_id: str | None
    kind: str
    deleted: bool
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NewRun:
    """What a caller supplies to create a run; the store assigns nothing but defaults."""

    id: str
    project: str
    name: str
    start_ms: int
    user: str = ""
    host: str = ""
    pid: int = 0
    command: str = ""
    code_version: str = ""
    environment_hash: str | None = None
    parent_id: str | None = None
    kind: str = "run"
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: tuple[ArtifactRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    run_id: str
    path: str
    blob_hash: str
    size: int
    serializer: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class BlobReference:
    """One place the metadata store names a blob, for checks such as ``shipyard doctor``.

    ``kind`` is artifact | environment | task_log | model_version | dataset | feature_object
    (or the table name for references added later); ``description`` says where, for people:
    "run 7f82a17a artifact 'model/model.pkl'".
    """

    blob_hash: str
    kind: str
    description: str


class TrackingStore(Protocol):
    """Projects, runs, params, metrics, tags and artifact records.

    ``log_batch`` is the one write primitive for run data; conveniences build on it.
    Every method is one transaction: it either happens entirely or not at all.
    """

    flows: FlowStore
    features: FeatureMetaStore
    models: ModelRegistryStore
    predictions: PredictionLogStore
    monitors: MonitorStore
    events: EventStore
    identity: IdentityStore
    audit: AuditStore

    def create_project(self, name: str, description: str = "") -> Project: ...
    def get_project(self, name: str) -> Project: ...
    def get_or_create_project(self, name: str) -> Project: ...
    def list_projects(self) -> list[Project]: ...

    def create_run(self, run: NewRun) -> RunRecord: ...
    def get_run(self, run_id: str) -> RunRecord: ...
    def set_run_status(self, run_id: str, status: RunStatus, end_ms: int | None) -> None: ...
    def set_run_name(self, run_id: str, name: str) -> None: ...
    def heartbeat(self, run_ids: Sequence[str], now_ms: int) -> None: ...
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None: ...
    def delete_tag(self, run_id: str, key: str) -> None: ...
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]: ...
    def get_metric_histories(
        self, run_ids: Sequence[str], keys: Sequence[str]
    ) -> dict[str, dict[str, list[Metric]]]:
        """Each run's history of each key (``{run_id: {key: points}}``, every run and key
        present, a key never logged as ``[]``), in one read; an unknown run is NotFound."""
        ...

    def search_runs(
        self,
        projects: Sequence[str] | None = None,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int = 1000,
        offset: int = 0,
        include_deleted: bool = False,
    ) -> list[RunRecord]: ...
    def count_runs(
        self,
        projects: Sequence[str] | None = None,
        filter: str = "",
        include_deleted: bool = False,
    ) -> int:
        """How many runs ``search_runs`` would find with no limit (one query)."""
        ...

    def set_deleted(self, run_ids: Sequence[str], deleted: bool) -> None: ...
    def purge_deleted_runs(self) -> list[str]: ...
    def running_runs(self) -> list[RunRecord]: ...
    def mark_killed(self, run_ids: Sequence[str], end_ms: int) -> list[str]: ...

    def add_artifacts(self, records: Sequence[ArtifactRecord]) -> None: ...
    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactRecord]: ...
    def get_artifact(self, run_id: str, path: str) -> ArtifactRecord: ...
    def referenced_blobs(self, include_deleted_runs: bool = True) -> set[str]: ...
    def blobs_in_use(self, hashes: Iterable[str]) -> set[str]: ...
    def blob_references(self) -> list[BlobReference]:
        """Every blob the store names and where (deleted runs included), in one read."""
        ...

    def blob_projects(self, blob_hash: str) -> set[str]:
        """The projects whose runs, tasks, model versions, datasets or feature definitions
        name the blob (who may read it on a server with auth on)."""
        ...

    def close(self) -> None: ...
