"""The artifact path rule, kept by the stores too: a record can reach a store without the
tracking client (the server's store RPC), and another client later writes files where
the path says."""

from __future__ import annotations

from collections.abc import Iterable

from shipyard._names import artifact_path
from shipyard.errors import InvalidArgument
from shipyard.store.base.tracking_store import ArtifactRecord


def confined_paths(records: Iterable[ArtifactRecord]) -> None:
    """Refuse records whose path is not already relative, normalised and inside the run."""
    for record in records:
        if artifact_path(record.path) != record.path:
            raise InvalidArgument(
                f"artifact path {record.path!r} is not normalised (use "
                f"{artifact_path(record.path)!r})"
            )
