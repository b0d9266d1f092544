"""Online lookups: feature values for entity rows, each with a status.

A request is resolved once into an ``OnlinePlan`` (cached in ``OnlinePlans`` until the
applied definitions change); ``lookup`` then reads each view's rows and decodes them.

A value is ``present``, ``missing`` (no row for the entity) or ``outside_ttl`` (the row is
older than the view's TTL). Outside-TTL values come back as None, exactly as the
point-in-time join gives null for them, so serving sees what training saw.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import orjson

from shipyard.errors import InvalidFeature
from shipyard.features.encoding import decode_value, encode_key
from shipyard.features.offline import OnDemandRequest, ViewRequest
from shipyard.features.resolve import FeatureRequest, request_key, resolve
from shipyard.features.retrieval import run_on_demand
from shipyard.features.types import Dtype

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.features.applied import Definitions
    from shipyard.features.online import OnlineRow, OnlineStore


class FeatureStatus(StrEnum):
    PRESENT = "present"
    MISSING = "missing"
    OUTSIDE_TTL = "outside_ttl"


PRESENT, MISSING, OUTSIDE_TTL = (
    FeatureStatus.PRESENT,
    FeatureStatus.MISSING,
    FeatureStatus.OUTSIDE_TTL,
)
# JSON gives these back as they are; timestamps and bytes need decoding
PLAIN_JSON = frozenset(
    {Dtype.INT32, Dtype.INT64, Dtype.FLOAT32, Dtype.FLOAT64, Dtype.STRING, Dtype.BOOL}
)


@dataclass
class OnlineResponse:
    """Columns of values and of statuses, one entry per entity row."""

    values: dict[str, list[Any]]
    statuses: dict[str, list[FeatureStatus]]

    def to_dict(self) -> dict[str, list[Any]]:
        return self.values

    def to_df(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.values)

    def rows(self) -> list[dict[str, Any]]:
        names = list(self.values)
        count = len(next(iter(self.values.values()), []))
        return [{n: self.values[n][i] for n in names} for i in range(count)]


@dataclass
class _ViewPlan:
    """Precomputed per view, so a lookup does no resolution work."""

    table: str
    join_keys: list[str]
    key_dtypes: dict[str, Dtype]
    columns: list[tuple[str, str, Dtype]]  # (feature, output name, dtype)
    ttl_us: int | None


class OnlinePlan:
    """A resolved feature request, cached by the store for repeated lookups."""

    def __init__(
        self,
        views: list[ViewRequest],
        on_demand: list[OnDemandRequest],
        full_feature_names: bool,
    ) -> None:
        self.on_demand = on_demand
        self.full = full_feature_names
        self.views = []
        for req in views:
            dtypes = {f.name: f.type for f in req.view.features}
            names = req.features + req.hidden
            cols = [(f, self._name(req.view.name, f, f in req.hidden), dtypes[f]) for f in names]
            ttl = req.view.ttl
            self.views.append(
                _ViewPlan(
                    req.view.name,
                    req.view.join_keys,
                    req.view.key_dtypes(),
                    cols,
                    ttl // timedelta(microseconds=1) if ttl else None,
                )
            )
        names = [o for vp in self.views for _, o, _ in vp.columns]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InvalidFeature(
                f"feature {twice[0]!r} is asked for from two views; pass "
                "full_feature_names=True to name columns view__feature"
            )
        self.hidden = {self._name(r.view.name, f, True): f for r in views for f in r.hidden}

    def _name(self, view: str, feature: str, hidden: bool) -> str:
        if hidden:
            return f"__hidden_{view}__{feature}"
        return f"{view}__{feature}" if self.full else feature


class OnlinePlans:
    """Resolved requests by (request, full names), kept until the definitions change."""

    def __init__(self) -> None:
        self._definitions: Definitions | None = None
        self._plans: dict[tuple[Any, ...], OnlinePlan] = {}

    def get(
        self, defs: Definitions, features: FeatureRequest, full_feature_names: bool
    ) -> OnlinePlan:
        if defs is not self._definitions:  # reloaded: plans may be stale
            self._plans.clear()
            self._definitions = defs
        key = (request_key(features), full_feature_names)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = plan_online(defs, features, full_feature_names)
        return plan


def plan_online(
    defs: Definitions, features: FeatureRequest, full_feature_names: bool
) -> OnlinePlan:
    views, on_demand, _ = resolve(defs, features)
    offline_only = [r.view.name for r in views if not r.view.online]
    if offline_only:
        raise InvalidFeature(f"feature view {offline_only[0]!r} is offline only (online=False)")
    return OnlinePlan(views, on_demand, full_feature_names)


def lookup(
    plan: OnlinePlan,
    online: OnlineStore,
    entity_rows: Sequence[Mapping[str, Any]],
    now_us: int | None = None,
) -> OnlineResponse:
    now = now_us if now_us is not None else time.time_ns() // 1000
    values: dict[str, list[Any]] = {}
    statuses: dict[str, list[FeatureStatus]] = {}
    for vp in plan.views:
        keys = [encode_key(vp.table, vp.join_keys, vp.key_dtypes, row) for row in entity_rows]
        found = online.read(vp.table, keys)
        states = [_status(row, vp.ttl_us, now) for row in found]
        texts = [
            row.payload
            for row, st in zip(found, states, strict=True)
            if row is not None and st is PRESENT
        ]
        decoded = iter(_loads("[" + ",".join(texts) + "]") if texts else [])
        payloads = [next(decoded) if st is PRESENT else None for st in states]
        for feature, out, dtype in vp.columns:
            if dtype in PLAIN_JSON:
                column = [p.get(feature) if p is not None else None for p in payloads]
            else:
                column = [decode_value(dtype, p.get(feature)) if p else None for p in payloads]
            values[out] = column
            statuses[out] = states.copy()
    if plan.on_demand:
        _run_on_demand(plan, entity_rows, values, statuses)
    for name in plan.hidden:
        values.pop(name, None)
        statuses.pop(name, None)
    return OnlineResponse(values, statuses)


def _status(row: OnlineRow | None, ttl_us: int | None, now_us: int) -> FeatureStatus:
    if row is None:
        return MISSING
    if ttl_us is not None and now_us - row.event_ts > ttl_us:
        return OUTSIDE_TTL
    return PRESENT


def _run_on_demand(
    plan: OnlinePlan,
    entity_rows: Sequence[Mapping[str, Any]],
    values: dict[str, list[Any]],
    statuses: dict[str, list[FeatureStatus]],
) -> None:
    import pandas as pd

    frame = pd.DataFrame({**_columns(entity_rows), **values})
    for req in plan.on_demand:
        inputs = {name: feature for name, feature in plan.hidden.items()}
        for source in req.view.source_views():
            for f in source.features:
                inputs.setdefault(f"{source.name}__{f}" if plan.full else f, f)
        for rs in req.view.request_sources():
            for fld in rs.schema:
                inputs[fld.name] = fld.name
        result = run_on_demand(req.view, frame, inputs)
        for f in req.features:
            out = f"{req.view.name}__{f}" if plan.full else f
            column = [None if v != v else v for v in result[f].tolist()]  # NaN -> None
            values[out] = column
            statuses[out] = [
                FeatureStatus.MISSING if v is None else FeatureStatus.PRESENT for v in column
            ]


def _columns(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    return {n: [row.get(n) for row in rows] for n in names}


def normalize_rows(entity_rows: Any) -> list[Mapping[str, Any]]:
    """Accept a list of dicts or a dict of equal-length lists."""
    if isinstance(entity_rows, Mapping):
        lengths = {len(v) for v in entity_rows.values()}
        if len(lengths) > 1:
            raise InvalidFeature("entity_rows given as columns must all have the same length")
        n = lengths.pop() if lengths else 0
        return [{k: v[i] for k, v in entity_rows.items()} for i in range(n)]
    if isinstance(entity_rows, list | tuple):
        for row in entity_rows:
            if not isinstance(row, Mapping):
                raise InvalidFeature(
                    f"each entity row must be a mapping of join key -> value, got {row!r}"
                )
        return list(entity_rows)
    raise InvalidFeature("entity_rows must be a list of dicts or a dict of lists")


def _loads(text: str) -> Any:
    """orjson parses payloads ~7x faster than json; DuckDB writes NaN and Infinity for
    non-finite floats, which only json accepts."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
