"""URI scheme -> backend. Built-ins and third parties go through the same lazy registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from shipyard._plugins import Registry
from shipyard.config import Settings
from shipyard.errors import InvalidArgument
from shipyard.store.base import TrackingStore
from shipyard.store.blobs import BlobStore

TRACKING_STORES = Registry(
    "tracking store",
    {
        "sqlite": "shipyard.store.sql.lite:open_store",  # sqlite3 at the schema head
        "postgresql": "shipyard.store.sql:SqlTrackingStore",
        "postgres": "shipyard.store.sql:SqlTrackingStore",
        "postgresql+psycopg": "shipyard.store.sql:SqlTrackingStore",
        "http": "shipyard.store.rest:RestStore",  # a `shipyard server`
        "https": "shipyard.store.rest:RestStore",
    },
    entry_point_group="shipyard.tracking_stores",
)


def scheme_of(uri: str) -> str:
    if "://" not in uri:
        raise InvalidArgument(
            f"store URI {uri!r} has no scheme; use sqlite:///PATH or postgresql://USER@HOST/DB"
        )
    return uri.split("://", 1)[0].lower()


def open_tracking_store(uri: str, has_blobs: Callable[[], bool] | None = None) -> TrackingStore:
    """The metadata store at ``uri``; ``has_blobs`` tells whether its blob store holds
    anything, so that an emptied SQLite file is refused rather than started over."""
    scheme = scheme_of(uri)
    if scheme == "sqlite" and has_blobs is not None:
        from shipyard.store.sql.lite import refuse_truncated

        refuse_truncated(uri, has_blobs)
    factory = TRACKING_STORES.load(scheme)
    store: TrackingStore = factory(uri)
    return store


def open_blob_store(uri: str) -> BlobStore:
    """The blob store at ``uri``: a folder, an fsspec URL, or a `shipyard server`."""
    if uri.lower().startswith(("http://", "https://")):
        from shipyard.store.rest_blobs import RemoteBlobStore

        return cast(BlobStore, RemoteBlobStore(uri))  # the same interface, over HTTP
    return BlobStore(uri)


def artifact_uri_of(settings: Settings) -> str:
    """Where blobs go: the artifact URI when one is set; else, for a store that is a
    `shipyard server`, that server (which keeps them in its own blob store)."""
    uri: str = settings.artifact_uri
    if settings.sources.get("artifact_uri", "default") == "default":
        metadata: str = settings.uri
        if metadata.lower().startswith(("http://", "https://")):
            return metadata
    return uri
