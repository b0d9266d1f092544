"""The prediction log: model calls, labels and the columnar segments monitoring reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class PredictionCall:
    """One model call as logged: ``rows`` predictions with their inputs in columns.

    The id is 26 hex digits, the call time in milliseconds then random ones; prediction ``i``
    of the call has the id ``f"{id}{i:06x}"``, so ids sort by time and lead to their call.
    ``inputs``/``features`` map a column name to its ``rows`` values, ``outputs`` holds one
    value per row; each may also be an ``orjson.Fragment`` (JSON encoded already), as
    servers buffer them. A failed call has ``rows`` 0, ``outputs`` ``[]`` and ``error``
    ("STATUS: one-line message"); a successful one has ``error`` None.
    """

    id: str
    model: str
    version: int
    variant: str
    shadow: bool
    ts_ms: int
    latency_ms: float
    rows: int
    inputs: dict[str, list[Any]] | Any
    outputs: list[Any] | Any
    features: dict[str, list[Any]] | Any | None = None
    error: str | None = None


@dataclass(frozen=True)
class PredictionRecord:
    """One logged prediction (one input row), with the ground truth once it is known."""

    id: str
    model: str
    version: int
    variant: str
    shadow: bool
    ts_ms: int
    latency_ms: float
    inputs: dict[str, Any]
    output: Any
    features: dict[str, Any] | None = None  # fetched from the online store by the server
    label: Any = None
    labelled_ms: int | None = None
    error: str | None = None  # a failed call: one record, id ending in 000000, no output


class PredictionLogStore(Protocol):
    """The prediction log: servers and batch scoring append model calls (one row each,
    inputs in columns, so a 1,000-row request costs about what a 1-row one does); monitoring
    reads predictions one per row. Every method is one transaction."""

    def append(self, calls: Sequence[PredictionCall]) -> None: ...
    def attach_labels(self, labels: Sequence[tuple[str, Any]], now_ms: int) -> list[str]:
        """Set the label of each (prediction id, label); the last label of an id wins.
        All or nothing: returns the ids not found, and then stores no label."""
        ...

    def query(
        self,
        model: str,
        *,
        version: int | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        labelled: bool | None = None,
        shadow: bool | None = None,
        limit: int | None = None,
    ) -> list[PredictionRecord]:
        """Oldest first, ``start_ms <= ts_ms < end_ms``; ``limit`` counts predictions."""
        ...

    def get(self, ids: Sequence[str]) -> list[PredictionRecord]: ...
    def last_prediction_ms(self) -> dict[str, int]:
        """Model name -> time of its newest logged prediction."""
        ...

    def logged_versions(self) -> dict[tuple[str, int], int]:
        """(model name, version) -> how many calls of it the log holds."""
        ...

    # -- the columnar copy of the log (segments), see shipyard.store.log_segments --------

    def bucket_counts(
        self,
        model: str,
        start_ms: int | None,
        end_ms: int | None,
        bucket_ms: int,
        rows: bool = False,
    ) -> dict[int, int]:
        """Start of each ``bucket_ms``-aligned bucket in ``[start_ms, end_ms)`` holding calls
        of ``model`` -> how many calls it holds (every version); with ``rows``, how many
        predicted rows they hold."""
        ...

    def raw_calls(
        self, model: str, ranges: Sequence[tuple[int, int]], version: int | None = None
    ) -> list[PredictionCall]:
        """The calls of ``model`` with ``start <= ts_ms < end`` for one of the ranges, oldest
        first; their inputs, features and outputs are left as JSON text."""
        ...

    def labels_between(
        self, model: str, start_ms: int | None, end_ms: int | None, version: int | None = None
    ) -> list[tuple[str, str]]:
        """(prediction id, label as JSON text) of the labelled predictions in the range."""
        ...

    def put_segment(self, segment: PredictionSegment) -> bool:
        """Index a segment whose blob is stored already: one row per (model, first_ts_ms,
        version); an existing row is replaced only by a segment with more calls. Returns
        whether this one is now indexed."""
        ...

    def list_segments(
        self, model: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> list[PredictionSegment]:
        """The segments of ``model`` (every version) overlapping ``[start_ms, end_ms)``."""
        ...

    def prune(self, before_ms: int, model: str | None = None) -> dict[str, int]:
        """Delete the calls made before ``before_ms`` (of ``model``, else of every model),
        their labels and the segments that ended before it, in one transaction; how many
        of each (``calls``, ``labels``, ``segments``). Segment blobs go with ``gc``."""
        ...


@dataclass(frozen=True)
class PredictionSegment:
    """A Parquet blob with every call of one model version whose ``ts_ms`` lies in the
    bucket ``[first_ts_ms, last_ts_ms]`` when it was written (``calls`` of them, ``rows``
    predictions)."""

    model: str
    version: int
    first_ts_ms: int
    last_ts_ms: int
    calls: int
    rows: int
    blob_hash: str
    created_ms: int
