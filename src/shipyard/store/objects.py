"""Objects in and out of the blob store, with the serializer their type calls for."""

from __future__ import annotations

from typing import Any

from shipyard.errors import InvalidArgument
from shipyard.store import serializers
from shipyard.store.blobs import BlobInfo, BlobStore


def store_object(blobs: BlobStore, obj: Any) -> tuple[BlobInfo, str]:
    """Serialize with the serializer chosen by type; fall back to pickle when it refuses."""
    chosen = serializers.choose(obj)
    try:
        return blobs.write(lambda out: chosen.dump(obj, out)), chosen.name
    except (TypeError, ValueError, NotImplementedError) as first:
        if chosen.name == serializers.fallback().name:
            raise _unpicklable(obj, first) from first
        if type(first).__module__.startswith("shipyard"):
            raise
    pickle = serializers.fallback()
    try:
        return blobs.write(lambda out: pickle.dump(obj, out)), pickle.name
    except Exception as exc:  # pickling runs arbitrary __reduce__ code
        raise _unpicklable(obj, exc) from exc


def _unpicklable(obj: Any, exc: BaseException) -> InvalidArgument:
    return InvalidArgument(
        f"cannot store an object of type {type(obj).__module__}.{type(obj).__qualname__}: "
        f"{exc}; convert it to something picklable (or register a serializer for it)"
    )


def load_object(blobs: BlobStore, blob_hash: str, serializer: str) -> Any:
    """The object back, its bytes verified against the hash as they are read."""
    chosen = serializers.by_name(serializer)
    with blobs.open(blob_hash) as reader:
        return chosen.load(reader)  # type: ignore[arg-type]  # a read-only file object
