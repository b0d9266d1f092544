"""Records and the small interface every metadata backend implements for tracking.

Times are integer epoch milliseconds (UTC) at this layer: compact, portable between
SQLite and PostgreSQL, and cheap to write in bulk. The tracking API turns them into
timezone-aware datetimes for users.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING


@dataclass(frozen=True, slots=True)
class Project:
    id: int
    name: str
    description: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class Metric:
    """One point. ``value`` is a float; NaN is stored as SQL NULL and read back as NaN."""

    key: str
    value: float
    step: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class RunRecord:
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
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NewRun:
    """What a caller supplies to create a run; the store assigns nothing but defaults."""

    id: str
    project: str
    name: str
    start_ms: int
    user: str = ""
    host: str = ""
    pid: int = 0
    command: str = ""
    code_version: str = ""
    environment_hash: str | None = None
    parent_id: str | None = None
    kind: str = "run"
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: tuple[ArtifactRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    run_id: str
    path: str
    blob_hash: str
    size: int
    serializer: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class BlobReference:
    """One place the metadata store names a blob, for checks such as ``shipyard doctor``.

    ``kind`` is artifact | environment | task_log | model_version | dataset | feature_object
    (or the table name for references added later); ``description`` says where, for people:
    "run 7f82a17a artifact 'model/model.pkl'".
    """

    blob_hash: str
    kind: str
    description: str


class TrackingStore(Protocol):
    """Projects, runs, params, metrics, tags and artifact records.

    ``log_batch`` is the one write primitive for run data; conveniences build on it.
    Every method is one transaction: it either happens entirely or not at all.
    """

    flows: FlowStore
    features: FeatureMetaStore
    models: ModelRegistryStore
    predictions: PredictionLogStore
    monitors: MonitorStore
    events: EventStore

    def create_project(self, name: str, description: str = "") -> Project: ...
    def get_project(self, name: str) -> Project: ...
    def get_or_create_project(self, name: str) -> Project: ...
    def list_projects(self) -> list[Project]: ...

    def create_run(self, run: NewRun) -> RunRecord: ...
    def get_run(self, run_id: str) -> RunRecord: ...
    def set_run_status(self, run_id: str, status: RunStatus, end_ms: int | None) -> None: ...
    def set_run_name(self, run_id: str, name: str) -> None: ...
    def heartbeat(self, run_ids: Sequence[str], now_ms: int) -> None: ...
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None: ...
    def delete_tag(self, run_id: str, key: str) -> None: ...
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]: ...
    def search_runs(
        self,
        projects: Sequence[str] | None = None,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int = 1000,
        offset: int = 0,
        include_deleted: bool = False,
    ) -> list[RunRecord]: ...
    def set_deleted(self, run_ids: Sequence[str], deleted: bool) -> None: ...
    def purge_deleted_runs(self) -> list[str]: ...
    def running_runs(self) -> list[RunRecord]: ...
    def mark_killed(self, run_ids: Sequence[str], end_ms: int) -> list[str]: ...

    def add_artifacts(self, records: Sequence[ArtifactRecord]) -> None: ...
    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactRecord]: ...
    def get_artifact(self, run_id: str, path: str) -> ArtifactRecord: ...
    def referenced_blobs(self, include_deleted_runs: bool = True) -> set[str]: ...
    def blobs_in_use(self, hashes: Iterable[str]) -> set[str]: ...
    def blob_references(self) -> list[BlobReference]:
        """Every blob the store names and where (deleted runs included), in one read."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class FlowRunRecord:
    run_id: str
    flow_name: str
    number: int
    origin_run_id: str | None
    graph: str


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A task of a flow run; its status and times live on its own run (kind "task")."""

    run_id: str
    flow_run_id: str
    step: str
    foreach_path: str
    attempt: int
    input_ids: list[str]
    stdout_hash: str | None
    stderr_hash: str | None
    error: str | None
    status: RunStatus
    start_ms: int
    end_ms: int | None


class FlowStore(Protocol):
    """Flow runs (numbered per flow) and their tasks, on top of the tracking tables."""

    def create_flow_run(
        self, run_id: str, flow_name: str, graph: str, origin_run_id: str | None = None
    ) -> FlowRunRecord: ...
    def get_flow_run(self, flow_name: str, number: int) -> FlowRunRecord: ...
    def flow_run_of(self, run_id: str) -> FlowRunRecord: ...
    def list_flow_runs(self, flow_name: str | None = None) -> list[FlowRunRecord]: ...
    def add_task(self, task: TaskRecord) -> None: ...
    def finish_task(
        self, run_id: str, stdout_hash: str | None, stderr_hash: str | None, error: str | None
    ) -> None: ...
    def tasks(self, flow_run_id: str, step: str | None = None) -> list[TaskRecord]: ...


# -- feature store metadata ------------------------------------------------------------


@dataclass(frozen=True)
class FeatureObject:
    """One immutable version of a feature definition (entity, source, view, service).

    ``spec`` is the JSON-able definition; ``fingerprint`` its hash, so "changed?" is one
    comparison. A removal is recorded as a new version with ``deleted`` set: history stays.
    ``blobs`` are the content hashes the spec refers to (pickled functions, DataFrame data).
    """

    project: str
    kind: str  # entity | source | feature_view | on_demand_feature_view | feature_service
    name: str
    version: int
    spec: dict[str, Any]
    fingerprint: str
    deleted: bool
    created_by: str
    created_ms: int
    blobs: tuple[str, ...] = ()


@dataclass(frozen=True)
class NewFeatureObject:
    """A change to apply. ``base_version`` is the latest version the plan was made against
    (0: the object is new); if the store has moved on since, the apply is refused."""

    kind: str
    name: str
    spec: dict[str, Any]
    fingerprint: str
    base_version: int = 0
    deleted: bool = False
    blobs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Materialization:
    """One write into the online store: a materialize over [start_ms, end_ms) or a push."""

    project: str
    view: str
    view_version: int
    kind: str  # materialize | push
    start_ms: int | None
    end_ms: int
    rows: int
    created_ms: int
    duration_ms: int


@dataclass(frozen=True)
class FeatureStat:
    """Profile of one feature's values, computed at apply or materialize time."""

    project: str
    view: str
    view_version: int
    feature: str
    dtype: str
    count: int
    null_count: int
    distinct_count: int | None
    min_value: Any  # JSON-able: number or string; None when not comparable
    max_value: Any
    mean: float | None
    computed_ms: int
    computed_at: str  # apply | materialize


@dataclass(frozen=True)
class DatasetRecord:
    """A saved training set: an immutable Parquet blob plus where its rows came from."""

    project: str
    name: str
    version: int
    blob_hash: str
    rows: int
    size: int
    lineage: dict[str, Any]  # feature view versions, source fingerprints, entity df hash
    created_by: str
    created_ms: int
    run_id: str | None


class FeatureMetaStore(Protocol):
    """Feature definitions (versioned), materializations, statistics and datasets.

    Every method is one transaction. Projects are created on first use.
    """

    def apply_feature_objects(
        self, project: str, changes: Sequence[NewFeatureObject], user: str, now_ms: int
    ) -> list[FeatureObject]:
        """Record each change as the next version of its object, all or nothing.

        Raises Conflict naming the object when a ``base_version`` is not the latest.
        """
        ...

    def latest_feature_objects(
        self, project: str, kind: str | None = None, include_deleted: bool = False
    ) -> list[FeatureObject]: ...
    def get_feature_object(
        self, project: str, kind: str, name: str, version: int | None = None
    ) -> FeatureObject: ...
    def feature_object_history(self, project: str, kind: str, name: str) -> list[FeatureObject]: ...

    def record_materialization(self, record: Materialization) -> None: ...
    def materializations(
        self, project: str, view: str | None = None, limit: int = 100
    ) -> list[Materialization]: ...
    def watermarks(self, project: str) -> dict[str, int]:
        """Per view, the latest ``end_ms`` of its ``materialize`` records."""
        ...

    def save_feature_stats(self, stats: Sequence[FeatureStat]) -> None: ...
    def feature_stats(self, project: str, view: str | None = None) -> list[FeatureStat]:
        """The latest statistics per (view, feature)."""
        ...

    def create_dataset(
        self,
        project: str,
        name: str,
        blob_hash: str,
        rows: int,
        size: int,
        lineage: dict[str, Any],
        user: str,
        now_ms: int,
        run_id: str | None = None,
    ) -> DatasetRecord:
        """Save the next version of dataset ``name``, with its ``dataset.saved`` event in
        the same transaction."""
        ...

    def get_dataset(self, project: str, name: str, version: int | None = None) -> DatasetRecord: ...
    def list_datasets(self, project: str, name: str | None = None) -> list[DatasetRecord]: ...


# -- model registry ----------------------------------------------------------------------


@dataclass(frozen=True)
class RegisteredModel:
    """A named model; its versions are numbered 1, 2, ... in order of registration."""

    name: str
    owner: str
    description: str
    tags: dict[str, str]
    created_ms: int
    updated_ms: int
    aliases: dict[str, int] = field(default_factory=dict)  # alias -> version
    latest_version: int = 0


@dataclass(frozen=True)
class NewModelVersion:
    """What ``register_model`` records. The model files are one content-addressed blob."""

    flavor: str  # sklearn | xgboost | lightgbm | pytorch | onnx | python_model
    blob_hash: str
    run_id: str | None = None  # the run (or flow task) that produced it
    dataset: str | None = None  # "project/name/version" of the training dataset
    feature_service: str | None = None  # "project/name" of the feature service it consumes
    signature: dict[str, Any] = field(default_factory=dict)  # inputs/outputs, from an example
    requirements: tuple[str, ...] = ()
    metrics: dict[str, float] = field(default_factory=dict)
    owner: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    profile_hash: str | None = None  # the reference profile (JSON blob) monitoring uses


@dataclass(frozen=True)
class ModelVersionRecord:
    name: str
    version: int
    flavor: str
    blob_hash: str
    run_id: str | None
    dataset: str | None
    feature_service: str | None
    signature: dict[str, Any]
    requirements: tuple[str, ...]
    metrics: dict[str, float]
    owner: str
    description: str
    tags: dict[str, str]
    status: str  # READY | ARCHIVED
    created_by: str
    created_ms: int
    profile_hash: str | None = None


@dataclass(frozen=True)
class AliasMove:
    """One move of an alias, kept forever: who moved it, when, from and to which version,
    and the results of the promotion gates checked before the move."""

    name: str
    alias: str
    from_version: int | None
    to_version: int | None  # None: the alias was removed
    moved_by: str
    moved_ms: int
    gates: list[dict[str, Any]] = field(default_factory=list)


UNCHECKED = -1  # move_alias: do not check where the alias pointed before


class ModelRegistryStore(Protocol):
    """Registered models, immutable versions, aliases and their history.

    Every method is one transaction.
    """

    def create_model_version(
        self, name: str, new: NewModelVersion, user: str, now_ms: int
    ) -> ModelVersionRecord:
        """The next version of ``name`` (the model is created on first registration; its
        owner and description default to the version's), with its ``model.registered``
        event in the same transaction."""
        ...

    def get_model(self, name: str) -> RegisteredModel: ...
    def list_models(self) -> list[RegisteredModel]: ...
    def update_model(
        self,
        name: str,
        owner: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> RegisteredModel: ...
    def get_model_version(self, name: str, version: int) -> ModelVersionRecord: ...
    def list_model_versions(self, name: str) -> list[ModelVersionRecord]:
        """Newest first."""
        ...

    def set_version_status(self, name: str, version: int, status: str) -> ModelVersionRecord: ...

    def move_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        user: str,
        now_ms: int,
        gates: Sequence[dict[str, Any]] = (),
        expected_from: int | None = UNCHECKED,
    ) -> AliasMove:
        """Point ``alias`` at ``version`` (None removes it) and record the move, atomically.

        Unless ``expected_from`` is UNCHECKED, the move is refused (Conflict) when the alias
        no longer points there (None: not set): a promotion decided against the old
        champion cannot race another one.
        """
        ...

    def resolve_alias(self, name: str, alias: str) -> int: ...
    def mark_owner_gone(self, owner: str, gone: bool, user: str, now_ms: int) -> None:
        """Record that ``owner`` left (or came back); their models then count as stale."""
        ...

    def gone_owners(self) -> dict[str, tuple[str, int]]:
        """Owner -> (marked by, when)."""
        ...

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        """Newest first."""
        ...


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
        self, model: str, start_ms: int | None, end_ms: int | None, bucket_ms: int
    ) -> dict[int, int]:
        """Start of each ``bucket_ms``-aligned bucket in ``[start_ms, end_ms)`` holding calls
        of ``model`` -> how many calls it holds (every version)."""
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


# -- monitors and alerts -----------------------------------------------------------------


@dataclass(frozen=True)
class MonitorRecord:
    """A declared monitor: ``spec`` is its declaration as given (JSON), ``target`` the alias
    ("@production"), version ("3") or "" (latest version) of ``model`` it watches."""

    id: int
    name: str
    model: str
    target: str
    check_kind: str
    schedule: str
    spec: dict[str, Any]
    created_ms: int
    updated_ms: int


@dataclass(frozen=True)
class MonitorResultRecord:
    """One evaluation of a monitor; ``status`` is ok | fired | error, ``version`` the model
    version it concerned (None when the target did not resolve)."""

    monitor_id: int
    model: str
    version: int | None
    status: str
    evaluated_ms: int
    window_start_ms: int
    window_end_ms: int
    value: float | None
    threshold: float | None
    fired: bool
    details: dict[str, Any] = field(default_factory=dict)
    id: int = 0  # assigned by the store
    monitor: str = ""  # the monitor's name, filled in on reads


@dataclass(frozen=True)
class AlertRecord:
    """An alert: opened when its monitor fires, kept open (deduplicated on ``dedup_key``)
    while it keeps firing, resolved when the monitor recovers."""

    id: int
    monitor_id: int
    monitor: str
    model: str
    version: int | None
    state: str  # firing | resolved
    dedup_key: str
    message: str
    first_fired_ms: int
    last_seen_ms: int
    resolved_ms: int | None


@dataclass(frozen=True)
class AlertDeliveryRecord:
    """One delivery of an alert event to one destination; updated after every attempt."""

    id: int
    alert_id: int
    event: str  # firing | resolved
    destination: str
    payload_kind: str  # json | slack
    attempts: int
    status: str  # pending | delivered | failed
    last_error: str | None
    created_ms: int
    last_attempt_ms: int | None


class MonitorStore(Protocol):
    """Monitors, their results as time series, alerts and alert deliveries.

    Every method is one transaction.
    """

    def upsert_monitor(
        self,
        name: str,
        model: str,
        target: str,
        check_kind: str,
        schedule: str,
        spec: dict[str, Any],
        now_ms: int,
    ) -> MonitorRecord:
        """Create the monitor ``name`` of ``model``, or replace its declaration."""
        ...

    def list_monitors(self, model: str | None = None) -> list[MonitorRecord]: ...
    def get_monitor(self, name: str, model: str | None = None) -> MonitorRecord:
        """By name (and model, when the name is used by several models)."""
        ...

    def add_result(self, result: MonitorResultRecord) -> MonitorResultRecord: ...
    def results(self, monitor_id: int, limit: int | None = None) -> list[MonitorResultRecord]:
        """Newest first."""
        ...

    def open_alert(self, dedup_key: str) -> AlertRecord | None: ...
    def create_alert(
        self,
        monitor_id: int,
        model: str,
        version: int | None,
        dedup_key: str,
        message: str,
        now_ms: int,
    ) -> AlertRecord | None:
        """The new firing alert and its ``alert.fired`` event; None when one with
        ``dedup_key`` is already firing."""
        ...

    def touch_alert(self, alert_id: int, version: int | None, now_ms: int) -> None: ...
    def resolve_alert(self, alert_id: int, now_ms: int) -> AlertRecord:
        """Resolve a firing alert, with its ``alert.resolved`` event (none if it was not
        firing)."""
        ...

    def list_alerts(self, include_resolved: bool = False) -> list[AlertRecord]:
        """Newest first."""
        ...

    def add_delivery(
        self, alert_id: int, event: str, destination: str, payload_kind: str, now_ms: int
    ) -> AlertDeliveryRecord:
        """A pending delivery, written before its first attempt."""
        ...

    def update_delivery(
        self, delivery_id: int, attempts: int, status: str, last_error: str | None, now_ms: int
    ) -> None: ...
    def deliveries(self, alert_id: int | None = None) -> list[AlertDeliveryRecord]:
        """Oldest first."""
        ...


@dataclass(frozen=True)
class EventRecord:
    """Something that happened on the platform (``alert.fired``, ``model.registered``,
    ``dataset.saved``...), as the scheduler's triggers see it."""

    id: int
    name: str
    payload: dict[str, Any]
    source: str
    created_ms: int


@dataclass(frozen=True)
class DeploymentRecord:
    """A flow file the scheduler runs: on its cron schedule and on its trigger events."""

    name: str
    flow_name: str
    path: str
    file_hash: str
    schedule: str | None
    timezone: str | None
    triggers: list[dict[str, Any]]  # [{"name", "filters", "parameters"}]
    event_cursor: int
    deployed_by: str
    created_ms: int
    updated_ms: int


@dataclass(frozen=True)
class FiringRecord:
    """One claimed firing of a deployment (a cron due time or an event) and how it went."""

    id: int
    deployment: str
    firing_key: str
    kind: str  # schedule | event
    event_id: int | None
    due_ms: int
    status: str  # claimed | running | succeeded | failed | error | lost
    claimed_by: str
    claimed_ms: int
    lease_until_ms: int
    started_ms: int | None
    finished_ms: int | None
    pid: int | None
    run_id: str | None
    flow_run: str | None
    log_path: str | None
    message: str


class EventStore(Protocol):
    """The platform's events, the scheduler's deployments and its claimed firings.

    Every method is one transaction. A firing is claimed by inserting its unique key: of
    two schedulers claiming the same key, exactly one gets the row.
    """

    def emit(
        self, name: str, payload: dict[str, Any], now_ms: int, source: str = ""
    ) -> EventRecord: ...
    def list_events(
        self, names: Sequence[str] | None = None, after_id: int = 0, limit: int | None = None
    ) -> list[EventRecord]:
        """Oldest first."""
        ...

    def latest_event_id(self) -> int: ...
    def upsert_deployment(self, deployment: DeploymentRecord) -> DeploymentRecord:
        """Create, or replace the deployment of the same name (its event cursor kept)."""
        ...

    def list_deployments(self) -> list[DeploymentRecord]: ...
    def get_deployment(self, name: str) -> DeploymentRecord: ...
    def delete_deployment(self, name: str) -> None: ...
    def advance_cursor(self, name: str, event_id: int) -> None:
        """Move the deployment's event cursor forward (never back)."""
        ...

    def unclaimed_events(
        self, deployment: str, names: Sequence[str], after_id: int
    ) -> list[EventRecord]:
        """Events named ``names`` after ``after_id`` with no firing of ``deployment``."""
        ...

    def claim(
        self,
        deployment: str,
        firing_key: str,
        kind: str,
        due_ms: int,
        event_id: int | None,
        owner: str,
        now_ms: int,
        lease_ms: int,
    ) -> FiringRecord | None:
        """The new firing, or None when another scheduler holds the key. A firing claimed
        but never started whose lease ran out is taken over."""
        ...

    def update_firing(self, firing_id: int, **values: Any) -> FiringRecord: ...
    def renew_leases(self, owner: str, firing_ids: Sequence[int], until_ms: int) -> None: ...
    def expire_leases(self, now_ms: int) -> int:
        """Firings left running by a scheduler that stopped renewing: ``lost``."""
        ...

    def firings(
        self, deployment: str | None = None, limit: int | None = None
    ) -> list[FiringRecord]:
        """Newest first."""
        ...

    def get_firing(self, firing_id: int) -> FiringRecord: ...
