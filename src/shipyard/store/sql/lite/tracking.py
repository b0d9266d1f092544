"""LiteTrackingStore: the tracking calls a local flow run makes (and its steps' params,
tags and metrics), through sqlite3; every other call goes to the full SQLAlchemy store,
opened on its first use.

Same tables, same transactions, same results as ``SqlTrackingStore`` (the store tests run
on both); only used on a database already at the schema head (see ``open_store``).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from shipyard.errors import AlreadyExists, NotFound
from shipyard.store.base import ArtifactRecord, Project, RunRecord, RunStatus
from shipyard.store.base.paths import confined_paths
from shipyard.store.sql.audit_entry import (
    artifacts_added,
    batch_counts,
    record_audit_sqlite,
    run_created,
    status_change,
)
from shipyard.store.sql.lite import run_data
from shipyard.store.sql.lite.database import LiteDatabase
from shipyard.store.sql.lite.flows import LiteFlowStore
from shipyard.store.sql.records import (
    RunData,
    artifact_record,
    get_or_create_project,
    metric_value,
    run_record,
)

if TYPE_CHECKING:  # the other capabilities' interfaces: their modules load when used
    from shipyard.store.base import (
        AuditStore,
        BlobReference,
        EventStore,
        FeatureMetaStore,
        IdentityStore,
        Metric,
        ModelRegistryStore,
        MonitorStore,
        NewRun,
        PredictionLogStore,
    )
    from shipyard.store.sql.tracking import SqlTrackingStore

CHUNK = 500  # ids per IN (...): under SQLite's parameter limit
_RUN_COLUMNS = (
    "id, project_id, name, kind, parent_id, status, start_ms, end_ms, heartbeat_ms, user, "
    "host, pid, command, code_version, environment_hash"
)
_INSERT_RUN = f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({', '.join('?' * 15)})"
_SELECT_RUN = (
    "SELECT runs.*, projects.name AS project FROM runs "
    "JOIN projects ON projects.id = runs.project_id"
)
_ARTIFACT_COLUMNS = "run_id, path, blob_hash, size, serializer, created_ms"
_INSERT_ARTIFACT = f"INSERT INTO artifacts ({_ARTIFACT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _artifact_values(r: ArtifactRecord) -> tuple[Any, ...]:
    return (r.run_id, r.path, r.blob_hash, r.size, r.serializer, r.created_ms)


class LiteTrackingStore:
    def __init__(self, uri: str, path: str) -> None:
        self.lite = LiteDatabase(uri, path)
        self.flows = LiteFlowStore(self.lite)
        self._project_ids: dict[str, int] = {}
        self._full: SqlTrackingStore | None = None
        self._full_lock = threading.Lock()

    @property
    def uri(self) -> str:
        return self.lite.uri

    @property
    def full(self) -> SqlTrackingStore:
        """The SQLAlchemy store of the same database, for every call not made here."""
        if self._full is None:
            with self._full_lock:
                if self._full is None:
                    from shipyard.store.sql.tracking import SqlTrackingStore

                    self._full = SqlTrackingStore(self.lite.uri)
        return self._full

    def __getattr__(self, name: str) -> Any:
        """What only the SQLAlchemy store has (``db``, its engine: for tests and tools)."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.full, name)

    def close(self) -> None:
        self.lite.close()
        if self._full is not None:
            self._full.close()

    # -- the other capabilities' stores: SQLAlchemy's -----------------------------------

    @property
    def features(self) -> FeatureMetaStore:
        return self.full.features

    @property
    def models(self) -> ModelRegistryStore:
        return self.full.models

    @property
    def predictions(self) -> PredictionLogStore:
        return self.full.predictions

    @property
    def monitors(self) -> MonitorStore:
        return self.full.monitors

    @property
    def events(self) -> EventStore:
        return self.full.events

    @property
    def identity(self) -> IdentityStore:
        return self.full.identity

    @property
    def audit(self) -> AuditStore:
        return self.full.audit

    # -- projects ---------------------------------------------------------------------

    def create_project(self, name: str, description: str = "") -> Project:
        def _create(conn: sqlite3.Connection) -> Project:
            if conn.execute("SELECT id FROM projects WHERE name = ?", (name,)).fetchone():
                raise AlreadyExists(f"project {name!r} already exists")
            created = _now_ms()
            cursor = conn.execute(
                "INSERT INTO projects (name, description, created_ms, created_by) "
                "VALUES (?, ?, ?, '')",
                (name, description, created),
            )
            assert cursor.lastrowid is not None
            summary = {"description": description}
            record_audit_sqlite(conn, "project.create", f"project:{name}", summary)
            return Project(cursor.lastrowid, name, description, created)

        return self.lite.write(_create)

    def get_project(self, name: str) -> Project:
        row = self.lite.read(
            lambda c: c.execute("SELECT * FROM projects WHERE name = ?", (name,)).fetchone()
        )
        if row is None:
            raise NotFound(f"no project named {name!r}; `shipyard projects ls` lists them")
        return Project(row.id, row.name, row.description, row.created_ms)

    def get_or_create_project(self, name: str) -> Project:
        return get_or_create_project(self, name)

    def list_projects(self) -> list[Project]:
        query = "SELECT * FROM projects ORDER BY name"
        rows = self.lite.read(lambda c: c.execute(query).fetchall())
        return [Project(r.id, r.name, r.description, r.created_ms) for r in rows]

    def _project_id(self, name: str) -> int:
        """Project ids never change, so they are cached per store."""
        if name not in self._project_ids:
            self._project_ids[name] = self.get_or_create_project(name).id
        return self._project_ids[name]

    # -- runs -------------------------------------------------------------------------

    def create_run(self, run: NewRun) -> RunRecord:
        """One write transaction: the run, its params, tags and artifact records."""
        project_id = self._project_id(run.project)
        record = RunRecord(
            id=run.id, project=run.project, name=run.name, status=RunStatus.RUNNING,
            start_ms=run.start_ms, end_ms=None, heartbeat_ms=run.start_ms, user=run.user,
            host=run.host, pid=run.pid, command=run.command, code_version=run.code_version,
            environment_hash=run.environment_hash, parent_id=run.parent_id, kind=run.kind,
            deleted=False, params=dict(run.params), tags=dict(run.tags),
        )  # fmt: skip
        values = (
            run.id, project_id, run.name, run.kind, run.parent_id, RunStatus.RUNNING.value,
            run.start_ms, None, run.start_ms, run.user, run.host, run.pid, run.command,
            run.code_version, run.environment_hash,
        )  # fmt: skip

        def _create(conn: sqlite3.Connection) -> None:
            conn.execute(_INSERT_RUN, values)
            for table, data in (("params", run.params), ("tags", run.tags)):
                if data:  # a new run has none yet: plain inserts, no upsert
                    conn.executemany(
                        f"INSERT INTO {table} (run_id, key, value) VALUES (?, ?, ?)",
                        [(run.id, k, v) for k, v in data.items()],
                    )
            if run.artifacts:
                conn.executemany(_INSERT_ARTIFACT, [_artifact_values(a) for a in run.artifacts])
            record_audit_sqlite(conn, "run.create", f"run:{run.id}", run_created(run))

        self.lite.write(_create)
        return record

    def get_run(self, run_id: str) -> RunRecord:
        def _get(conn: sqlite3.Connection) -> RunRecord:
            row = conn.execute(f"{_SELECT_RUN} WHERE runs.id = ?", (run_id,)).fetchone()
            if row is None:
                raise NotFound(f"no run with id {run_id!r}")
            return run_record(row, _run_data(conn, run_id))

        return self.lite.read(_get)

    def set_run_status(self, run_id: str, status: RunStatus, end_ms: int | None) -> None:
        def _set(conn: sqlite3.Connection) -> None:
            before = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if before is None:
                raise NotFound(f"no run with id {run_id!r}")
            conn.execute(
                "UPDATE runs SET status = ?, end_ms = ? WHERE id = ?",
                (status.value, end_ms, run_id),
            )
            change = status_change(before[0], status, end_ms)
            record_audit_sqlite(conn, "run.status", f"run:{run_id}", change)

        self.lite.write(_set)

    def set_run_name(self, run_id: str, name: str) -> None:
        def _set(conn: sqlite3.Connection) -> None:
            before = conn.execute("SELECT name FROM runs WHERE id = ?", (run_id,)).fetchone()
            if before is not None and before[0] != name:  # a missing run: nothing, as ever
                conn.execute("UPDATE runs SET name = ? WHERE id = ?", (name, run_id))
                change = {"before": {"name": before[0]}, "after": {"name": name}}
                record_audit_sqlite(conn, "run.rename", f"run:{run_id}", change)

        self.lite.write(_set)

    def heartbeat(self, run_ids: Sequence[str], now_ms: int) -> None:
        def _beat(conn: sqlite3.Connection) -> None:
            for chunk in _chunks(list(run_ids)):
                conn.execute(
                    f"UPDATE runs SET heartbeat_ms = ? WHERE id IN ({_marks(chunk)}) "
                    "AND status = 'RUNNING'",
                    (now_ms, *chunk),
                )

        if run_ids:
            self.lite.write(_beat)

    def running_runs(self) -> list[RunRecord]:
        rows = self.lite.read(
            lambda c: c.execute(f"{_SELECT_RUN} WHERE runs.status = 'RUNNING'").fetchall()
        )
        return [run_record(r) for r in rows]

    def mark_killed(self, run_ids: Sequence[str], end_ms: int) -> list[str]:
        """As ``SqlTrackingStore.mark_killed``: a killed run ended at its last heartbeat."""

        def _mark(conn: sqlite3.Connection) -> list[str]:
            changed = []
            for run_id in run_ids:
                done = conn.execute(
                    "UPDATE runs SET status = 'KILLED', end_ms = CASE WHEN heartbeat_ms < ? "
                    "THEN heartbeat_ms ELSE ? END WHERE id = ? AND status = 'RUNNING'",
                    (end_ms, end_ms, run_id),
                )
                if done.rowcount:
                    changed.append(run_id)
            killed = status_change(RunStatus.RUNNING.value, RunStatus.KILLED, None)
            killed["reason"] = "no heartbeat"
            for run_id in changed:
                record_audit_sqlite(conn, "run.status", f"run:{run_id}", killed)
            return changed

        return self.lite.write(_mark)

    # -- artifacts --------------------------------------------------------------------

    def add_artifacts(self, records: Sequence[ArtifactRecord]) -> None:
        """Record artifacts (replacing same paths) all at once, or none of them."""
        confined_paths(records)

        def _add(conn: sqlite3.Connection) -> None:
            for run_id in {r.run_id for r in records}:
                _require_run(conn, run_id)
            conn.executemany(
                "DELETE FROM artifacts WHERE run_id = ? AND path = ?",
                [(r.run_id, r.path) for r in records],
            )
            conn.executemany(_INSERT_ARTIFACT, [_artifact_values(r) for r in records])
            for obj, summary in artifacts_added(records):
                record_audit_sqlite(conn, "run.artifacts.add", obj, summary)

        if records:
            self.lite.write(_add)

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactRecord]:
        def _list(conn: sqlite3.Connection) -> list[ArtifactRecord]:
            _require_run(conn, run_id)
            if prefix:
                rows = conn.execute(
                    # not LIKE: SQLite's ignores case, and a prefix is exact
                    "SELECT * FROM artifacts WHERE run_id = ? AND substr(path, 1, ?) = ? "
                    "ORDER BY path",
                    (run_id, len(prefix), prefix),
                )
            else:
                rows = conn.execute(
                    "SELECT * FROM artifacts WHERE run_id = ? ORDER BY path", (run_id,)
                )
            return [artifact_record(r) for r in rows]

        return self.lite.read(_list)

    def get_artifact(self, run_id: str, path: str) -> ArtifactRecord:
        def _get(conn: sqlite3.Connection) -> ArtifactRecord:
            _require_run(conn, run_id)
            row = conn.execute(
                "SELECT * FROM artifacts WHERE run_id = ? AND path = ?", (run_id, path)
            ).fetchone()
            if row is None:
                raise NotFound(f"run {run_id} has no artifact {path!r}")
            return artifact_record(row)

        return self.lite.read(_get)

    # -- params, tags, metrics ----------------------------------------------------------

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        def _log(conn: sqlite3.Connection) -> None:
            _require_run(conn, run_id)
            if params:
                run_data.write_params(conn, run_id, params)
            if tags:
                run_data.write_tags(conn, run_id, tags)
            if metrics:
                run_data.write_metrics(conn, run_id, metrics)
            counts = batch_counts(metrics, params, tags)
            if any(counts.values()):  # an empty batch changes nothing
                record_audit_sqlite(conn, "run.log", f"run:{run_id}", counts)

        self.lite.write(_log)

    def delete_tag(self, run_id: str, key: str) -> None:
        def _delete(conn: sqlite3.Connection) -> None:
            done = conn.execute("DELETE FROM tags WHERE run_id = ? AND key = ?", (run_id, key))
            if done.rowcount == 0:
                raise NotFound(f"run {run_id} has no tag {key!r}")
            record_audit_sqlite(conn, "run.tag.delete", f"run:{run_id}", {"key": key})

        self.lite.write(_delete)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        def _history(conn: sqlite3.Connection) -> list[Metric]:
            _require_run(conn, run_id)
            return run_data.metric_history(conn, run_id, key)

        return self.lite.read(_history)

    def get_metric_histories(
        self, run_ids: Sequence[str], keys: Sequence[str]
    ) -> dict[str, dict[str, list[Metric]]]:
        return self.full.get_metric_histories(run_ids, keys)

    # -- the rest: the SQLAlchemy store -------------------------------------------------

    def search_runs(
        self,
        projects: Sequence[str] | None = None,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int = 1000,
        offset: int = 0,
        include_deleted: bool = False,
    ) -> list[RunRecord]:
        return self.full.search_runs(projects, filter, order_by, limit, offset, include_deleted)

    def set_deleted(self, run_ids: Sequence[str], deleted: bool) -> None:
        self.full.set_deleted(run_ids, deleted)

    def purge_deleted_runs(self) -> list[str]:
        return self.full.purge_deleted_runs()

    def referenced_blobs(self, include_deleted_runs: bool = True) -> set[str]:
        return self.full.referenced_blobs(include_deleted_runs)

    def blobs_in_use(self, hashes: Iterable[str]) -> set[str]:
        return self.full.blobs_in_use(hashes)

    def blob_references(self) -> list[BlobReference]:
        return self.full.blob_references()


def _require_run(conn: sqlite3.Connection, run_id: str) -> None:
    if conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
        raise NotFound(f"no run with id {run_id!r}")


def _run_data(conn: sqlite3.Connection, run_id: str) -> RunData:
    key = (run_id,)
    params = conn.execute("SELECT key, value FROM params WHERE run_id = ?", key)
    metrics = conn.execute("SELECT key, value FROM latest_metrics WHERE run_id = ?", key)
    tags = conn.execute("SELECT key, value FROM tags WHERE run_id = ?", key)
    return (
        {r[0]: r[1] for r in params},
        {r[0]: metric_value(r[1]) for r in metrics},
        {r[0]: r[1] for r in tags},
    )


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _marks(chunk: Sequence[str]) -> str:
    return ", ".join("?" * len(chunk))
