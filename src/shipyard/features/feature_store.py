"""FeatureStore: the one object a user holds. It ties definitions (local or applied) to the
metadata store, the blob store, DuckDB for offline work and the online store.

    fs = FeatureStore(project="churn")
    fs.apply(load_repo("features/"))            # or `shipyard features apply`
    train = fs.get_training_set(entity_df, "churn_model").to_df()
    fs.materialize_incremental()
    fs.get_online_features("churn_model", [{"customer_id": 7}]).to_dict()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidFeature
from shipyard.features import offline
from shipyard.features._sql import MEMORY_SETTING, MemoryLimit, memory_guard
from shipyard.features.applied import Definitions, collect, rebuild
from shipyard.features.catalog import Catalog
from shipyard.features.definitions import FeatureService, FeatureView, FeatureViewProjection
from shipyard.features.encoding import epoch_us
from shipyard.features.offline import OnDemandRequest, ViewRequest
from shipyard.features.online.read import OnlinePlan, OnlineResponse, lookup, normalize_rows
from shipyard.features.plan import Plan, make_plan
from shipyard.features.retrieval import RetrievalJob
from shipyard.features.sources import SourceContext
from shipyard.tracking import Client, current_user

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.features.datasets import Dataset
    from shipyard.features.online import OnlineStore
    from shipyard.store.base import FeatureMetaStore

FeatureRequest = str | Sequence[str] | FeatureService

REGISTRY_CACHE_SECONDS = 10.0


class FeatureStore:
    """Feature definitions, training sets and online lookups for one project."""

    def __init__(
        self,
        project: str | None = None,
        *,
        client: Client | None = None,
        online_uri: str | None = None,
    ) -> None:
        self.client = client or Client()
        self.project = self.client.project_for_new_work(project or self.client.settings.project)
        self._online_uri = online_uri or self.client.settings.online_uri
        self._online: OnlineStore | None = None
        self._defs: Definitions | None = None
        self._defs_loaded = 0.0
        self._plans: dict[tuple[Any, ...], OnlinePlan] = {}
        self._lock = threading.Lock()
        self.catalog = Catalog(self)

    # -- plumbing ---------------------------------------------------------------------

    @property
    def meta(self) -> FeatureMetaStore:
        return self.client.store.features

    @property
    def online(self) -> OnlineStore:
        if self._online is None:
            from shipyard.features.online import open_online_store

            with self._lock:
                if self._online is None:
                    self._online = open_online_store(self._online_uri, self.project)
        return self._online

    @property
    def home(self) -> Path:
        return Path(self.client.settings.home)

    def source_context(self) -> SourceContext:
        # beside the blobs, so every machine of a team reads the same pushed rows
        root = str(self.client.settings.artifact_uri).rstrip("/")
        pushed = f"{root}/features/{self.project}/pushed"
        return SourceContext(pushed_dir=pushed, load_blob=self._load_blob)

    @property
    def memory_limit(self) -> MemoryLimit:
        """DuckDB's memory limit for offline work, and where the setting came from."""
        settings = self.client.settings
        source = settings.sources.get(MEMORY_SETTING, "default")
        return MemoryLimit(settings.duckdb_memory_limit or "", source)

    def connect(self) -> Any:
        limit = self.memory_limit.value or None
        return offline.connect(temp_dir=str(self.home / "tmp" / "duckdb"), memory_limit=limit)

    def now(self) -> datetime:
        return self.client.clock.now().astimezone(UTC)

    def close(self) -> None:
        if self._online is not None:
            self._online.close()
            self._online = None

    # -- registry ---------------------------------------------------------------------

    def definitions(self, refresh: bool = False) -> Definitions:
        """The applied definitions, rebuilt from the registry (cached for a few seconds)."""
        stale = time.monotonic() - self._defs_loaded > REGISTRY_CACHE_SECONDS
        if self._defs is None or refresh or stale:
            records = self.meta.latest_feature_objects(self.project)
            self._defs = rebuild(records, self._load_blob)
            self._defs_loaded = time.monotonic()
            self._plans.clear()
        return self._defs

    def plan(self, objects: Iterable[Any]) -> Plan:
        local = collect(objects)
        applied = self.meta.latest_feature_objects(self.project, include_deleted=True)
        return make_plan(self.project, local, applied)

    @memory_guard
    def apply(self, objects: Iterable[Any], *, allow_breaking: bool = True) -> Plan:
        """Record a new version of every added or changed definition, and tombstones for
        removed ones; all or nothing. Views are checked against their data first."""
        from shipyard.features.apply import apply_plan

        plan = self.plan(objects)
        if plan.breaking and not allow_breaking:
            names = ", ".join(f"{c.kind} {c.name}" for c in plan.breaking)
            raise InvalidFeature(
                f"refusing breaking changes to {names} (breaking changes were not allowed)"
            )
        apply_plan(self, plan)
        self.definitions(refresh=True)
        return plan

    def get_feature_view(self, name: str) -> Any:
        return self.definitions().view(name)

    def get_feature_service(self, name: str) -> FeatureService:
        defs = self.definitions()
        if name not in defs.services:
            known = ", ".join(sorted(defs.services)) or "none applied"
            raise InvalidFeature(f"no feature service {name!r} (known: {known})")
        return defs.services[name]

    def resolve(
        self, features: FeatureRequest
    ) -> tuple[list[ViewRequest], list[OnDemandRequest], str | None]:
        """Feature references ("view:feature"), a service, or a service name -> requests."""
        defs = self.definitions()
        service: str | None = None
        projections: list[FeatureViewProjection]
        if isinstance(features, FeatureService):
            service, projections = features.name, features.projections()
        elif isinstance(features, str) and ":" not in features:
            service = features
            projections = self.get_feature_service(features).projections()
        else:
            refs = [features] if isinstance(features, str) else list(features)
            if not refs:
                raise InvalidFeature("no features requested")
            projections = []
            for ref in refs:
                if not isinstance(ref, str) or ref.count(":") != 1:
                    raise InvalidFeature(f"feature reference {ref!r} must look like 'view:feature'")
                view_name, feature = ref.split(":")
                projections.append(defs.view(view_name)[feature])
        return (*_group(projections, defs), service)

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
            self, entity_df, features, timestamp_column, full_feature_names, start, end
        )

    get_historical_features = get_training_set  # Feast's name

    # -- online -----------------------------------------------------------------------

    @memory_guard
    def materialize(
        self, start: datetime | None, end: datetime, views: Sequence[str] | None = None
    ) -> dict[str, int]:
        from shipyard.features.materialize import materialize

        return materialize(self, start, end, views, incremental=False)

    @memory_guard
    def materialize_incremental(
        self, end: datetime | None = None, views: Sequence[str] | None = None
    ) -> dict[str, int]:
        """From each view's watermark (or TTL before ``end``) up to ``end`` (now)."""
        from shipyard.features.materialize import materialize

        return materialize(self, None, end or self.now(), views, incremental=True)

    @memory_guard
    def push(self, source: str, df: pd.DataFrame, *, to_offline: bool = True) -> int:
        from shipyard.features.online.push import push

        return push(self, source, df, to_offline)

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

    def online_plan(self, features: FeatureRequest, full_feature_names: bool = False) -> OnlinePlan:
        """The resolved request, cached until the registry cache refreshes."""
        self.definitions()  # a refresh drops the cached plans
        key = (_request_key(features), full_feature_names)
        plan = self._plans.get(key)
        if plan is None:
            views, on_demand, _ = self.resolve(features)
            offline_only = [r.view.name for r in views if not r.view.online]
            if offline_only:
                raise InvalidFeature(
                    f"feature view {offline_only[0]!r} is offline only (online=False)"
                )
            plan = self._plans[key] = OnlinePlan(views, on_demand, full_feature_names)
        return plan

    # -- datasets ---------------------------------------------------------------------

    def get_dataset(self, name: str, version: int | None = None) -> Dataset:
        from shipyard.features.datasets import Dataset

        return Dataset(self.meta.get_dataset(self.project, name, version), self)

    def list_datasets(self, name: str | None = None) -> list[Dataset]:
        from shipyard.features.datasets import Dataset

        return [Dataset(r, self) for r in self.meta.list_datasets(self.project, name)]

    # -- blobs ------------------------------------------------------------------------

    def _load_blob(self, ref: dict[str, Any]) -> Any:
        from shipyard.store.objects import load_object

        return load_object(self.client.blobs, ref["hash"], ref["serializer"])

    def store_blob(self, obj: Any) -> dict[str, Any]:
        from shipyard.store.objects import store_object

        info, serializer = store_object(self.client.blobs, obj)
        return {"hash": info.hash, "serializer": serializer}

    def user(self) -> str:
        return current_user() or "unknown"


def _request_key(features: FeatureRequest) -> Any:
    if isinstance(features, FeatureService):
        return ("service", features.name)
    return features if isinstance(features, str) else tuple(features)


def _group(
    projections: list[FeatureViewProjection], defs: Definitions
) -> tuple[list[ViewRequest], list[OnDemandRequest]]:
    """Merge projections per view, keep first-seen order, and add what on-demand views
    read as hidden features of their source views."""
    views: dict[str, ViewRequest] = {}
    on_demand: dict[str, OnDemandRequest] = {}
    for p in projections:
        if isinstance(p.view, FeatureView):
            req = views.setdefault(
                p.name, ViewRequest(p.view, [], defs.version("feature_view", p.name))
            )
            req.features += [f for f in p.features if f not in req.features]
        else:
            odr = on_demand.setdefault(
                p.name,
                OnDemandRequest(p.view, [], defs.version("on_demand_feature_view", p.name)),
            )
            odr.features += [f for f in p.features if f not in odr.features]
    for odr in on_demand.values():
        for source in odr.view.source_views():
            assert isinstance(source.view, FeatureView)
            req = views.setdefault(
                source.name,
                ViewRequest(source.view, [], defs.version("feature_view", source.name)),
            )
            req.hidden += [
                f for f in source.features if f not in req.features and f not in req.hidden
            ]
    return list(views.values()), list(on_demand.values())
