"""What the runs pages share: limits, colours, and small helpers over run records."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from fastapi import Request

from shipyard.errors import ShipyardError
from shipyard.store.base import ArtifactRecord, RunRecord

log = logging.getLogger(__name__)

T = TypeVar("T")
Axis = Literal["step", "time"]

MAX_POINTS = 500  # per series: a chart is ~500 px wide
PAGE_SIZE = 50
MAX_CHARTS = 40
DEFAULT_PARAM_COLUMNS = 6
DEFAULT_METRIC_COLUMNS = 6
MAX_COMPARE = 10
COMPARE_CHARTS = 8  # metrics charted unless picked: each costs a read of 10 histories
# app.js's palette, for the swatches beside run names
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]  # fmt: skip
CHILDREN_LIMIT = 200
PREVIEW_BYTES = 256 * 1024  # text shown inline
TABLE_BYTES = 64 * 1024 * 1024  # the biggest Parquet file read for its first rows
TABLE_ROWS = 50
IMAGES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
}
# shown as text (escaped), whatever the serializer
TEXT = {".txt", ".log", ".md", ".json", ".jsonl", ".yaml", ".yml", ".toml", ".cfg", ".ini",
        ".py", ".sh", ".sql", ".diff", ".patch", ".html", ".xml", ".csv", ".tsv"}  # fmt: skip
# as tracking and lineage name them (shipyard.lineage.upstream_walk: a heavy import)
DIFF_ARTIFACT = "code/uncommitted.diff"
DATASET_TAG = "shipyard.dataset."
GIT_REPO_TAG = "shipyard.git.repo"
# an image answered as itself may not run anything (an SVG can carry scripts)
IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
_PLAIN_NAME = re.compile(r"^[A-Za-z_][\w\-]*$")
_COLUMN_KINDS = {"params": "params", "param": "params", "metrics": "metrics",
                 "metric": "metrics", "tags": "tags", "tag": "tags"}  # fmt: skip


# -- shared helpers ----------------------------------------------------------------------


def _client(request: Request) -> Any:
    return request.app.state.client


def _part(what: str, produce: Callable[[], T], default: T) -> tuple[T, str | None]:
    """One part of a page: its value, or the default and why (the rest still renders)."""
    try:
        return produce(), None
    except ShipyardError as exc:
        return default, exc.message
    except Exception as exc:  # a broken part must not take the page down
        log.warning("run page part %s failed", what, exc_info=True)
        return default, f"{type(exc).__name__}: {exc}"


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or Infinity: a chart shows a gap there."""
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return value


def _duration_ms(run: RunRecord, now_ms: int) -> int:
    return max(0, (run.end_ms if run.end_ms is not None else now_ms) - run.start_ms)


def _now_ms(request: Request) -> int:
    from shipyard._clock import to_millis

    return int(to_millis(_client(request).clock.now()))


def _key_text(kind: str, key: str) -> str:
    """A key as the filter language reads it (odd names back-quoted)."""
    return f"{kind}.{key}" if _PLAIN_NAME.match(key) else f"{kind}.`{key}`"


def _head_bytes(client: Any, record: ArtifactRecord, limit: int) -> bytes:
    reader = client.blobs.open(record.blob_hash)
    try:
        data: bytes = reader.read(limit)
        return data
    finally:
        reader.close()


def _head_text(client: Any, record: ArtifactRecord, limit: int) -> str:
    return _head_bytes(client, record, limit).decode("utf-8", errors="replace")
