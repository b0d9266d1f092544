"""FeatureStore: the one object a user holds. It ties definitions (local or applied) to the
metadata store, the blob store, DuckDB for offline work and the online store.

    fs = FeatureStore(project="churn")
    fs.apply(load_repo("features/"))            # or `shipyard features apply`
    train = fs.get_training_set(entity_df, "churn_model").to_df()
    fs.materialize_incremental()
    fs.get_online_features("churn_model", [{"customer_id": 7}]).to_dict()
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidFeature
from shipyard.features._sql import MemoryLimit, memory_guard
from shipyard.features.applied import Definitions, collect
from shipyard.features.catalog import Catalog
from shipyard.features.context import FeatureContext
from shipyard.features.definitions import FeatureService
from shipyard.features.encoding import epoch_us
from shipyard.features.offline import OnDemandRequest, ViewRequest
from shipyard.features.online.base import LazyOnlineStore
from shipyard.features.online.read import (
    OnlineLookup,
    OnlinePlan,
    OnlinePlans,
    OnlineResponse,
    lookup,
    normalize_rows,
)
from shipyard.features.plan import Plan, make_plan
from shipyard.features.resolve import FeatureRequest, feature_service, resolve
from shipyard.features.retrieval import RetrievalJob
from shipyard.features.sources import SourceContext
from shipyard.tracking import Client

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from shipyard.features.datasets import Dataset
    from shipyard.features.online import OnlineStore
    from shipyard.store.base import FeatureMetaStore


class FeatureStore:
    """Feature definitions, training sets and online lookups for one project.

    The work is done by helper modules, each given ``self.context`` (a ``FeatureContext``);
    this class only builds that context, opens and closes the online store, and delegates.
    """

    def __init__(
        self,
        project: str | None = None,
        *,
        client: Client | None = None,
        online_uri: str | None = None,
        trust_code: bool = True,
    ) -> None:
        self.client = client or Client()
        self.project = self.client.project_for_new_work(project or self.client.settings.project)
        self._online = LazyOnlineStore(online_uri or self.client.settings.online_uri, self.project)
        self._plans = OnlinePlans()
        self.context = FeatureContext.for_client(
            self.project, self.client, self._online, trust_code
        )
        self.catalog = Catalog(self.context)

    # -- plumbing ---------------------------------------------------------------------

    @property
    def meta(self) -> FeatureMetaStore:
        return self.context.meta

    @property
    def online(self) -> OnlineStore:
        return self._online()

    @property
    def home(self) -> Path:
        return self.context.home

    def source_context(self) -> SourceContext:
        return self.context.source_context()

    @property
    def memory_limit(self) -> MemoryLimit:
        """DuckDB's memory limit for offline work, and where the setting came from."""
        return self.context.memory_limit

    def connect(self) -> duckdb.DuckDBPyConnection:
        return self.context.connect()

    def now(self) -> datetime:
        return self.context.now()

    def close(self) -> None:
        """Close the online store and release the offline DuckDB database and the
        prepared rows held in memory (after their files are written); read the training
        sets you made before closing. The store reopens what it needs if used again."""
        self._online.close()
        self.context.close_offline()

    # -- registry ---------------------------------------------------------------------

    def definitions(self, refresh: bool = False) -> Definitions:
        """The applied definitions, rebuilt from the registry (cached for a few seconds)."""
        return self.context.definitions(refresh)

    def plan(self, objects: Iterable[Any]) -> Plan:
        local = collect(objects)
        applied = self.meta.latest_feature_objects(self.project, include_deleted=True)
        return make_plan(self.project, local, applied)

    @memory_guard
    def apply(
        self, objects: Iterable[Any], *, allow_breaking: bool = True, prepare: bool = True
    ) -> Plan:
        """Record a new version of every added or changed definition, and tombstones for
        removed ones; all or nothing. Views are checked against their data first.

        ``prepare``: then prepare the training-set rows of every added or changed view
        (``prepare``), so that its first training set does not have to; a view that
        fails to prepare is logged, not raised (the apply is done)."""
        from shipyard.features.apply import apply_plan
        from shipyard.features.training import prepare_views

        plan = self.plan(objects)
        if plan.breaking and not allow_breaking:
            names = ", ".join(f"{c.kind} {c.name}" for c in plan.breaking)
            raise InvalidFeature(
                f"refusing breaking changes to {names} (breaking changes were not allowed)"
            )
        apply_plan(self.context, plan)
        self.definitions(refresh=True)
        if prepare:
            changed = [
                c.name for c in plan.pending if c.kind == "feature_view" and c.action != "remove"
            ]
            prepare_views(self.context, changed, quiet=True)
        return plan

    @memory_guard
    def prepare(self, views: Sequence[str] | None = None) -> dict[str, float]:
        """Prepare the training-set rows of these applied views (None: every view) now:
        each view's rows read, sorted and de-duplicated once per (view version, source
        data) and kept under ``<home>/cache``, where every later training set finds
        them. ``apply`` does this for the views it adds or changes; call it after new
        source data arrives. Returns the seconds each view took (views of SQL sources
        are skipped: they are prepared per training set)."""
        from shipyard.features.training import prepare_views

        return prepare_views(self.context, views)

    def get_feature_view(self, name: str) -> Any:
        return self.definitions().view(name)

    def get_feature_service(self, name: str) -> FeatureService:
        return feature_service(self.definitions(), name)

    def resolve(
        self, features: FeatureRequest
    ) -> tuple[list[ViewRequest], list[OnDemandRequest], str | None]:
        """Feature references ("view:feature"), a service, or a service name -> requests."""
        return resolve(self.definitions(), features)

    # -- offline ----------------------------------------------------------------------

    @memory_guard
    def get_training_set(
        self,
        entity_df: Any = None,
        features: FeatureRequest = (),
        *,
        timestamp_column: str | None = None,
        full_feature_names: bool = False,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> RetrievalJob:
        """Point-in-time correct features for each entity row (see ``offline``).

        Without ``entity_df``, the entity rows are every (keys, event time) of the
        requested views between ``start`` and ``end``.
        """
        from shipyard.features.training import build_job

        return build_job(
            self.context, entity_df, features, timestamp_column, full_feature_names, start, end
        )

    get_historical_features = get_training_set  # Feast's name

    # -- online -----------------------------------------------------------------------

    @memory_guard
    def materialize(
        self, start: datetime | None, end: datetime, views: Sequence[str] | None = None
    ) -> dict[str, int]:
        from shipyard.features.materialize import materialize

        return materialize(self.context, start, end, views, incremental=False)

    @memory_guard
    def materialize_incremental(
        self, end: datetime | None = None, views: Sequence[str] | None = None
    ) -> dict[str, int]:
        """From each view's watermark (or TTL before ``end``) up to ``end`` (now)."""
        from shipyard.features.materialize import materialize

        return materialize(self.context, None, end or self.now(), views, incremental=True)

    @memory_guard
    def push(self, source: str, df: pd.DataFrame, *, to_offline: bool = True) -> int:
        from shipyard.features.push import push

        return push(self.context, source, df, to_offline)

    def get_online_features(
        self,
        features: FeatureRequest,
        entity_rows: Any,
        *,
        full_feature_names: bool = False,
    ) -> OnlineResponse:
        plan = self.online_plan(features, full_feature_names)
        rows = normalize_rows(entity_rows)
        return lookup(plan, self.online, rows, epoch_us(self.client.clock.now()))

    def online_lookup(
        self, features: FeatureRequest, *, full_feature_names: bool = False
    ) -> OnlineLookup:
        """``features`` planned once, for many lookups (a prediction server):
        ``lookup(entity_rows)`` answers as ``get_online_features`` does."""
        return OnlineLookup(self.context, features, full_feature_names)

    def online_plan(self, features: FeatureRequest, full_feature_names: bool = False) -> OnlinePlan:
        """The resolved request, cached until the registry cache refreshes."""
        return self._plans.get(self.definitions(), features, full_feature_names)

    # -- datasets ---------------------------------------------------------------------

    def get_dataset(self, name: str, version: int | None = None) -> Dataset:
        from shipyard.features.datasets import Dataset

        return Dataset(self.meta.get_dataset(self.project, name, version), self.context)

    def list_datasets(self, name: str | None = None) -> list[Dataset]:
        from shipyard.features.datasets import Dataset

        return [Dataset(r, self.context) for r in self.meta.list_datasets(self.project, name)]

    # -- blobs ------------------------------------------------------------------------

    def store_blob(self, obj: Any) -> dict[str, Any]:
        return self.context.store_blob(obj)

    def user(self) -> str:
        return self.context.user()
