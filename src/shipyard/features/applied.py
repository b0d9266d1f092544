"""Definitions indexed by kind and name: local ones collected from a repo's objects, and
applied ones rebuilt as objects from their stored versions (the registry's records).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import InvalidFeature
from shipyard.features.definitions import (
    Entity,
    FeatureService,
    FeatureView,
    FeatureViewProjection,
    Field,
    OnDemandFeatureView,
    RequestSource,
    fingerprint,
    kind_of,
)
from shipyard.features.sources import PushSource, Source, source_from_spec
from shipyard.store.base import FeatureObject

KINDS = ("entity", "source", "feature_view", "on_demand_feature_view", "feature_service")


@dataclass
class Definitions:
    """Applied (or local) objects by kind and name, with their registry versions."""

    entities: dict[str, Entity] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    views: dict[str, FeatureView] = field(default_factory=dict)
    on_demand: dict[str, OnDemandFeatureView] = field(default_factory=dict)
    services: dict[str, FeatureService] = field(default_factory=dict)
    versions: dict[tuple[str, str], int] = field(default_factory=dict)
    records: dict[tuple[str, str], FeatureObject] = field(default_factory=dict)

    def by_kind(self, kind: str) -> dict[str, Any]:
        tables: dict[str, dict[str, Any]] = {
            "entity": self.entities,
            "source": self.sources,
            "feature_view": self.views,
            "on_demand_feature_view": self.on_demand,
            "feature_service": self.services,
        }
        return tables[kind]

    def version(self, kind: str, name: str) -> int | None:
        return self.versions.get((kind, name))

    def view(self, name: str) -> FeatureView | OnDemandFeatureView:
        if name in self.views:
            return self.views[name]
        if name in self.on_demand:
            return self.on_demand[name]
        known = ", ".join(sorted([*self.views, *self.on_demand])) or "none applied"
        raise InvalidFeature(
            f"no feature view {name!r} in the registry (known: {known}); "
            "run `shipyard features apply` after defining it"
        )


def collect(objects: Iterable[Any]) -> Definitions:
    """Index definitions by kind and name, adding the objects they refer to; two different
    definitions under one name are an error."""
    defs = Definitions()
    for obj in objects:
        _add(defs, obj)
    _check_references(defs)
    return defs


def _add(defs: Definitions, obj: Any) -> None:
    if isinstance(obj, FeatureViewProjection | RequestSource):
        if isinstance(obj, FeatureViewProjection):
            _add(defs, obj.view)
        return
    kind = kind_of(obj)
    table = defs.by_kind(kind)
    existing = table.get(obj.name)
    if existing is obj:
        return
    if existing is not None and fingerprint(existing.to_spec()) != fingerprint(obj.to_spec()):
        raise InvalidFeature(
            f"two different {kind.replace('_', ' ')} definitions are named {obj.name!r}; rename one"
        )
    table[obj.name] = obj
    if isinstance(obj, FeatureView):
        _add(defs, obj.source)
        for e in obj.entities:
            _add(defs, e)
    elif isinstance(obj, OnDemandFeatureView):
        for s in obj.sources:
            _add(defs, s)
    elif isinstance(obj, FeatureService):
        for item in obj.features:
            _add(defs, item)


def _check_references(defs: Definitions) -> None:
    names = [*defs.views, *defs.on_demand]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise InvalidFeature(f"{clash[0]!r} names both a feature view and an on-demand view")


def rebuild(
    records: Iterable[FeatureObject], load_blob: Callable[[dict[str, Any]], Any]
) -> Definitions:
    """Applied records back into objects, dependencies first.

    ``load_blob({"hash", "serializer"})`` loads a stored function or DataFrame.
    """
    defs = Definitions()
    by_kind: dict[str, list[FeatureObject]] = {k: [] for k in KINDS}
    for r in records:
        by_kind.setdefault(r.kind, []).append(r)
        defs.versions[(r.kind, r.name)] = r.version
        defs.records[(r.kind, r.name)] = r
    for r in by_kind["entity"]:
        defs.entities[r.name] = Entity(**r.spec)
    for r in by_kind["source"]:
        defs.sources[r.name] = source_from_spec(r.spec, load_blob)  # it copies the spec
    for r in by_kind["feature_view"]:
        defs.views[r.name] = _view_from_spec(r.spec, defs, load_blob)
    for r in by_kind["on_demand_feature_view"]:
        defs.on_demand[r.name] = _odfv_from_spec(r.spec, defs, load_blob)
    for r in by_kind["feature_service"]:
        items: list[Any] = [defs.view(f["view"])[f["features"]] for f in r.spec["features"]]
        spec = {k: v for k, v in r.spec.items() if k != "features"}
        defs.services[r.name] = FeatureService(features=items, **spec)
    return defs


def _view_from_spec(
    spec: dict[str, Any], defs: Definitions, load_blob: Callable[[dict[str, Any]], Any]
) -> FeatureView:
    from datetime import timedelta

    transformation = spec["transformation"]
    if isinstance(transformation, dict):
        transformation = load_blob(spec["blob_hashes"]["transformation"])
    ttl = spec["ttl_seconds"]
    return FeatureView(
        name=spec["name"],
        source=defs.sources[spec["source"]],
        schema=[Field.from_spec(f) for f in spec["schema"]],
        entities=[defs.entities[e] for e in spec["entities"]],
        ttl=timedelta(seconds=ttl) if ttl else None,
        transformation=transformation,
        online=spec["online"],
        description=spec["description"],
        owner=spec["owner"],
        tags=spec["tags"],
    )


def _odfv_from_spec(
    spec: dict[str, Any], defs: Definitions, load_blob: Callable[[dict[str, Any]], Any]
) -> OnDemandFeatureView:
    sources: list[Any] = [defs.views[s["view"]][s["features"]] for s in spec["sources"]]
    sources += [
        RequestSource(r["name"], [Field.from_spec(f) for f in r["schema"]])
        for r in spec["request_sources"]
    ]
    return OnDemandFeatureView(
        name=spec["name"],
        sources=sources,
        schema=[Field.from_spec(f) for f in spec["schema"]],
        udf=load_blob(spec["blob_hashes"]["udf"]),
        description=spec["description"],
        owner=spec["owner"],
        tags=spec["tags"],
        mode=spec.get("mode", "pandas"),  # absent: applied before modes existed
        singleton=spec.get("singleton", False),
    )


def push_sources(defs: Definitions) -> dict[str, PushSource]:
    return {n: s for n, s in defs.sources.items() if isinstance(s, PushSource)}
