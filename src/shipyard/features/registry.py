"""Plan and apply: the diff between local definitions and the applied ones, and the
applied definitions rebuilt as objects.

Each applied object is an immutable version in the metadata store. A plan compares spec
fingerprints, lists field-level differences and flags breaking changes (ones that change
what existing training sets, online rows or consumers see).
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
class Change:
    kind: str
    name: str
    action: str  # add | change | remove | unchanged
    base_version: int
    diff: list[str] = field(default_factory=list)
    breaking: list[str] = field(default_factory=list)
    obj: Any = None
    spec: dict[str, Any] | None = None


@dataclass
class Plan:
    project: str
    changes: list[Change]

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.action != "unchanged"]

    @property
    def breaking(self) -> list[Change]:
        return [c for c in self.changes if c.breaking]


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


def spec_of(obj: Any) -> dict[str, Any]:
    return obj.to_spec()  # type: ignore[no-any-return]


def make_plan(project: str, local: Definitions, applied: Iterable[FeatureObject]) -> Plan:
    """``applied`` is the latest version of every object, removals (tombstones) included:
    re-adding a removed object is an addition planned against its tombstone's version."""
    current = {(o.kind, o.name): o for o in applied}
    changes: list[Change] = []
    for kind in KINDS:
        for name, obj in sorted(local.by_kind(kind).items()):
            spec = spec_of(obj)
            old = current.pop((kind, name), None)
            if old is None or old.deleted:
                base = 0 if old is None else old.version
                changes.append(Change(kind, name, "add", base, obj=obj, spec=spec))
            elif old.fingerprint == fingerprint(spec):
                changes.append(Change(kind, name, "unchanged", old.version, obj=obj, spec=spec))
            else:
                diff = diff_specs(old.spec, spec)
                breaking = breaking_changes(kind, old.spec, spec)
                changes.append(Change(kind, name, "change", old.version, diff, breaking, obj, spec))
    for (kind, name), old in sorted(current.items()):
        if old.deleted:  # removed before: nothing left to remove
            continue
        breaking = ["removed: consumers of it will fail"] if kind != "source" else []
        changes.append(Change(kind, name, "remove", old.version, breaking=breaking))
    return Plan(project, changes)


def diff_specs(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b or key == "blob_hashes":
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(diff_specs(a, b, f"{prefix}{key}."))
        elif key == "schema" and isinstance(a, list) and isinstance(b, list):
            out.extend(_schema_diff(a, b))
        else:
            out.append(f"{prefix}{key}: {_short(a)} -> {_short(b)}")
    return out


def breaking_changes(kind: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Changes that alter what consumers get for data they already have."""
    found = []
    if kind == "entity":
        if old["join_keys"] != new["join_keys"]:
            found.append("join keys changed: online rows and training joins change")
        if old["value_type"] != new["value_type"]:
            found.append("join key type changed")
    if kind in ("feature_view", "on_demand_feature_view"):
        before = {f["name"]: f["dtype"] for f in old.get("schema", [])}
        after = {f["name"]: f["dtype"] for f in new.get("schema", [])}
        found += [f"feature {n!r} removed" for n in sorted(set(before) - set(after))]
        found += [
            f"feature {n!r} type {before[n]} -> {after[n]}"
            for n in sorted(set(before) & set(after))
            if before[n] != after[n]
        ]
        if old.get("entities") != new.get("entities"):
            found.append("entities changed: the view joins on different keys")
        old_ttl, new_ttl = old.get("ttl_seconds"), new.get("ttl_seconds")
        if (old_ttl is None and new_ttl is not None) or (old_ttl and new_ttl and new_ttl < old_ttl):
            found.append("ttl shortened: rows that matched before may become null")
    if kind == "feature_service":
        before_refs = {(f["view"], x) for f in old["features"] for x in f["features"]}
        after_refs = {(f["view"], x) for f in new["features"] for x in f["features"]}
        gone = sorted(f"{v}:{x}" for v, x in before_refs - after_refs)
        if gone:
            found.append(f"features dropped from the service: {', '.join(gone)}")
    if kind == "source" and old.get("timestamp_field") != new.get("timestamp_field"):
        found.append("timestamp field changed")
    return found


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
    )


def push_sources(defs: Definitions) -> dict[str, PushSource]:
    return {n: s for n, s in defs.sources.items() if isinstance(s, PushSource)}


def _schema_diff(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[str]:
    a = {f["name"]: f for f in old}
    b = {f["name"]: f for f in new}
    out = [f"+ field {n} ({b[n]['dtype']})" for n in b if n not in a]
    out += [f"- field {n} ({a[n]['dtype']})" for n in a if n not in b]
    out += [f"~ field {n}: {_short(a[n])} -> {_short(b[n])}" for n in a if n in b and a[n] != b[n]]
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
