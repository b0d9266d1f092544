"""Feature store: declarative features, point-in-time training sets, online serving.

Feast's concepts under Feast's names (Entity, FeatureView, FeatureService, ...), with
DuckDB doing the offline joins and SQLite or Redis serving online lookups.
"""

from shipyard.features.catalog import FeatureInfo, ViewStatus
from shipyard.features.datasets import Dataset
from shipyard.features.definitions import (
    Entity,
    FeatureService,
    FeatureView,
    Field,
    OnDemandFeatureView,
    RequestSource,
    on_demand_feature_view,
)
from shipyard.features.feature_store import FeatureStore
from shipyard.features.online.read import FeatureStatus, OnlineResponse
from shipyard.features.plan import Plan
from shipyard.features.repo import load_repo
from shipyard.features.retrieval import RetrievalJob
from shipyard.features.sources import (
    DataFrameSource,
    FileSource,
    PushSource,
    SqlSource,
)
from shipyard.features.types import (
    Bool,
    Bytes,
    Dtype,
    Float32,
    Float64,
    Int32,
    Int64,
    String,
    Timestamp,
    UnixTimestamp,
)

__all__ = [
    "Bool",
    "Bytes",
    "DataFrameSource",
    "Dataset",
    "Dtype",
    "Entity",
    "FeatureInfo",
    "FeatureService",
    "FeatureStatus",
    "FeatureStore",
    "FeatureView",
    "Field",
    "FileSource",
    "Float32",
    "Float64",
    "Int32",
    "Int64",
    "OnDemandFeatureView",
    "OnlineResponse",
    "Plan",
    "PushSource",
    "RequestSource",
    "RetrievalJob",
    "SqlSource",
    "String",
    "Timestamp",
    "UnixTimestamp",
    "ViewStatus",
    "load_repo",
    "on_demand_feature_view",
]
