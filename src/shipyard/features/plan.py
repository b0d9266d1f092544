"""A plan: the diff between local definitions and the applied ones.

Each applied object is an immutable version in the metadata store. A plan compares spec
fingerprints, lists field-level differences and flags breaking changes (ones that change
what existing training sets, online rows or consumers see).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from shipyard.features.applied import KINDS, Definitions
from shipyard.features.definitions import fingerprint
from shipyard.store.base import FeatureObject


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
