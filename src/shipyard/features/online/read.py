"""Online lookups: feature values for entity rows, each with a status.

A request is resolved once into an ``OnlinePlan`` (cached in ``OnlinePlans`` until the
applied definitions change, or held by an ``OnlineLookup`` for a server); ``lookup`` then
reads the rows of all its views in one round trip per store, decodes them, and runs the
on-demand views (row and columnar ones in plain Python, see ``on_demand``).

A value is ``present``, ``missing`` (no row for the entity) or ``outside_ttl`` (the row is
older than the view's TTL). Outside-TTL values come back as None, exactly as the
point-in-time join gives null for them, so serving sees what training saw.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from shipyard.errors import InvalidFeature
from shipyard.features.encoding import decode_value, encode_key, epoch_us
from shipyard.features.offline import OnDemandRequest, ViewRequest
from shipyard.features.on_demand import OnlineTransform
from shipyard.features.online.base import read_many
from shipyard.features.resolve import FeatureRequest, request_key, resolve
from shipyard.features.types import Dtype

if TYPE_CHECKING:
    import pandas as pd

    from shipyard._clock import Clock
    from shipyard.features.applied import Definitions
    from shipyard.features.online import OnlineStore

logger = logging.getLogger(__name__)
REPLAN_SECONDS = 10.0  # as the registry cache (context.REGISTRY_CACHE_SECONDS)


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


@dataclass(frozen=True)
class _KeyPlan:
    """One set of join keys; views that share it share the encoded keys of a lookup."""

    view: str  # named in errors
    join_keys: list[str]
    dtypes: dict[str, Dtype]

    def encode(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        return [encode_key(self.view, self.join_keys, self.dtypes, row) for row in rows]


@dataclass(frozen=True)
class _ViewPlan:
    """Precomputed per view, so a lookup does no resolution work."""

    table: str
    key: int  # index into OnlinePlan.keys
    columns: list[tuple[str, str, Dtype | None]]  # (feature, output name, dtype to decode)
    ttl_us: int | None


class OnlinePlan:
    """A resolved feature request: the tables to read (all in one ``read_many``), the
    columns to decode, and the on-demand views to run. Built once per request shape."""

    def __init__(
        self,
        views: list[ViewRequest],
        on_demand: list[OnDemandRequest],
        full_feature_names: bool,
    ) -> None:
        self.on_demand = on_demand
        self.full = full_feature_names
        self.keys: list[_KeyPlan] = []
        self.views: list[_ViewPlan] = []
        for req in views:
            dtypes = {f.name: f.type for f in req.view.features}
            cols = [
                (f, self._name(req.view.name, f, f in req.hidden), _decoded(dtypes[f]))
                for f in req.features + req.hidden
            ]
            ttl = req.view.ttl
            self.views.append(
                _ViewPlan(
                    req.view.name,
                    self._key(req),
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
        hidden_of = {r.view.name: set(r.hidden) for r in views}
        self.transforms = [
            OnlineTransform.plan(
                req.view,
                req.features,
                [
                    (self._name(src.name, f, f in hidden_of[src.name]), f)
                    for src in req.view.source_views()
                    for f in src.features
                ],
                functools.partial(self._name, req.view.name, hidden=False),
            )
            for req in on_demand
        ]

    def _key(self, req: ViewRequest) -> int:
        key = _KeyPlan(req.view.name, req.view.join_keys, req.view.key_dtypes())
        for i, known in enumerate(self.keys):
            if (known.join_keys, known.dtypes) == (key.join_keys, key.dtypes):
                return i
        self.keys.append(key)
        return len(self.keys) - 1

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


class LookupContext(Protocol):
    """What an ``OnlineLookup`` uses of the ``FeatureContext``."""

    @property
    def clock(self) -> Clock: ...

    @property
    def online(self) -> OnlineStore: ...

    def definitions(self, refresh: bool = False) -> Definitions: ...


class OnlineLookup:
    """One feature request planned once, for repeated lookups (a prediction server):
    ``lookup(entity_rows)``. A request never plans: every ``REPLAN_SECONDS`` a background
    thread reloads the applied definitions and, if they changed, swaps in a new plan (when
    that fails, the lookup keeps its plan and logs why)."""

    def __init__(
        self, ctx: LookupContext, features: FeatureRequest, full_feature_names: bool = False
    ) -> None:
        self._ctx = ctx
        self._features = features
        self._full = full_feature_names
        self._defs = ctx.definitions()
        self.plan = plan_online(self._defs, features, full_feature_names)
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        self._replanning = False

    def __call__(self, entity_rows: Any) -> OnlineResponse:
        if time.monotonic() - self._checked > REPLAN_SECONDS:
            self._replan_in_background()
        rows = normalize_rows(entity_rows)
        return lookup(self.plan, self._ctx.online, rows, epoch_us(self._ctx.clock.now()))

    def _replan_in_background(self) -> None:
        with self._lock:
            if self._replanning:
                return
            self._replanning = True
        threading.Thread(target=self._replan, name="shipyard-online-replan", daemon=True).start()

    def _replan(self) -> None:
        try:
            defs = self._ctx.definitions()
            if defs is not self._defs:
                self.plan = plan_online(defs, self._features, self._full)
                self._defs = defs
        except Exception:  # a server keeps answering with the plan it has
            logger.warning(
                "could not re-plan the online lookup of %r; keeping the current plan",
                self._features,
                exc_info=True,
            )
        finally:
            self._checked = time.monotonic()
            self._replanning = False


def lookup(
    plan: OnlinePlan,
    online: OnlineStore,
    entity_rows: Sequence[Mapping[str, Any]],
    now_us: int | None = None,
) -> OnlineResponse:
    """Every view of ``plan`` read in one ``read_many`` (one round trip per store), every
    present payload decoded in one JSON parse, then the on-demand views run."""
    now = now_us if now_us is not None else time.time_ns() // 1000
    keys = [kp.encode(entity_rows) for kp in plan.keys]
    found = read_many(online, [(vp.table, keys[vp.key]) for vp in plan.views])
    states_of: list[list[FeatureStatus]] = []
    texts: list[str] = []
    for vp, rows in zip(plan.views, found, strict=True):
        ttl = vp.ttl_us
        states = [
            MISSING
            if row is None
            else OUTSIDE_TTL
            if ttl is not None and now - row.event_ts > ttl
            else PRESENT
            for row in rows
        ]
        texts += [r.payload for r, st in zip(rows, states, strict=True) if r and st is PRESENT]
        states_of.append(states)
    decoded = iter(_loads("[" + ",".join(texts) + "]") if texts else ())
    values: dict[str, list[Any]] = {}
    statuses: dict[str, list[FeatureStatus]] = {}
    for vp, states in zip(plan.views, states_of, strict=True):
        payloads = [next(decoded) if st is PRESENT else None for st in states]
        for feature, out, dtype in vp.columns:
            if dtype is None:
                column = [p.get(feature) if p is not None else None for p in payloads]
            else:
                column = [decode_value(dtype, p.get(feature)) if p else None for p in payloads]
            values[out] = column
            statuses[out] = states.copy()
    for transform in plan.transforms:
        for out, column in transform.run(values, entity_rows).items():
            values[out] = column
            statuses[out] = [MISSING if v is None else PRESENT for v in column]
    for name in plan.hidden:
        del values[name], statuses[name]
    return OnlineResponse(values, statuses)


def _decoded(dtype: Dtype) -> Dtype | None:
    """None for types JSON gives back as they are; the dtype where a value needs decoding."""
    return None if dtype in PLAIN_JSON else dtype


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
