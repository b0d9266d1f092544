"""Garbage collection: purge deleted runs, then blobs that nothing references any more.

Blobs younger than ``min_age`` are kept even when unreferenced: a writer stores the blob
first and its reference a moment later, and gc must not delete in between.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from shipyard.store.base import TrackingStore
from shipyard.store.blobs import BlobStore


@dataclass
class GcReport:
    runs: list[str] = field(default_factory=list)
    blobs: list[str] = field(default_factory=list)
    blob_bytes: int = 0
    temp_files: list[str] = field(default_factory=list)
    dry_run: bool = True


def collect(
    store: TrackingStore, blobs: BlobStore, *, dry_run: bool = True, min_age_s: float = 3600.0
) -> GcReport:
    report = GcReport(dry_run=dry_run)
    if dry_run:
        deleted = store.search_runs(None, "", (), 100_000, 0, include_deleted=True)
        report.runs = [r.id for r in deleted if r.deleted]
    else:
        report.runs = store.purge_deleted_runs()
    # in a dry run the deleted runs are still there; count their blobs as freed anyway
    referenced = store.referenced_blobs(include_deleted_runs=False)
    cutoff = time.time() - min_age_s
    for blob in blobs.iter_blobs():
        if blob.hash not in referenced and blob.modified < cutoff:
            report.blobs.append(blob.hash)
            report.blob_bytes += blob.size
    report.temp_files = [path for path, mtime in blobs.iter_temp_files() if mtime < cutoff]
    if not dry_run:
        still_used = store.blobs_in_use(report.blobs)  # a writer may have just referenced one
        for blob_hash in report.blobs:
            if blob_hash not in still_used:
                blobs.delete(blob_hash)
        for path in report.temp_files:
            blobs.remove_file(path)
    return report
