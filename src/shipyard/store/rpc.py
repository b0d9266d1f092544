"""Store calls by name: the table of what a remote client may call, and the call itself.

An *area* is the tracking store itself (``tracking``) or one of its capability sub-stores
(``flows``, ``features``, ``models``, ``predictions``, ``monitors``, ``events``: the
attributes the ``TrackingStore`` protocol declares). The methods of an area are the public
methods its protocol class in ``shipyard.store.base`` declares: every one is reachable and
nothing else is (``close`` is the server's to call, not a client's).

The server calls ``call``; ``RestStore`` sends ``{"args": [...], "kwargs": {...}}`` in the
wire form (``shipyard.store.wire``) and decodes the ``{"result": ...}`` it gets back.
"""

from __future__ import annotations

import importlib
import inspect
from functools import cache
from typing import Any

from shipyard.errors import InvalidArgument, NotFound, ShipyardError

# area -> (module, protocol class)
_PROTOCOLS = {
    "tracking": ("shipyard.store.base.tracking_store", "TrackingStore"),
    "flows": ("shipyard.store.base.flow_store", "FlowStore"),
    "features": ("shipyard.store.base.feature_meta", "FeatureMetaStore"),
    "models": ("shipyard.store.base.model_registry", "ModelRegistryStore"),
    "predictions": ("shipyard.store.base.prediction_log", "PredictionLogStore"),
    "monitors": ("shipyard.store.base.monitor_store", "MonitorStore"),
    "events": ("shipyard.store.base.event_store", "EventStore"),
}
AREAS = tuple(_PROTOCOLS)
_NOT_REMOTE = frozenset({"close"})
# calls that change nothing: a client may repeat them after a lost answer
_READ_PREFIXES = (
    "get",
    "list",
    "search",
    "running",
    "referenced",
    "blobs_in_use",
    "blob_references",
    "latest",
    "feature_object_history",
    "materializations",
    "watermarks",
    "feature_stats",
    "flow_run_of",
    "tasks",
    "resolve",
    "gone_owners",
    "alias_history",
    "query",
    "last_prediction",
    "logged_versions",
    "bucket_counts",
    "raw_calls",
    "labels_between",
    "results",
    "open_alert",
    "deliveries",
    "unclaimed",
    "firings",
)


@cache
def protocol(area: str) -> type:
    try:
        module, name = _PROTOCOLS[area]
    except KeyError:
        raise NotFound(f"no store area {area!r}; areas are: {', '.join(AREAS)}") from None
    cls: type = getattr(importlib.import_module(module), name)
    return cls


@cache
def methods(area: str) -> dict[str, inspect.Signature]:
    """The callable methods of ``area`` and their signatures (``self`` left out)."""
    cls = protocol(area)
    table: dict[str, inspect.Signature] = {}
    for name, value in vars(cls).items():
        if name.startswith("_") or name in _NOT_REMOTE or not inspect.isfunction(value):
            continue
        signature = inspect.signature(value)
        table[name] = signature.replace(parameters=list(signature.parameters.values())[1:])
    return table


def is_read(method: str) -> bool:
    return method.startswith(_READ_PREFIXES)


def target(store: Any, area: str) -> Any:
    return store if area == "tracking" else getattr(store, area)


def call(store: Any, area: str, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """``store``'s (or its sub-store's) ``method`` called with decoded arguments."""
    table = methods(area)
    signature = table.get(method)
    if signature is None:
        raise NotFound(
            f"store area {area!r} has no method {method!r}; methods are: {', '.join(table)}"
        )
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise InvalidArgument(f"{area}.{method}: {exc}") from None
    try:
        return getattr(target(store, area), method)(*args, **kwargs)
    except ShipyardError:
        raise
    except (TypeError, AttributeError, KeyError, ValueError, OverflowError) as exc:
        # an argument of the wrong shape, e.g. a string where a record belongs
        raise InvalidArgument(f"{area}.{method}: bad argument: {exc}") from exc
