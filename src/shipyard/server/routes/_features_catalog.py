"""/api/v1/features routes around the online store: feature search with statistics, the
freshness of each view, and materialization (as ``shipyard features ls|status|materialize``).

``features.py`` includes this router before its ``/features/{kind}`` routes, which would
otherwise take these paths.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from shipyard.errors import InvalidArgument
from shipyard.features import FeatureStore
from shipyard.governance import Need
from shipyard.server.authz import rule
from shipyard.server.confinement import check_sources
from shipyard.server.deps import client_of

router = APIRouter(tags=["features"])  # paths under the including router's /api/v1

ProjectQuery = Query(None, description="feature project (default: the server's setting)")


def server_feature_store(request: Request, project: str | None) -> FeatureStore:
    client = client_of(request)
    return FeatureStore(project, client=client, trust_code=client.settings.server_trusts_code)


def confined(fs: FeatureStore, objects: Iterable[Any] = ()) -> None:
    """Refuse before reading data unless every source involved is one this server may
    read (``shipyard.server.confinement``)."""
    applied = fs.definitions(refresh=True).sources.values()
    check_sources([*applied, *objects], fs.client.settings)


@contextmanager
def feature_store(request: Request, project: str | None) -> Iterator[FeatureStore]:
    """The project's feature store over the server's client, closed after the request;
    it unpickles no code a client stored unless the server's admin allowed it."""
    fs = server_feature_store(request, project)
    try:
        yield fs
    finally:
        fs.close()


class FeatureInfoOut(BaseModel):
    view: str
    feature: str
    dtype: str
    description: str
    owner: str
    tags: dict[str, str]
    services: list[str] = Field(description="the feature services that use it")
    stats: dict[str, Any] | None = Field(description="count, nulls, distinct, min, max, mean")


class ViewStatusOut(BaseModel):
    view: str
    version: int | None
    online: bool
    ttl_seconds: float | None
    watermark: datetime | None
    last_materialized: datetime | None
    last_push: datetime | None
    rows_materialized: int | None
    staleness_seconds: float | None = Field(description="now - the newest data; None: never")
    stale: bool


class MaterializeIn(BaseModel):
    """Load the latest feature rows of ``[start, end)`` into the online store; without
    ``start``, each view continues from its watermark (incremental)."""

    model_config = ConfigDict(extra="forbid")
    project: str | None = None
    start: datetime | None = Field(None, description="ISO 8601 with an offset")
    end: datetime | None = Field(None, description="default: now")
    views: list[str] | None = Field(None, description="default: every online view")


class MaterializeOut(BaseModel):
    rows: dict[str, int] = Field(description="entity rows loaded per view")


@router.get("/features/search", response_model=list[FeatureInfoOut])
@rule(Need.READ)
def search_features(
    request: Request,
    project: str | None = ProjectQuery,
    text: str | None = Query(None, description="in a feature's name or description"),
    tag: str | None = Query(None, description="KEY or KEY=VALUE"),
    owner: str | None = None,
) -> list[FeatureInfoOut]:
    """Every applied feature matching the filters, with its statistics and services."""
    with feature_store(request, project) as fs:
        found = fs.catalog.search(text, tag, owner)
    return [
        FeatureInfoOut(
            view=i.view,
            feature=i.feature,
            dtype=i.dtype,
            description=i.description,
            owner=i.owner,
            tags=i.tags,
            services=i.services,
            stats=None if i.stats is None else _stats(asdict(i.stats)),
        )
        for i in found
    ]


@router.get("/features/status", response_model=list[ViewStatusOut])
@rule(Need.READ)
def view_status(request: Request, project: str | None = ProjectQuery) -> list[ViewStatusOut]:
    """The freshness of each view: watermark, last load, staleness against its TTL."""
    with feature_store(request, project) as fs:
        found = fs.catalog.status()
    return [
        ViewStatusOut(
            view=s.view,
            version=s.version,
            online=s.online,
            ttl_seconds=None if s.ttl is None else s.ttl.total_seconds(),
            watermark=s.watermark,
            last_materialized=s.last_materialized,
            last_push=s.last_push,
            rows_materialized=s.rows_materialized,
            staleness_seconds=None if s.staleness is None else s.staleness.total_seconds(),
            stale=s.stale,
        )
        for s in found
    ]


@router.post("/features/materialize", response_model=MaterializeOut)
@rule(Need.WRITE, "body")
def materialize(request: Request, body: MaterializeIn) -> MaterializeOut:
    for name, moment in (("start", body.start), ("end", body.end)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidArgument(f"{name}: give the time with an offset (2024-01-31T12:00Z)")
    with feature_store(request, body.project) as fs:
        confined(fs)
        if body.start is None:
            rows = fs.materialize_incremental(body.end, body.views)
        else:
            rows = fs.materialize(body.start, body.end or fs.now(), body.views)
    return MaterializeOut(rows=rows)


def _stats(data: dict[str, Any]) -> dict[str, Any]:
    for key in ("project", "view", "feature", "dtype"):
        data.pop(key, None)
    return data
