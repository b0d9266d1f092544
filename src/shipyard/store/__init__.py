"""Storage interfaces and backends: metadata (SQL), blobs (fsspec) and their registry."""

from shipyard.store.base import (
    ArtifactRecord,
    Metric,
    Project,
    RunRecord,
    RunStatus,
    TrackingStore,
)
from shipyard.store.registry import open_blob_store, open_tracking_store

__all__ = [
    "ArtifactRecord",
    "Metric",
    "Project",
    "RunRecord",
    "RunStatus",
    "TrackingStore",
    "open_blob_store",
    "open_tracking_store",
]
