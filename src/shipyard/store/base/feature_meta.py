"""Feature store metadata: definitions (feature objects), materializations, statistics
and datasets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class FeatureObject:
    """One immutable version of a feature definition (entity, source, view, service).

    ``spec`` is the JSON-able definition; ``fingerprint`` its hash, so "changed?" is one
    comparison. A removal is recorded as a new version with ``deleted`` set: history stays.
    ``blobs`` are the content hashes the spec refers to (pickled functions, DataFrame data).
    """

    project: str
    kind: str  # entity | source | feature_view | on_demand_feature_view | feature_service
    name: str
    version: int
    spec: dict[str, Any]
    fingerprint: str
    deleted: bool
    created_by: str
    created_ms: int
    blobs: tuple[str, ...] = ()


@dataclass(frozen=True)
class NewFeatureObject:
    """A change to apply. ``base_version`` is the latest version the plan was made against
    (0: the object is new); if the store has moved on since, the apply is refused."""

    kind: str
    name: str
    spec: dict[str, Any]
    fingerprint: str
    base_version: int = 0
    deleted: bool = False
    blobs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Materialization:
    """One write into the online store: a materialize over [start_ms, end_ms) or a push."""

    project: str
    view: str
    view_version: int
    kind: str  # materialize | push
    start_ms: int | None
    end_ms: int
    rows: int
    created_ms: int
    duration_ms: int


@dataclass(frozen=True)
class FeatureStat:
    """Profile of one feature's values, computed at apply or materialize time."""

    project: str
    view: str
    view_version: int
    feature: str
    dtype: str
    count: int
    null_count: int
    distinct_count: int | None
    min_value: Any  # JSON-able: number or string; None when not comparable
    max_value: Any
    mean: float | None
    computed_ms: int
    computed_at: str  # apply | materialize


@dataclass(frozen=True)
class DatasetRecord:
    """A saved training set: an immutable Parquet blob plus where its rows came from."""

    project: str
    name: str
    version: int
    blob_hash: str
    rows: int
    size: int
    lineage: dict[str, Any]  # feature view versions, source fingerprints, entity df hash
    created_by: str
    created_ms: int
    run_id: str | None


class FeatureMetaStore(Protocol):
    """Feature definitions (versioned), materializations, statistics and datasets.

    Every method is one transaction. Projects are created on first use.
    """

    def apply_feature_objects(
        self, project: str, changes: Sequence[NewFeatureObject], user: str, now_ms: int
    ) -> list[FeatureObject]:
        """Record each change as the next version of its object, all or nothing.

        Raises Conflict naming the object when a ``base_version`` is not the latest.
        """
        ...

    def latest_feature_objects(
        self, project: str, kind: str | None = None, include_deleted: bool = False
    ) -> list[FeatureObject]: ...
    def get_feature_object(
        self, project: str, kind: str, name: str, version: int | None = None
    ) -> FeatureObject: ...
    def feature_object_history(self, project: str, kind: str, name: str) -> list[FeatureObject]: ...

    def record_materialization(self, record: Materialization) -> None: ...
    def materializations(
        self, project: str, view: str | None = None, limit: int = 100
    ) -> list[Materialization]: ...
    def watermarks(self, project: str) -> dict[str, int]:
        """Per view, the latest ``end_ms`` of its ``materialize`` records."""
        ...

    def save_feature_stats(self, stats: Sequence[FeatureStat]) -> None: ...
    def feature_stats(self, project: str, view: str | None = None) -> list[FeatureStat]:
        """The latest statistics per (view, feature)."""
        ...

    def create_dataset(
        self,
        project: str,
        name: str,
        blob_hash: str,
        rows: int,
        size: int,
        lineage: dict[str, Any],
        user: str,
        now_ms: int,
        run_id: str | None = None,
    ) -> DatasetRecord:
        """Save the next version of dataset ``name``, with its ``dataset.saved`` event in
        the same transaction."""
        ...

    def get_dataset(self, project: str, name: str, version: int | None = None) -> DatasetRecord: ...
    def list_datasets(self, project: str, name: str | None = None) -> list[DatasetRecord]: ...
