"""The online store interface: opaque rows (key -> event_ts, payload) per table.

The feature layer encodes entity keys as strings and feature values as a JSON text
payload; a backend only stores, compares event times and hands the rows back. Backends are
chosen by URI scheme through the same lazy registry as third-party plugins
(entry point group ``shipyard.online_stores``); a backend class is built as
``cls(uri, namespace)``.

Names: ``namespace`` is the feature project name (any non-empty text); backends map it
through :func:`encode_namespace` so that two projects never share a table. ``table`` is a
feature view name and must match ``[A-Za-z_][A-Za-z0-9_]*`` (:func:`check_table`).
"""

from __future__ import annotations

import operator
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from shipyard._plugins import Registry
from shipyard.errors import InvalidArgument

_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UPPER = re.compile(r"([A-Z])")


@dataclass(frozen=True, slots=True)
class OnlineRow:
    event_ts: int  # epoch microseconds
    payload: str  # JSON text of the feature values


class OnlineStore(Protocol):
    def write(
        self,
        table: str,
        keys: Sequence[str],
        event_ts: Sequence[int],
        payloads: Sequence[str],
    ) -> int:
        """Upsert rows; a row replaces the stored one only if its event_ts >= the stored
        event_ts (a late backfill never overwrites fresher values). Returns the number of
        input rows."""
        ...

    def read(self, table: str, keys: Sequence[str]) -> list[OnlineRow | None]:
        """Rows in the order of ``keys``, None where a key (or the table) is missing."""
        ...

    def drop(self, table: str) -> None:
        """Remove all rows of a table (its feature view was deleted)."""
        ...

    def close(self) -> None: ...

    # Optional: ``writes_in_key_order = False`` on a backend whose writes are no faster in
    # key order; materialization then skips sorting rows by key (read with getattr,
    # default True: SQLite's b-tree takes sorted keys ~3x faster).


class MultiTableReads(Protocol):
    """Optional: a backend that reads several tables in one round trip has ``read_many``;
    lookups use it through :func:`read_many`, which falls back on ``read`` per table."""

    def read_many(
        self, requests: Sequence[tuple[str, Sequence[str]]]
    ) -> list[list[OnlineRow | None]]:
        """For each ``(table, keys)``, what ``read(table, keys)`` answers, read together
        (one query, transaction or command where the backend can)."""
        ...


def read_many(
    store: OnlineStore, requests: Sequence[tuple[str, Sequence[str]]]
) -> list[list[OnlineRow | None]]:
    """``store.read_many(requests)`` where the backend has it, else one ``read`` each."""
    many = getattr(store, "read_many", None)
    if many is not None:
        rows: list[list[OnlineRow | None]] = many(requests)
        return rows
    return [store.read(table, keys) for table, keys in requests]


ONLINE_STORES = Registry(
    "online store",
    {
        "sqlite": "shipyard.features.online.sqlite:SqliteOnlineStore",
        "redis": "shipyard.features.online.redis:RedisOnlineStore",
        "rediss": "shipyard.features.online.redis:RedisOnlineStore",
    },
    entry_point_group="shipyard.online_stores",
    extras={"redis": ("redis", "redis"), "rediss": ("redis", "redis")},
)


def open_online_store(uri: str, namespace: str) -> OnlineStore:
    """The online store for ``uri`` (sqlite:///PATH, redis://HOST:PORT/DB, ...)."""
    if not isinstance(uri, str) or "://" not in uri:
        raise InvalidArgument(
            f"online store URI {uri!r} has no scheme; use sqlite:///PATH or redis://HOST:PORT/DB"
        )
    encode_namespace(namespace)  # fail before loading a backend
    factory = ONLINE_STORES.load(uri.split("://", 1)[0].lower())
    store: OnlineStore = factory(uri, namespace)
    return store


class LazyOnlineStore:
    """Opens ``open_online_store(uri, namespace)`` on its first call, once (thread-safe);
    ``close()`` closes it and a later call opens it again."""

    def __init__(self, uri: str, namespace: str) -> None:
        self.uri = uri
        self.namespace = namespace
        self._store: OnlineStore | None = None
        self._lock = threading.Lock()

    def __call__(self) -> OnlineStore:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = open_online_store(self.uri, self.namespace)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def check_table(table: Any) -> str:
    if not isinstance(table, str) or not _TABLE.fullmatch(table):
        raise InvalidArgument(
            f"online table name {table!r} is not valid: use letters, digits and underscores, "
            "not starting with a digit"
        )
    return table


def encode_namespace(namespace: Any) -> str:
    """``namespace`` checked (a non-empty string) and spelled by :func:`encode_name`."""
    if not isinstance(namespace, str) or not namespace:
        raise InvalidArgument(f"online store namespace must be a non-empty string: {namespace!r}")
    return encode_name(namespace)


def encode_name(name: str) -> str:
    """An injective, case-preserving spelling of ``name`` in ``[A-Za-z0-9_.~%^-]``.

    Characters outside letters, digits and ``_.-~`` are percent-encoded (so ``:``, glob and
    quote characters never appear), and each upper-case letter gets a ``^`` in front, so
    names that differ only by case stay distinct where names are case-insensitive (SQLite).
    """
    return _UPPER.sub(r"^\1", quote(name, safe=""))


def as_columns(
    keys: Sequence[str], event_ts: Sequence[int], payloads: Sequence[str]
) -> tuple[list[str], list[int], list[str]]:
    """The three parallel inputs as lists of str, int, str; InvalidArgument otherwise.

    Accepts lists, tuples, numpy arrays, pandas Series, Arrow arrays and other iterables;
    numpy integers become Python ints (drivers cannot bind them).
    """
    k, t, p = _strings(keys, "keys"), as_list(event_ts), _strings(payloads, "payloads")
    if not len(k) == len(t) == len(p):
        raise InvalidArgument(
            f"keys, event_ts and payloads differ in length: {len(k)}, {len(t)}, {len(p)}"
        )
    if not set(map(type, t)) <= {int}:  # map/set run in C: ~20 ms per million
        try:
            t = [operator.index(x) for x in t]
        except TypeError:
            bad = next(x for x in t if not _is_index(x))
            raise InvalidArgument(
                f"event_ts must be integers (epoch microseconds); got {bad!r}"
            ) from None
    return k, t, p


def as_list(values: Any) -> list[Any]:
    """``values`` as a list, without a copy when it already is one."""
    if type(values) is list:
        return values
    for method in ("tolist", "to_pylist"):  # numpy, pandas; Arrow arrays and chunked arrays
        convert = getattr(values, method, None)
        if callable(convert):
            values = convert()
            if type(values) is list:
                return values
            break
    return list(values)


def check_keys(keys: Sequence[str]) -> list[str]:
    """``keys`` as a list of strings; InvalidArgument otherwise (cheap on the read path)."""
    if type(keys) is list and len(keys) == 1 and type(keys[0]) is str:
        return keys  # the single-key lookup of online serving
    return _strings(keys, "keys")


def _strings(values: Sequence[str], what: str) -> list[str]:
    items = as_list(values)
    if not set(map(type, items)) <= {str}:
        for x in items:
            if not isinstance(x, str):
                raise InvalidArgument(f"{what} must be strings; got {x!r}")
    return items


def _is_index(value: Any) -> bool:
    try:
        operator.index(value)
    except TypeError:
        return False
    return True
