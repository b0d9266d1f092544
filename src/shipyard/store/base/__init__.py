"""Records and the small interfaces every metadata backend implements, one module per
capability, all re-exported here: import them from ``shipyard.store.base``.

Times are integer epoch milliseconds (UTC) at this layer: compact, portable between
SQLite and PostgreSQL, and cheap to write in bulk. The tracking API turns them into
timezone-aware datetimes for users.
"""

from __future__ import annotations

from shipyard.store.base.event_store import (
    DeploymentRecord,
    EventRecord,
    EventStore,
    FiringRecord,
)
from shipyard.store.base.feature_meta import (
    DatasetRecord,
    FeatureMetaStore,
    FeatureObject,
    FeatureStat,
    Materialization,
    NewFeatureObject,
)
from shipyard.store.base.flow_store import (
    FlowRunRecord,
    FlowStore,
    TaskRecord,
)
from shipyard.store.base.model_registry import (
    UNCHECKED,
    AliasMove,
    ModelRegistryStore,
    ModelVersionRecord,
    NewModelVersion,
    RegisteredModel,
)
from shipyard.store.base.monitor_store import (
    AlertDeliveryRecord,
    AlertRecord,
    MonitorRecord,
    MonitorResultRecord,
    MonitorStore,
)
from shipyard.store.base.prediction_log import (
    PredictionCall,
    PredictionLogStore,
    PredictionRecord,
    PredictionSegment,
)
from shipyard.store.base.tracking_store import (
    ArtifactRecord,
    BlobReference,
    Metric,
    NewRun,
    Project,
    RunRecord,
    RunStatus,
    TrackingStore,
)

__all__ = [
    "UNCHECKED",
    "AlertDeliveryRecord",
    "AlertRecord",
    "AliasMove",
    "ArtifactRecord",
    "BlobReference",
    "DatasetRecord",
    "DeploymentRecord",
    "EventRecord",
    "EventStore",
    "FeatureMetaStore",
    "FeatureObject",
    "FeatureStat",
    "FiringRecord",
    "FlowRunRecord",
    "FlowStore",
    "Materialization",
    "Metric",
    "ModelRegistryStore",
    "ModelVersionRecord",
    "MonitorRecord",
    "MonitorResultRecord",
    "MonitorStore",
    "NewFeatureObject",
    "NewModelVersion",
    "NewRun",
    "PredictionCall",
    "PredictionLogStore",
    "PredictionRecord",
    "PredictionSegment",
    "Project",
    "RegisteredModel",
    "RunRecord",
    "RunStatus",
    "TaskRecord",
    "TrackingStore",
]
