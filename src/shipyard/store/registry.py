"""URI scheme -> backend. Built-ins and third parties go through the same lazy registry."""

from __future__ import annotations

from shipyard._plugins import Registry
from shipyard.errors import InvalidArgument
from shipyard.store.base import TrackingStore
from shipyard.store.blobs import BlobStore

TRACKING_STORES = Registry(
    "tracking store",
    {
        "sqlite": "shipyard.store.sql:SqlTrackingStore",
        "postgresql": "shipyard.store.sql:SqlTrackingStore",
        "postgres": "shipyard.store.sql:SqlTrackingStore",
        "postgresql+psycopg": "shipyard.store.sql:SqlTrackingStore",
    },
    entry_point_group="shipyard.tracking_stores",
)


def scheme_of(uri: str) -> str:
    if "://" not in uri:
        raise InvalidArgument(
            f"store URI {uri!r} has no scheme; use sqlite:///PATH or postgresql://USER@HOST/DB"
        )
    return uri.split("://", 1)[0].lower()


def open_tracking_store(uri: str) -> TrackingStore:
    scheme = scheme_of(uri)
    if scheme in ("http", "https"):
        raise InvalidArgument(
            f"{uri}: a remote `shipyard server` store is not available in this version yet; "
            "use sqlite:///PATH or postgresql://..."
        )
    factory = TRACKING_STORES.load(scheme)
    store: TrackingStore = factory(uri)
    return store


def open_blob_store(uri: str) -> BlobStore:
    return BlobStore(uri)
