"""Records and the small interfaces every metadata backend implements, one module per
capability, all re-exported here: import them from ``shipyard.store.base``.

Times are integer epoch milliseconds (UTC) at this layer: compact, portable between
SQLite and PostgreSQL, and cheap to write in bulk. The tracking API turns them into
timezone-aware datetimes for users.

Each name is imported from its module on first use (PEP 562 ``__getattr__``): a flow run
needs the tracking and flow records, not the registry's, the monitors' or the prediction
log's (their dataclasses take milliseconds each to build). The imports under
``TYPE_CHECKING`` declare the same names for type checkers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.store.base.audit_log import AuditEntry, AuditStore
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
    from shipyard.store.base.identity_store import (
        IdentityStore,
        RoleBinding,
        TokenRecord,
        UserRecord,
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

_MODULES = {
    "AlertDeliveryRecord": "shipyard.store.base.monitor_store",
    "AlertRecord": "shipyard.store.base.monitor_store",
    "AliasMove": "shipyard.store.base.model_registry",
    "ArtifactRecord": "shipyard.store.base.tracking_store",
    "AuditEntry": "shipyard.store.base.audit_log",
    "AuditStore": "shipyard.store.base.audit_log",
    "BlobReference": "shipyard.store.base.tracking_store",
    "DatasetRecord": "shipyard.store.base.feature_meta",
    "DeploymentRecord": "shipyard.store.base.event_store",
    "EventRecord": "shipyard.store.base.event_store",
    "EventStore": "shipyard.store.base.event_store",
    "FeatureMetaStore": "shipyard.store.base.feature_meta",
    "FeatureObject": "shipyard.store.base.feature_meta",
    "FeatureStat": "shipyard.store.base.feature_meta",
    "FiringRecord": "shipyard.store.base.event_store",
    "FlowRunRecord": "shipyard.store.base.flow_store",
    "FlowStore": "shipyard.store.base.flow_store",
    "IdentityStore": "shipyard.store.base.identity_store",
    "Materialization": "shipyard.store.base.feature_meta",
    "Metric": "shipyard.store.base.tracking_store",
    "ModelRegistryStore": "shipyard.store.base.model_registry",
    "ModelVersionRecord": "shipyard.store.base.model_registry",
    "MonitorRecord": "shipyard.store.base.monitor_store",
    "MonitorResultRecord": "shipyard.store.base.monitor_store",
    "MonitorStore": "shipyard.store.base.monitor_store",
    "NewFeatureObject": "shipyard.store.base.feature_meta",
    "NewModelVersion": "shipyard.store.base.model_registry",
    "NewRun": "shipyard.store.base.tracking_store",
    "PredictionCall": "shipyard.store.base.prediction_log",
    "PredictionLogStore": "shipyard.store.base.prediction_log",
    "PredictionRecord": "shipyard.store.base.prediction_log",
    "PredictionSegment": "shipyard.store.base.prediction_log",
    "Project": "shipyard.store.base.tracking_store",
    "RegisteredModel": "shipyard.store.base.model_registry",
    "RoleBinding": "shipyard.store.base.identity_store",
    "RunRecord": "shipyard.store.base.tracking_store",
    "RunStatus": "shipyard.store.base.tracking_store",
    "TaskRecord": "shipyard.store.base.flow_store",
    "TokenRecord": "shipyard.store.base.identity_store",
    "TrackingStore": "shipyard.store.base.tracking_store",
    "UNCHECKED": "shipyard.store.base.model_registry",
    "UserRecord": "shipyard.store.base.identity_store",
}

__all__ = [
    "UNCHECKED",
    "AlertDeliveryRecord",
    "AlertRecord",
    "AliasMove",
    "ArtifactRecord",
    "AuditEntry",
    "AuditStore",
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
    "IdentityStore",
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
    "RoleBinding",
    "RunRecord",
    "RunStatus",
    "TaskRecord",
    "TokenRecord",
    "TrackingStore",
    "UserRecord",
]


def __getattr__(name: str) -> Any:
    """Import a record or interface from its module the first time it is asked for."""
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
