"""Feature store: declarative features, point-in-time training sets, online serving.

Feast's concepts under Feast's names (Entity, FeatureView, FeatureService, ...), with
DuckDB doing the offline joins and SQLite or Redis serving online lookups.

Where things live. ``FeatureStore`` (feature_store.py) is a thin facade: it builds one
``FeatureContext`` (context.py) and hands it to the helpers, which never import it back.

- definitions, sources, types: what users declare; repo: load a folder of them
- applied: definitions indexed by kind and name, rebuilt from the registry's records;
  plan: the diff against the applied ones; apply: record a plan
- resolve: a feature request (references or a service) -> per-view requests
- offline: the point-in-time join (entities, the DuckDB SQL); prepared: a view's rows
  sorted and de-duplicated for it, once per view version and data; cache: those kept in
  memory and under SHIPYARD_HOME/cache; asof: the join of in-memory entity rows by binary
  search; retrieval: RetrievalJob, the lazy result; training: assembles a training-set
  job; datasets: saved training sets
- materialize: materialize(); push: push(); online/write: the latest-row query and
  write_online(), the streamed writer both use
- online/read: online lookups (OnlinePlan, cached per request); online/base, sqlite,
  redis: the online store backends
- catalog: freshness, feature statistics, search
- shared: checks (a view's data against its schema), encoding (online keys and payloads),
  database (SqlSource rows from another database), _sql (quoting, DuckDB error mapping)
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
