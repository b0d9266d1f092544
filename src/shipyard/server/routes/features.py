"""/api/v1/features: the catalog (definitions and their versions), plan and apply,
online features, training sets streamed as Parquet, and saved datasets.

Every route takes ``project`` (the settings' project by default) and works through a
``FeatureStore`` over the server's client, opened for the request and closed after it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from shipyard._clock import from_millis
from shipyard.errors import InvalidArgument, InvalidFeature, NotFound
from shipyard.features import FeatureStore
from shipyard.governance import Need
from shipyard.server.authz import rule
from shipyard.server.deps import client_of
from shipyard.server.routes import _features_catalog
from shipyard.server.routes._features_catalog import (
    ProjectQuery,
    confined,
    feature_store,
    server_feature_store,
)
from shipyard.server.routes._models_features import (
    ApplyIn,
    ChangeOut,
    DatasetOut,
    DefinitionsIn,
    FeatureObjectOut,
    OnlineIn,
    OnlineOut,
    PlanOut,
    TrainingSetIn,
    build_definitions,
)
from shipyard.server.routes._params import MAX_NUMBER

router = APIRouter(prefix="/api/v1", tags=["features"])
router.include_router(_features_catalog.router)  # first: /features/{kind} would take its paths

PARQUET = "application/vnd.apache.parquet"
CHUNK = 1 << 20


class Kind(StrEnum):
    """The kinds of definition, as they appear in paths."""

    entities = "entities"
    sources = "sources"
    feature_views = "feature-views"
    on_demand_feature_views = "on-demand-feature-views"
    feature_services = "feature-services"

    @property
    def stored(self) -> str:
        return {
            "entities": "entity",
            "sources": "source",
            "feature-views": "feature_view",
            "on-demand-feature-views": "on_demand_feature_view",
            "feature-services": "feature_service",
        }[self.value]


# -- datasets (before the catalog, whose /features/{kind} would take their paths) ------


@router.get("/features/datasets", response_model=list[DatasetOut])
@rule(Need.READ)
def list_datasets(
    request: Request,
    project: str | None = ProjectQuery,
    name: str | None = Query(None, description="only the versions of this dataset"),
) -> list[DatasetOut]:
    """Saved training sets with their lineage."""
    with feature_store(request, project) as fs:
        return [_dataset(d.record) for d in fs.list_datasets(name)]


@router.get("/features/datasets/{name}", response_model=DatasetOut)
@rule(Need.READ)
def get_dataset(
    request: Request,
    name: str,
    project: str | None = ProjectQuery,
    version: int | None = Query(None, ge=1, le=MAX_NUMBER, description="default: the latest"),
) -> DatasetOut:
    with feature_store(request, project) as fs:
        return _dataset(fs.get_dataset(name, version).record)


@router.get(
    "/features/datasets/{name}/download",
    response_class=StreamingResponse,
    responses={200: {"content": {PARQUET: {}}, "description": "the rows, as Parquet"}},
)
@rule(Need.READ)
def download_dataset(
    request: Request,
    name: str,
    project: str | None = ProjectQuery,
    version: int | None = Query(None, ge=1, le=MAX_NUMBER, description="default: the latest"),
) -> StreamingResponse:
    """The dataset's Parquet file, streamed (its hash is verified as it is read)."""
    client = client_of(request)
    with feature_store(request, project) as fs:
        record = fs.get_dataset(name, version).record
    reader = client.blobs.open(record.blob_hash)
    filename = f"{record.name}-v{record.version}.parquet"
    return StreamingResponse(
        _chunks(reader),
        media_type=PARQUET,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Length": str(record.size),
        },
    )


# -- catalog ----------------------------------------------------------------------------


@router.get("/features/{kind}", response_model=list[FeatureObjectOut])
@rule(Need.READ)
def list_definitions(
    request: Request, kind: Kind, project: str | None = ProjectQuery
) -> list[FeatureObjectOut]:
    """The latest applied version of every definition of this kind (removed ones left out)."""
    with feature_store(request, project) as fs:
        found = fs.meta.latest_feature_objects(fs.project, kind.stored)
    return [_object(o) for o in sorted(found, key=lambda o: o.name)]


@router.get("/features/{kind}/{name}", response_model=FeatureObjectOut)
@rule(Need.READ)
def get_definition(
    request: Request,
    kind: Kind,
    name: str,
    project: str | None = ProjectQuery,
    version: int | None = Query(None, ge=1, le=MAX_NUMBER, description="default: the latest"),
) -> FeatureObjectOut:
    """One definition: its latest applied version, or ``version``."""
    with feature_store(request, project) as fs:
        history = fs.meta.feature_object_history(fs.project, kind.stored, name)
    if version is not None:
        found = [o for o in history if o.version == version]
    else:
        found = sorted(history, key=lambda o: o.version)[-1:]
    if not found or (version is None and found[0].deleted):
        what = kind.stored.replace("_", " ")
        raise NotFound(f"no {what} {name!r}{_at(version)} is applied in project {fs.project!r}")
    return _object(found[0])


@router.get("/features/{kind}/{name}/versions", response_model=list[FeatureObjectOut])
@rule(Need.READ)
def definition_versions(
    request: Request, kind: Kind, name: str, project: str | None = ProjectQuery
) -> list[FeatureObjectOut]:
    """Every applied version of a definition, oldest first (a removal is a version too)."""
    with feature_store(request, project) as fs:
        history = fs.meta.feature_object_history(fs.project, kind.stored, name)
    if not history:
        raise NotFound(f"no {kind.stored.replace('_', ' ')} {name!r} was ever applied")
    return [_object(o) for o in sorted(history, key=lambda o: o.version)]


# -- plan and apply ---------------------------------------------------------------------


@router.post("/features/plan", response_model=PlanOut)
@rule(Need.READ, "body")
def plan(request: Request, body: DefinitionsIn) -> PlanOut:
    """What applying these definitions would change (nothing is recorded)."""
    with feature_store(request, body.project) as fs:
        objects = build_definitions(body, fs.definitions(refresh=True))
        confined(fs, objects)
        return _plan(fs.plan(objects), applied=False)


@router.post("/features/apply", response_model=PlanOut)
@rule(Need.WRITE, "body")
def apply(request: Request, body: ApplyIn) -> PlanOut:
    """Record a new version of every changed definition, all or nothing (views are
    checked against their data first)."""
    with feature_store(request, body.project) as fs:
        objects = build_definitions(body, fs.definitions(refresh=True))
        confined(fs, objects)
        return _plan(fs.apply(objects, allow_breaking=body.allow_breaking), applied=True)


# -- online and offline -----------------------------------------------------------------


@router.post("/features/online", response_model=OnlineOut)
@rule(Need.READ, "body")
def online_features(request: Request, body: OnlineIn) -> OnlineOut:
    """Feature values of entity rows from the online store (Feast's get-online-features)."""
    with feature_store(request, body.project) as fs:
        found = fs.get_online_features(
            body.features, body.entity_rows, full_feature_names=body.full_feature_names
        )
    statuses = {k: [str(s) for s in v] for k, v in found.statuses.items()}
    return OnlineOut(values=found.values, statuses=statuses)


@router.post(
    "/features/training-set",
    response_class=StreamingResponse,
    responses={200: {"content": {PARQUET: {}}, "description": "the rows, as Parquet"}},
)
@rule(Need.READ, "body")
def training_set(request: Request, body: TrainingSetIn) -> StreamingResponse:
    """Point-in-time correct features for each entity row, streamed back as Parquet."""
    frame = _entity_frame(body)
    fs = server_feature_store(request, body.project)
    try:
        confined(fs)
        job = fs.get_training_set(
            frame,
            body.features,
            timestamp_column=body.timestamp_column,
            full_feature_names=body.full_feature_names,
        )
        batches = job.to_batches()
        first = next(batches, None)  # errors now, while they can still be a 4xx
        if first is None:
            raise InvalidFeature("the training set has no rows")
    except BaseException:
        fs.close()
        raise
    return StreamingResponse(_parquet(first, batches, fs), media_type=PARQUET)


# -- helpers ----------------------------------------------------------------------------


def _at(version: int | None) -> str:
    return "" if version is None else f" version {version}"


def _object(o: Any) -> FeatureObjectOut:
    spec = {k: v for k, v in o.spec.items() if k != "blob_hashes"}
    return FeatureObjectOut(
        project=o.project,
        kind=o.kind,
        name=o.name,
        version=o.version,
        spec=spec,
        fingerprint=o.fingerprint,
        deleted=o.deleted,
        created_by=o.created_by,
        created=from_millis(o.created_ms),
    )


def _plan(found: Any, applied: bool) -> PlanOut:
    changes = [
        ChangeOut(
            kind=c.kind,
            name=c.name,
            action=c.action,
            base_version=c.base_version,
            diff=list(c.diff),
            breaking=list(c.breaking),
        )
        for c in found.changes
    ]
    return PlanOut(
        project=found.project,
        applied=applied,
        changes=changes,
        pending=len(found.pending),
        breaking=len(found.breaking),
    )


def _dataset(r: Any) -> DatasetOut:
    return DatasetOut(
        project=r.project,
        name=r.name,
        version=r.version,
        uri=f"dataset:{r.project}/{r.name}/{r.version}",
        rows=r.rows,
        size=r.size,
        lineage=r.lineage,
        created_by=r.created_by,
        created=from_millis(r.created_ms),
        run_id=r.run_id,
    )


def _entity_frame(body: TrainingSetIn) -> Any:
    """The entity rows as an Arrow table, their timestamps parsed (an offset is required)."""
    import pandas as pd
    import pyarrow as pa

    frame = pd.DataFrame(body.entity_rows)
    column = body.timestamp_column or "event_timestamp"
    if column not in frame.columns:
        raise InvalidFeature(
            f"entity rows have no {column!r} column: give each row an event time "
            "(ISO 8601 with an offset), or name its column with timestamp_column"
        )
    if not all(isinstance(v, str) for v in frame[column]):
        raise InvalidArgument(f"entity rows: every {column!r} must be an ISO 8601 time string")
    try:
        stamps = pd.to_datetime(frame[column], format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"entity rows: {column!r} is not ISO 8601 times: {exc}") from None
    if stamps.dt.tz is None:
        raise InvalidArgument(
            f"entity rows: {column!r} times need an offset (2024-01-31T12:00:00Z), "
            "so that no time is guessed"
        )
    frame[column] = stamps.dt.tz_convert("UTC")
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise InvalidArgument(f"entity rows: a column mixes types or nests values: {exc}") from None


class _Sink(io.RawIOBase):
    """Collects what a Parquet writer writes, to be sent as it comes."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def _parquet(first: Any, batches: Iterator[Any], fs: FeatureStore) -> Iterator[bytes]:
    import pyarrow.parquet as pq

    sink = _Sink()
    try:
        with pq.ParquetWriter(sink, first.schema) as writer:
            writer.write_batch(first)
            yield sink.take()
            for batch in batches:
                writer.write_batch(batch)
                yield sink.take()
        yield sink.take()
    finally:
        fs.close()


def _chunks(reader: Any) -> Iterator[bytes]:
    with reader:
        while chunk := reader.read(CHUNK):
            yield chunk
