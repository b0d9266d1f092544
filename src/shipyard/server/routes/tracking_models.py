"""The request and answer bodies of the tracking routes (``/openapi.json`` shows them).

Non-finite metric values travel as the strings "NaN", "Infinity" and "-Infinity".
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictFloat

from shipyard._names import INT64_MAX, INT64_MIN
from shipyard.store.base import ArtifactRecord, Project, RunRecord, RunStatus
from shipyard.store.wire import NonFinite, float_out

Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
WireFloat = StrictFloat | NonFinite
Text = Annotated[str, Field(max_length=8000)]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class ProjectIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=256)]
    description: Text = ""


class ProjectOut(BaseModel):
    id: int
    name: str
    description: str
    created_ms: int

    @classmethod
    def of(cls, project: Project) -> ProjectOut:
        return cls(
            id=project.id,
            name=project.name,
            description=project.description,
            created_ms=project.created_ms,
        )


class RunIn(BaseModel):
    project: Annotated[str, Field(min_length=1, max_length=256)] = "default"
    name: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")] | None = None
    start_ms: Count | None = None
    user: Text = ""
    host: Text = ""
    pid: Count = 0
    command: Text = ""
    code_version: Text = ""
    environment_hash: Annotated[str, Field(max_length=64)] | None = None
    parent_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")] | None = None
    kind: Annotated[str, Field(min_length=1, max_length=32)] = "run"
    params: dict[str, str] = {}
    tags: dict[str, str] = {}


class RunOut(BaseModel):
    id: str
    project: str
    name: str
    status: RunStatus
    start_ms: int
    end_ms: int | None
    heartbeat_ms: int
    user: str
    host: str
    pid: int
    command: str
    code_version: str
    environment_hash: str | None
    parent_id: str | None
    kind: str
    deleted: bool
    params: dict[str, str]
    metrics: dict[str, WireFloat]
    tags: dict[str, str]

    @classmethod
    def of(cls, run: RunRecord) -> RunOut:
        fields = {name: getattr(run, name) for name in cls.model_fields if name != "metrics"}
        return cls(**fields, metrics={k: float_out(x) for k, x in run.metrics.items()})


class RunPatch(BaseModel):
    status: RunStatus | None = None
    name: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    end_ms: Count | None = None


class MetricIn(BaseModel):
    key: Annotated[str, Field(min_length=1, max_length=250)]
    value: WireFloat
    step: Int64 = 0
    timestamp_ms: Int64 | None = None


class MetricOut(BaseModel):
    key: str
    value: WireFloat
    step: int
    timestamp_ms: int


MaxPoints = Annotated[int, Field(ge=2, le=10_000)]
RunId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]


class MetricHistoriesIn(BaseModel):
    run_ids: Annotated[list[RunId], Field(min_length=1, max_length=10)]
    keys: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=250)]], Field(max_length=100)
    ]
    max_points: MaxPoints | None = None
    x: Literal["step", "time"] = "step"


class MetricSeries(BaseModel):
    """One run's history of one key, in columns (``total``: its length before
    downsampling; more than ``len(steps)`` when it was downsampled)."""

    run_id: str
    key: str
    total: int
    steps: list[int]
    values: list[WireFloat]
    timestamps_ms: list[int]


class MetricHistoriesOut(BaseModel):
    series: list[MetricSeries]


class LogBatchIn(BaseModel):
    metrics: list[MetricIn] = []
    params: dict[str, str] = {}
    tags: dict[str, str] = {}


class Logged(BaseModel):
    metrics: int
    params: int
    tags: int
    replayed: bool = False


class SearchIn(BaseModel):
    projects: list[str] | None = None
    filter: Annotated[str, Field(max_length=10_000)] = ""
    order_by: list[Annotated[str, Field(max_length=500)]] = []
    limit: Annotated[int, Field(ge=1, le=10_000)] = 100
    offset: Annotated[int, Field(ge=0, le=INT64_MAX)] = 0
    include_deleted: bool = False


class SearchOut(BaseModel):
    runs: list[RunOut]
    next_offset: int | None


class ArtifactIn(BaseModel):
    path: Annotated[str, Field(min_length=1, max_length=1024)]
    blob_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    size: Count
    serializer: Annotated[str, Field(min_length=1, max_length=64)] = "file"
    created_ms: Count | None = None


class ArtifactOut(BaseModel):
    run_id: str
    path: str
    blob_hash: str
    size: int
    serializer: str
    created_ms: int

    @classmethod
    def of(cls, a: ArtifactRecord) -> ArtifactOut:
        return cls(
            run_id=a.run_id,
            path=a.path,
            blob_hash=a.blob_hash,
            size=a.size,
            serializer=a.serializer,
            created_ms=a.created_ms,
        )


class Purged(BaseModel):
    purged: list[str]


class Done(BaseModel):
    ok: bool = True
