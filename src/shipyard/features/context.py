"""FeatureContext: what the feature store's helpers use, built once by ``FeatureStore``.

The facade (``feature_store``) builds one context and hands it to the helpers (apply,
catalog, datasets, training, materialize, online reads and pushes). No helper imports the
facade, so the package has no import cycle; import-linter checks both (pyproject.toml).

Stores open on first use, as they always did: the metadata store is asked of the client on
each use (a closed client reopens it) and the online store opens on the first lookup or
write. So stores are given as zero-argument callables and read through the ``meta``,
``blobs`` and ``online`` properties; ``for_client`` builds them from a tracking ``Client``
(which holds the process's settings, clock and stores until a Session does).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidFeature
from shipyard.features import offline
from shipyard.features._sql import MEMORY_SETTING, MemoryLimit
from shipyard.features.applied import Definitions, rebuild
from shipyard.features.cache import PreparedCache
from shipyard.features.sources import SourceContext
from shipyard.tracking import current_user

if TYPE_CHECKING:
    import duckdb

    from shipyard._clock import Clock
    from shipyard.config import Settings
    from shipyard.features.online import OnlineStore
    from shipyard.store.base import FeatureMetaStore
    from shipyard.store.blobs import BlobStore
    from shipyard.tracking import Client

REGISTRY_CACHE_SECONDS = 10.0


@dataclass
class _AppliedCache:
    definitions: Definitions | None = None
    loaded: float = 0.0  # time.monotonic() of the last rebuild


@dataclass
class _Offline:
    """The context's DuckDB database (made on first use) and its prepared-rows cache."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    scratch: threading.Lock = field(default_factory=threading.Lock)
    database: duckdb.DuckDBPyConnection | None = None
    cache: PreparedCache | None = None


@dataclass(frozen=True, eq=False)
class FeatureContext:
    """One project's settings, clock and stores, for the feature store's helpers."""

    project: str
    settings: Settings
    clock: Clock
    open_meta: Callable[[], FeatureMetaStore]
    open_blobs: Callable[[], BlobStore]
    open_online: Callable[[], OnlineStore]
    tag_run: Callable[[str, str, Any], None]  # (run id, key, value), on the store's client
    trust_code: bool = True  # False on a server: never unpickle what a client stored
    _applied: _AppliedCache = field(default_factory=_AppliedCache, repr=False)
    _offline: _Offline = field(default_factory=_Offline, repr=False)

    @classmethod
    def for_client(
        cls,
        project: str,
        client: Client,
        open_online: Callable[[], OnlineStore],
        trust_code: bool = True,
    ) -> FeatureContext:
        return cls(
            project=project,
            settings=client.settings,
            clock=client.clock,
            open_meta=lambda: client.store.features,
            open_blobs=lambda: client.blobs,
            open_online=open_online,
            tag_run=client.set_tag,
            trust_code=trust_code,
        )

    # -- stores -----------------------------------------------------------------------

    @property
    def meta(self) -> FeatureMetaStore:
        return self.open_meta()

    @property
    def blobs(self) -> BlobStore:
        return self.open_blobs()

    @property
    def online(self) -> OnlineStore:
        return self.open_online()

    def load_blob(self, ref: dict[str, Any]) -> Any:
        from shipyard.store.objects import load_object

        if not self.trust_code and ref["serializer"] == "pickle":
            raise InvalidFeature(
                "a definition of this project holds Python code (a pickled transformation "
                "or function) that a client stored; this server runs no client code: use "
                "it from the Python API where it was applied, or have the server's admin "
                "set SHIPYARD_SERVER_TRUSTS_CODE=true"
            )

        return load_object(self.blobs, ref["hash"], ref["serializer"])

    def store_blob(self, obj: Any) -> dict[str, Any]:
        from shipyard.store.objects import store_object

        info, serializer = store_object(self.blobs, obj)
        return {"hash": info.hash, "serializer": serializer}

    # -- applied definitions ----------------------------------------------------------

    def definitions(self, refresh: bool = False) -> Definitions:
        """The applied definitions, rebuilt from the registry (cached for a few seconds)."""
        cache = self._applied
        stale = time.monotonic() - cache.loaded > REGISTRY_CACHE_SECONDS
        if cache.definitions is None or refresh or stale:
            records = self.meta.latest_feature_objects(self.project)
            cache.definitions = rebuild(records, self.load_blob)
            cache.loaded = time.monotonic()
        return cache.definitions

    # -- offline work -----------------------------------------------------------------

    @property
    def home(self) -> Path:
        return Path(self.settings.home)

    @property
    def memory_limit(self) -> MemoryLimit:
        """DuckDB's memory limit for offline work, and where the setting came from."""
        source = self.settings.sources.get(MEMORY_SETTING, "default")
        return MemoryLimit(self.settings.duckdb_memory_limit or "", source)

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A private DuckDB of its own (apply, materialize, push)."""
        limit = self.memory_limit.value or None
        return offline.connect(temp_dir=str(self.home / "tmp" / "duckdb"), memory_limit=limit)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection to the context's one DuckDB database, made on first use and reused
        by every training set: what a cursor registers or creates as TEMP is its own, so
        each job (and thread) gets one."""
        state = self._offline
        with state.lock:
            if state.database is None:
                state.database = self.connect()
            return state.database.cursor()

    @contextmanager
    def scratch(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for work that creates views and tables in the shared database (reading
        and preparing sources): one at a time, and what it created is dropped after."""
        with self._offline.scratch:
            con = self.cursor()
            try:
                yield con
            finally:
                offline.drop_created(con)
                con.close()

    @property
    def prepared(self) -> PreparedCache:
        """Prepared rows of the views, kept in memory and under ``<home>/cache``."""
        state = self._offline
        with state.lock:
            if state.cache is None:
                state.cache = PreparedCache(self.home / "cache" / "features")
            return state.cache

    def close_offline(self) -> None:
        """Release the DuckDB database and the prepared rows in memory, once their files
        are written. A training set that needs DuckDB's join (entity rows from files)
        and was not read yet cannot be read after this; the next one opens a new
        database."""
        state = self._offline
        with state.lock:
            database, state.database = state.database, None
            cache = state.cache
        if cache is not None:
            cache.flush()
            cache.forget()
        if database is not None:
            database.close()

    def source_context(self) -> SourceContext:
        # beside the blobs, so every machine of a team reads the same pushed rows
        root = str(self.settings.artifact_uri).rstrip("/")
        pushed = f"{root}/features/{self.project}/pushed"
        return SourceContext(pushed_dir=pushed, load_blob=self.load_blob)

    # -- who and when -----------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now().astimezone(UTC)

    def user(self) -> str:
        return current_user() or "unknown"
