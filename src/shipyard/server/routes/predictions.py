"""/api/v1 prediction log: what a model answered (filtered by version, time, label and
shadow), one prediction in full, and ground-truth labels attached to predictions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from shipyard._clock import from_millis, to_millis
from shipyard.errors import InvalidArgument, NotFound
from shipyard.governance import Need
from shipyard.server.authz import rule
from shipyard.server.deps import client_of
from shipyard.server.routes._params import MAX_NUMBER

router = APIRouter(prefix="/api/v1", tags=["predictions"])


class PredictionOut(BaseModel):
    id: str
    model: str
    version: int
    variant: str
    shadow: bool
    time: datetime
    latency_ms: float
    inputs: dict[str, Any]
    output: Any
    features: dict[str, Any] | None
    label: Any
    labelled: datetime | None = Field(description="when the label was attached")
    error: str | None = Field(description="a failed call: STATUS: message")

    @classmethod
    def of(cls, p: Any) -> PredictionOut:
        return cls(
            id=p.id,
            model=p.model,
            version=p.version,
            variant=p.variant,
            shadow=p.shadow,
            time=from_millis(p.ts_ms),
            latency_ms=p.latency_ms,
            inputs=p.inputs,
            output=p.output,
            features=p.features,
            label=p.label,
            labelled=None if p.labelled_ms is None else from_millis(p.labelled_ms),
            error=p.error,
        )


class LabelsIn(BaseModel):
    """Ground truth for logged predictions, all or nothing (as ``shipyard.log_labels``)."""

    model_config = ConfigDict(extra="forbid")
    prediction_ids: list[str] = Field(min_length=1, max_length=100_000)
    labels: list[Any] = Field(min_length=1, max_length=100_000)


class LabelsOut(BaseModel):
    labelled: int


@router.get("/models/{name}/predictions", response_model=list[PredictionOut])
@rule(Need.READ, "request", names="model")
def list_predictions(
    request: Request,
    name: str,
    version: int | None = Query(None, ge=1, le=MAX_NUMBER),
    since: Annotated[datetime | None, Query(description="ISO 8601 with an offset")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
    labelled: bool | None = Query(None, description="only with (true) or without a label"),
    shadow: bool | None = Query(None, description="only shadow (true) or live predictions"),
    limit: int = Query(100, ge=1, le=10_000, description="at most this many, oldest first"),
) -> list[PredictionOut]:
    """The model's logged predictions, oldest first, one per input row."""
    client = client_of(request)
    client.store.models.get_model(name)  # 404 for a model never registered
    found = client.store.predictions.query(
        name,
        version=version,
        start_ms=_millis(since, "since"),
        end_ms=_millis(until, "until"),
        labelled=labelled,
        shadow=shadow,
        limit=limit,
    )
    return [PredictionOut.of(p) for p in found]


@router.get("/predictions/{prediction_id}", response_model=PredictionOut)
@rule(Need.READ)
def get_prediction(request: Request, prediction_id: str) -> PredictionOut:
    """One prediction in full: inputs, fetched features, output and label."""
    found = client_of(request).store.predictions.get([prediction_id])
    if not found:
        raise NotFound(f"no prediction {prediction_id!r} in the prediction log")
    return PredictionOut.of(found[0])


@router.post("/predictions/labels", response_model=LabelsOut)
@rule(Need.WRITE, "body")
def log_labels(request: Request, body: LabelsIn) -> LabelsOut:
    """Attach a label to each prediction; when an id is unknown, no label is stored."""
    ids, labels = body.prediction_ids, body.labels
    if len(ids) != len(labels):
        raise InvalidArgument(f"got {len(ids)} prediction ids but {len(labels)} labels")
    bad = [i for i in ids if len(i) != 32 or i.strip("0123456789abcdef")]
    if bad:
        raise InvalidArgument(f"{bad[0]!r} is not a prediction id (32 hex characters)")
    client = client_of(request)
    now = to_millis(client.clock.now())
    unknown = client.store.predictions.attach_labels(list(zip(ids, labels, strict=True)), now)
    if unknown:
        raise NotFound(
            f"{len(unknown)} of {len(ids)} prediction ids are not in the prediction log "
            f"(first: {unknown[0]}); no label was stored"
        )
    return LabelsOut(labelled=len(ids))


def _millis(moment: datetime | None, name: str) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise InvalidArgument(f"{name}: give the time with an offset (2024-01-31T12:00:00Z)")
    try:
        return to_millis(moment)
    except (OverflowError, OSError, ValueError):
        raise InvalidArgument(f"{name}: {moment.isoformat()} is out of range") from None
