"""Store calls by name: the table of what a remote client may call, and the call itself.

An *area* is the tracking store itself (``tracking``) or one of its capability sub-stores
(``flows``, ``features``, ``models``, ``predictions``, ``monitors``, ``events``,
``audit``: the attributes the ``TrackingStore`` protocol declares). The methods of an area
are the public methods its protocol class in ``shipyard.store.base`` declares: every one
is reachable and nothing else is (``close`` is the server's to call, not a client's).

The server calls ``call``; ``RestStore`` sends ``{"args": [...], "kwargs": {...}}`` in the
wire form (``shipyard.store.wire``) and decodes the ``{"result": ...}`` it gets back.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import types
import typing
from collections import abc
from functools import cache
from typing import Any

from shipyard.errors import InvalidArgument, NotFound, ShipyardError
from shipyard.store import rpc_names

# area -> (module, protocol class)
_PROTOCOLS = {
    "tracking": ("shipyard.store.base.tracking_store", "TrackingStore"),
    "flows": ("shipyard.store.base.flow_store", "FlowStore"),
    "features": ("shipyard.store.base.feature_meta", "FeatureMetaStore"),
    "models": ("shipyard.store.base.model_registry", "ModelRegistryStore"),
    "predictions": ("shipyard.store.base.prediction_log", "PredictionLogStore"),
    "monitors": ("shipyard.store.base.monitor_store", "MonitorStore"),
    "events": ("shipyard.store.base.event_store", "EventStore"),
    "identity": ("shipyard.store.base.identity_store", "IdentityStore"),
    "audit": ("shipyard.store.base.audit_log", "AuditStore"),
}
AREAS = tuple(_PROTOCOLS)
_NOT_REMOTE = frozenset({"close"})
# calls that change nothing: a client may repeat them after a lost answer
_READ_PREFIXES = (
    "count",
    "get",
    "list",
    "search",
    "running",
    "referenced",
    "blobs_in_use",
    "blob_references",
    "blob_projects",
    "token_owner",
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


@cache
def _hints(area: str, method: str) -> dict[str, Any]:
    cls = protocol(area)
    module = importlib.import_module(cls.__module__)
    return typing.get_type_hints(getattr(cls, method), globalns=vars(module))


@cache
def _field_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def mismatch(value: Any, hint: Any) -> str | None:
    """Why ``value`` does not fit the annotation ``hint`` (None: it fits), checked as far
    as the store's annotations go: scalars, unions, sequences, tuples, dicts, enums and
    store records field by field. A call whose arguments fit reaches the store."""
    if hint is Any or hint is object:
        return None
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        problems = [mismatch(value, option) for option in typing.get_args(hint)]
        return None if None in problems else problems[0]
    if hint is type(None) or hint is None:
        return None if value is None else f"expected null, got {_kind(value)}"
    if isinstance(hint, type) and origin is None:
        return _mismatch_type(value, hint)
    args = typing.get_args(hint)
    if origin is dict or origin is abc.Mapping:
        if not isinstance(value, dict):
            return f"expected an object, got {_kind(value)}"
        for key, item in value.items():
            problem = (mismatch(key, args[0]) or mismatch(item, args[1])) if args else None
            if problem:
                return problem
        return None
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return f"expected an array, got {_kind(value)}"
        if len(args) == 2 and args[1] is Ellipsis:
            args = (args[0],) * len(value)
        if args and len(args) != len(value):
            return f"expected {len(args)} items, got {len(value)}"
        return next(filter(None, map(mismatch, value, args)), None)
    if origin in (list, set, frozenset, abc.Sequence, abc.Iterable, abc.Collection):
        if not isinstance(value, (list, tuple, set, frozenset)):
            return f"expected an array, got {_kind(value)}"
        return next((p for item in value if (p := mismatch(item, args[0]))), None) if args else None
    return None  # a shape the store checks itself


def _mismatch_type(value: Any, hint: type) -> str | None:
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, hint)
    if not ok:
        return f"expected {hint.__name__}, got {_kind(value)}"
    if dataclasses.is_dataclass(hint):
        for name, field_hint in _field_hints(hint).items():
            problem = mismatch(getattr(value, name), field_hint)
            if problem:
                return f"{hint.__name__}.{name}: {problem}"
    return None


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


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
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise InvalidArgument(f"{area}.{method}: {exc}") from None
    try:
        rpc_names.check(area, method, bound.arguments)
        return getattr(target(store, area), method)(*args, **kwargs)
    except ShipyardError:
        raise
    except Exception as exc:
        # The store checks its arguments as it does for a local caller (same messages); an
        # argument of a shape no local caller could pass may crash it instead: say which.
        problem = _argument_problem(area, method, signature, bound)
        if problem is not None:
            raise InvalidArgument(f"{area}.{method}: {problem}") from exc
        if isinstance(exc, (TypeError, AttributeError, KeyError, ValueError, OverflowError)):
            raise InvalidArgument(f"{area}.{method}: bad argument: {exc}") from exc
        raise


def _argument_problem(
    area: str, method: str, signature: inspect.Signature, bound: inspect.BoundArguments
) -> str | None:
    hints = _hints(area, method)
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        values = value.values() if kind is inspect.Parameter.VAR_KEYWORD else [value]
        for item in values:
            problem = mismatch(item, hints.get(name, Any))
            if problem:
                return f"argument {name!r}: {problem}"
    return None
