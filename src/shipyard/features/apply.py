"""Apply a plan: check every new or changed view against its data, store functions and
DataFrames as blobs, then record all versions in one transaction. A failing check stops
the apply before anything is written."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from shipyard._clock import to_millis
from shipyard.features import offline
from shipyard.features.catalog import compute_stats
from shipyard.features.checks import check_view_data, columns_of
from shipyard.features.definitions import FeatureView, fingerprint
from shipyard.features.plan import Change, Plan
from shipyard.store.base import NewFeatureObject

if TYPE_CHECKING:
    from shipyard.features.context import FeatureContext


def apply_plan(ctx: FeatureContext, plan: Plan) -> None:
    pending = plan.pending
    if not pending:
        return
    con = ctx.connect()
    sources = ctx.source_context()
    relations: dict[tuple[str, str], str] = {}
    for i, change in enumerate(pending):
        if change.action != "remove" and isinstance(change.obj, FeatureView):
            relation = offline.source_relation(con, change.obj, i, sources)
            check_view_data(change.obj, columns_of(con, relation))
            relations[(change.kind, change.name)] = relation
    now_ms = to_millis(ctx.now())
    stats = []  # computed before anything is written: a failure here applies nothing
    for change in pending:
        key = (change.kind, change.name)
        if key in relations:
            version = change.base_version + 1
            stats += compute_stats(
                con, ctx.project, change.obj, relations[key], version, "apply", now_ms
            )
    new = [_new_object(ctx, c) for c in pending]
    ctx.meta.apply_feature_objects(ctx.project, new, ctx.user(), now_ms)
    for change in pending:
        if change.action == "remove" and change.kind == "feature_view":
            ctx.online.drop(change.name)
    if stats:
        ctx.meta.save_feature_stats(stats)


def _new_object(ctx: FeatureContext, change: Change) -> NewFeatureObject:
    if change.action == "remove":
        return NewFeatureObject(
            change.kind, change.name, {}, "", base_version=change.base_version, deleted=True
        )
    assert change.spec is not None
    spec = dict(change.spec)
    refs = {key: ctx.store_blob(_by_value(value)) for key, value in _blobs(change.obj).items()}
    if refs:
        spec["blob_hashes"] = refs
    return NewFeatureObject(
        change.kind,
        change.name,
        spec,
        fingerprint(change.spec),
        base_version=change.base_version,
        blobs=tuple(r["hash"] for r in refs.values()),
    )


def _blobs(obj: Any) -> dict[str, Any]:
    method = getattr(obj, "blobs", None)
    return method() if callable(method) else {}


def _by_value(value: Any) -> Any:
    """Functions from repo files live in modules no other process can import: pickle
    them (and their module's helpers) by value."""
    module = getattr(value, "__module__", None)
    if callable(value) and module and module.startswith("shipyard_repo_"):
        import cloudpickle

        cloudpickle.register_pickle_by_value(sys.modules[module])
    return value
