"""Request and response bodies of the feature routes, and the definitions a JSON body
declares, built into the same objects a Python feature repo holds.

A definitions body mirrors the Python definitions (and the specs the registry keeps):
entities, sources (file, sql, push), feature views with SQL or no transformation, and
feature services. Views reference their source and entities, services their views, by
name: first among the body's own definitions, then among the applied ones. Python
functions (view transformations, on-demand views) cannot travel in JSON: declare those
in Python.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shipyard.errors import InvalidFeature
from shipyard.features import (
    Entity,
    FeatureService,
    FeatureView,
    FileSource,
    PushSource,
    SqlSource,
)
from shipyard.features import Field as FeatureField

MAX_TTL_SECONDS = 100 * 366 * 86400  # a century; longer ones overflow later


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EntityIn(_Strict):
    name: str
    join_keys: list[str] = []
    value_type: str = Field("int64", description="int32, int64 or string")
    description: str = ""
    owner: str = ""
    tags: dict[str, str] = {}


class FieldIn(_Strict):
    name: str
    dtype: str = Field("float64", description="int32 int64 float32 float64 string bool ...")
    description: str = ""
    tags: dict[str, str] = {}


class SourceIn(_Strict):
    """A file (``path``), a DuckDB or database query (``query``, ``connection``) or a push
    source over a ``batch_source``; paths are read by the server."""

    kind: Literal["file", "sql", "push"]
    name: str
    timestamp_field: str = "event_timestamp"
    created_timestamp_column: str | None = None
    path: str | None = None
    file_format: Literal["parquet", "csv"] | None = None
    query: str | None = None
    connection: str | None = None
    batch_source: SourceIn | None = None
    description: str = ""
    owner: str = ""
    tags: dict[str, str] = {}


class FeatureViewIn(_Strict):
    name: str
    source: str = Field(description="the name of a source")
    entities: list[str] = Field([], description="names of entities")
    schema_: list[FieldIn] = Field(alias="schema")
    ttl_seconds: float | None = Field(None, gt=0, le=MAX_TTL_SECONDS)
    transformation: str | None = Field(None, description="a DuckDB query over the source")
    online: bool = True
    description: str = ""
    owner: str = ""
    tags: dict[str, str] = {}


class ServiceItemIn(_Strict):
    view: str
    features: list[str] | None = Field(None, description="a subset; all when absent")


class FeatureServiceIn(_Strict):
    name: str
    features: list[ServiceItemIn] = Field(min_length=1)
    description: str = ""
    owner: str = ""
    tags: dict[str, str] = {}


class DefinitionsIn(_Strict):
    """The definitions of a project. With ``prune`` (the default, as ``shipyard features
    apply`` of a repo) they are the whole project: applied objects missing from the body
    are removed. Without it the body adds and changes objects and removes none."""

    project: str | None = None
    entities: list[EntityIn] = []
    sources: list[SourceIn] = []
    feature_views: list[FeatureViewIn] = []
    feature_services: list[FeatureServiceIn] = []
    prune: bool = True


class ApplyIn(DefinitionsIn):
    allow_breaking: bool = True


class ChangeOut(BaseModel):
    kind: str
    name: str
    action: Literal["add", "change", "remove", "unchanged"]
    base_version: int
    diff: list[str]
    breaking: list[str]


class PlanOut(BaseModel):
    project: str
    applied: bool
    changes: list[ChangeOut]
    pending: int
    breaking: int


class FeatureObjectOut(BaseModel):
    project: str
    kind: str
    name: str
    version: int
    spec: dict[str, Any]
    fingerprint: str
    deleted: bool
    created_by: str
    created: datetime


class OnlineIn(_Strict):
    project: str | None = None
    features: str | list[str] = Field(
        description='a feature service name, or references like "view:feature"'
    )
    entity_rows: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
    full_feature_names: bool = False


class OnlineOut(BaseModel):
    """Columns of values and of statuses (present, missing, expired...), one entry per
    entity row, in the order of the rows."""

    values: dict[str, list[Any]]
    statuses: dict[str, list[str]]


class TrainingSetIn(_Strict):
    project: str | None = None
    features: str | list[str]
    entity_rows: list[dict[str, Any]] = Field(
        min_length=1,
        description="entity keys and an event time (ISO 8601 with an offset) per row",
    )
    timestamp_column: str | None = Field(None, description="default: event_timestamp")
    full_feature_names: bool = False


class DatasetOut(BaseModel):
    project: str
    name: str
    version: int
    uri: str
    rows: int
    size: int
    lineage: dict[str, Any]
    created_by: str
    created: datetime
    run_id: str | None


# -- building the definitions -----------------------------------------------------------


def build_definitions(body: DefinitionsIn, applied: Any) -> list[Any]:
    """The objects the body declares (plus, without ``prune``, the applied ones it does
    not replace); ``applied`` is the feature store's ``definitions()``."""
    entities = {e.name: Entity(**e.model_dump()) for e in body.entities}
    sources = {s.name: _source(s) for s in body.sources}
    known_entities = {**applied.entities, **entities}
    known_sources = {**applied.sources, **sources}
    views = {v.name: _view(v, known_sources, known_entities) for v in body.feature_views}
    known_views = {**applied.views, **applied.on_demand, **views}
    services = {s.name: _service(s, known_views) for s in body.feature_services}
    declared: list[Any] = [*entities.values(), *sources.values(), *views.values()]
    declared += services.values()
    if body.prune:
        return declared
    kept: list[Any] = []
    for mine, theirs in (
        (entities, applied.entities),
        (sources, applied.sources),
        (views, {**applied.views, **applied.on_demand}),
        (services, applied.services),
    ):
        kept += [obj for name, obj in theirs.items() if name not in mine]
    return kept + declared


def _source(spec: SourceIn) -> Any:
    common: dict[str, Any] = {
        "name": spec.name,
        "timestamp_field": spec.timestamp_field,
        "created_timestamp_column": spec.created_timestamp_column,
        "description": spec.description,
        "owner": spec.owner,
        "tags": spec.tags,
    }
    if spec.kind == "file":
        return FileSource(path=spec.path or "", file_format=spec.file_format, **common)
    if spec.kind == "sql":
        return SqlSource(query=spec.query or "", connection=spec.connection, **common)
    if spec.batch_source is None:
        raise InvalidFeature(f"push source {spec.name!r} needs a batch_source")
    common.pop("timestamp_field")
    common.pop("created_timestamp_column")
    return PushSource(batch_source=_source(spec.batch_source), **common)


def _view(spec: FeatureViewIn, sources: dict[str, Any], entities: dict[str, Any]) -> Any:
    where = f"feature view {spec.name!r}"
    return FeatureView(
        name=spec.name,
        source=_named(sources, spec.source, "source", where),
        schema=[FeatureField(**f.model_dump()) for f in spec.schema_],
        entities=[_named(entities, e, "entity", where) for e in spec.entities],
        ttl=timedelta(seconds=spec.ttl_seconds) if spec.ttl_seconds else None,
        transformation=spec.transformation,
        online=spec.online,
        description=spec.description,
        owner=spec.owner,
        tags=spec.tags,
    )


def _service(spec: FeatureServiceIn, views: dict[str, Any]) -> Any:
    where = f"feature service {spec.name!r}"
    items = []
    for item in spec.features:
        view = _named(views, item.view, "feature view", where)
        items.append(view if item.features is None else view[item.features])
    return FeatureService(
        name=spec.name,
        features=items,
        description=spec.description,
        owner=spec.owner,
        tags=spec.tags,
    )


def _named(table: dict[str, Any], name: str, kind: str, where: str) -> Any:
    if name not in table:
        known = ", ".join(sorted(table)) or "none"
        raise InvalidFeature(f"{where}: no {kind} {name!r} in the body or applied (known: {known})")
    return table[name]
