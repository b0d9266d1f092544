"""SqlTrackingStore: the tracking tables on SQLite or PostgreSQL."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, case, delete, func, insert, select, update

from shipyard.errors import AlreadyExists, Conflict, NotFound
from shipyard.store.base import (
    ArtifactRecord,
    BlobReference,
    Metric,
    NewRun,
    Project,
    RunRecord,
    RunStatus,
)
from shipyard.store.base.paths import confined_paths
from shipyard.store.sql import search
from shipyard.store.sql.audit import SqlAuditStore, record_audit, record_audits
from shipyard.store.sql.audit_entry import (
    artifacts_added,
    batch_counts,
    run_created,
    status_change,
)
from shipyard.store.sql.engine import Database
from shipyard.store.sql.features import SqlFeatureMetaStore
from shipyard.store.sql.flows import SqlFlowStore
from shipyard.store.sql.identity import SqlIdentityStore
from shipyard.store.sql.migrate import ensure_schema
from shipyard.store.sql.monitors import SqlMonitorStore
from shipyard.store.sql.predictions import SqlPredictionLogStore
from shipyard.store.sql.records import get_or_create_project, metric_value
from shipyard.store.sql.registry import SqlModelRegistryStore
from shipyard.store.sql.rows import (
    artifact_from_row,
    artifact_row,
    chunks,
    history_rows,
    insert_metric_rows,
    metric_from_row,
    run_records,
)
from shipyard.store.sql.scheduler import SqlEventStore
from shipyard.store.sql.tables import (
    BLOB_REFERENCES,
    artifacts,
    flow_runs,
    latest_metrics,
    metrics,
    params,
    projects,
    runs,
    tags,
    tasks,
)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _owned_by_a_run(table: Table) -> bool:
    """Rows that go when their run is purged (run_id ON DELETE CASCADE); the blobs of other
    tables (feature definitions; datasets, which only remember their run) outlive runs."""
    return "run_id" in table.c and any(
        fk.ondelete == "CASCADE" for fk in table.c.run_id.foreign_keys
    )


class SqlTrackingStore:
    def __init__(self, uri: str, migrate: bool = True) -> None:
        self.db = Database(uri)
        if migrate:
            try:
                ensure_schema(self.db)
            except BaseException:
                self.db.dispose()  # a refused store must not leak its connections
                raise
        self._upsert: Any
        if self.db.dialect == "postgresql":  # import only the dialect in use
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            self._upsert = pg_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            self._upsert = sqlite_insert
        self._project_ids: dict[str, int] = {}
        self.flows = SqlFlowStore(self.db)
        self.features = SqlFeatureMetaStore(self.db)
        self.models = SqlModelRegistryStore(self.db)
        self.predictions = SqlPredictionLogStore(self.db)
        self.monitors = SqlMonitorStore(self.db)
        self.events = SqlEventStore(self.db)
        self.identity = SqlIdentityStore(self.db)
        self.audit = SqlAuditStore(self.db)

    @property
    def uri(self) -> str:
        return self.db.uri

    def close(self) -> None:
        self.db.dispose()

    # -- projects ---------------------------------------------------------------------

    def create_project(self, name: str, description: str = "") -> Project:
        def _create(conn: Connection) -> Project:
            if conn.execute(select(projects.c.id).where(projects.c.name == name)).first():
                raise AlreadyExists(f"project {name!r} already exists")
            created = _now_ms()
            done = conn.execute(
                insert(projects).values(name=name, description=description, created_ms=created)
            )
            key = done.inserted_primary_key
            assert key is not None
            record_audit(conn, "project.create", f"project:{name}", {"description": description})
            return Project(int(key[0]), name, description, created)

        return self.db.write(_create)

    def get_project(self, name: str) -> Project:
        row = self.db.read(
            lambda c: c.execute(select(projects).where(projects.c.name == name)).first()
        )
        if row is None:
            raise NotFound(f"no project named {name!r}; `shipyard projects ls` lists them")
        return Project(row.id, row.name, row.description, row.created_ms)

    def get_or_create_project(self, name: str) -> Project:
        return get_or_create_project(self, name)

    def list_projects(self) -> list[Project]:
        rows = self.db.read(lambda c: c.execute(select(projects).order_by(projects.c.name)).all())
        return [Project(r.id, r.name, r.description, r.created_ms) for r in rows]

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
        row = {c.name: getattr(record, c.name) for c in runs.c if hasattr(record, c.name)}
        row.update(project_id=project_id, status=record.status.value)

        def _create(conn: Connection) -> None:
            conn.execute(insert(runs).values(**row))
            for table, values in ((params, run.params), (tags, run.tags)):
                if values:  # a new run has none yet: plain inserts, no upsert
                    conn.execute(
                        insert(table),
                        [{"run_id": run.id, "key": k, "value": v} for k, v in values.items()],
                    )
            if run.artifacts:
                conn.execute(insert(artifacts), [artifact_row(a) for a in run.artifacts])
            record_audit(conn, "run.create", f"run:{run.id}", run_created(run))

        self.db.write(_create)
        return record

    def _project_id(self, name: str) -> int:
        """Project ids never change, so they are cached per store."""
        if name not in self._project_ids:
            self._project_ids[name] = self.get_or_create_project(name).id
        return self._project_ids[name]

    def get_run(self, run_id: str) -> RunRecord:
        def _get(conn: Connection) -> RunRecord:
            row = conn.execute(search.run_select().where(runs.c.id == run_id)).first()
            if row is None:
                raise NotFound(f"no run with id {run_id!r}")
            return run_records(conn, [row])[0]

        return self.db.read(_get)

    def set_run_status(self, run_id: str, status: RunStatus, end_ms: int | None) -> None:
        def _set(conn: Connection) -> None:
            before = conn.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar()
            if before is None:
                raise NotFound(f"no run with id {run_id!r}")
            conn.execute(
                update(runs).where(runs.c.id == run_id).values(status=status.value, end_ms=end_ms)
            )
            record_audit(conn, "run.status", f"run:{run_id}", status_change(before, status, end_ms))

        self.db.write(_set)

    def set_run_name(self, run_id: str, name: str) -> None:
        def _set(conn: Connection) -> None:
            before = conn.execute(select(runs.c.name).where(runs.c.id == run_id)).scalar()
            if before is not None and before != name:  # a missing run: nothing, as ever
                conn.execute(update(runs).where(runs.c.id == run_id).values(name=name))
                change = {"before": {"name": before}, "after": {"name": name}}
                record_audit(conn, "run.rename", f"run:{run_id}", change)

        self.db.write(_set)

    def heartbeat(self, run_ids: Sequence[str], now_ms: int) -> None:
        if run_ids:
            self.db.write(
                lambda c: c.execute(
                    update(runs)
                    .where(runs.c.id.in_(list(run_ids)), runs.c.status == RunStatus.RUNNING.value)
                    .values(heartbeat_ms=now_ms)
                )
            )

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        def _log(conn: Connection) -> None:
            self._require_run(conn, run_id)
            if params:
                self._write_params(conn, run_id, params)
            if tags:
                self._write_tags(conn, run_id, tags)
            if metrics:
                self._write_metrics(conn, run_id, metrics)
            counts = batch_counts(metrics, params, tags)
            if any(counts.values()):  # an empty batch changes nothing
                record_audit(conn, "run.log", f"run:{run_id}", counts)

        self.db.write(_log)

    def delete_tag(self, run_id: str, key: str) -> None:
        def _delete(conn: Connection) -> None:
            done = conn.execute(delete(tags).where(tags.c.run_id == run_id, tags.c.key == key))
            if done.rowcount == 0:
                raise NotFound(f"run {run_id} has no tag {key!r}")
            record_audit(conn, "run.tag.delete", f"run:{run_id}", {"key": key})

        self.db.write(_delete)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        def _history(conn: Connection) -> list[Metric]:
            self._require_run(conn, run_id)
            rows = conn.execute(
                select(metrics.c.key, metrics.c.value, metrics.c.step, metrics.c.timestamp_ms)
                .where(metrics.c.run_id == run_id, metrics.c.key == key)
                .order_by(metrics.c.step, metrics.c.timestamp_ms, metrics.c.id)
            ).all()
            return [metric_from_row(r) for r in rows]

        return self.db.read(_history)

    def get_metric_histories(
        self, run_ids: Sequence[str], keys: Sequence[str]
    ) -> dict[str, dict[str, list[Metric]]]:
        wanted = list(dict.fromkeys(run_ids))
        names = list(dict.fromkeys(keys))

        def _histories(conn: Connection) -> dict[str, dict[str, list[Metric]]]:
            known: set[str] = set()
            for chunk in chunks(wanted, 500):
                known.update(conn.execute(select(runs.c.id).where(runs.c.id.in_(chunk))).scalars())
            missing = [r for r in wanted if r not in known]
            if missing:
                raise NotFound(f"no run with id {', '.join(map(repr, missing))}")
            found: dict[str, dict[str, list[Metric]]] = {r: {k: [] for k in names} for r in wanted}
            for run_id, key, value, step, timestamp_ms in history_rows(conn, wanted, names):
                found[run_id][key].append(Metric(key, metric_value(value), step, timestamp_ms))
            return found

        return self.db.read(_histories)

    def search_runs(
        self,
        projects: Sequence[str] | None = None,
        filter: str = "",
        order_by: Sequence[str] = (),
        limit: int = 1000,
        offset: int = 0,
        include_deleted: bool = False,
    ) -> list[RunRecord]:
        query = search.build_query(projects, filter, order_by, limit, offset, include_deleted)
        return self.db.read(lambda c: run_records(c, c.execute(query).all()))

    def count_runs(
        self,
        projects: Sequence[str] | None = None,
        filter: str = "",
        include_deleted: bool = False,
    ) -> int:
        query = search.count_query(projects, filter, include_deleted)
        return self.db.read(lambda c: int(c.execute(query).scalar_one()))

    def set_deleted(self, run_ids: Sequence[str], deleted: bool) -> None:
        def _set(conn: Connection) -> None:
            found = set(
                conn.execute(select(runs.c.id).where(runs.c.id.in_(list(run_ids)))).scalars()
            )
            missing = [r for r in run_ids if r not in found]
            if missing:
                raise NotFound(f"no run with id {', '.join(missing)}")
            # a flow run's tasks are runs of their own and go (and come back) with it
            owned = (runs.c.parent_id.in_(list(run_ids))) & (runs.c.kind == "task")
            conn.execute(
                update(runs)
                .where(runs.c.id.in_(list(run_ids)) | owned)
                .values(deleted_ms=_now_ms() if deleted else None)
            )
            action = "run.delete" if deleted else "run.restore"
            record_audits(conn, action, [(f"run:{r}", None) for r in dict.fromkeys(run_ids)])

        self.db.write(_set)

    def purge_deleted_runs(self) -> list[str]:
        def _purge(conn: Connection) -> list[str]:
            ids = list(
                conn.execute(select(runs.c.id).where(runs.c.deleted_ms.is_not(None))).scalars()
            )
            for chunk in chunks(ids, 500):
                conn.execute(update(runs).where(runs.c.parent_id.in_(chunk)).values(parent_id=None))
                conn.execute(delete(tasks).where(tasks.c.flow_run_id.in_(chunk)))
                for table in (metrics, latest_metrics, params, tags, artifacts, tasks, flow_runs):
                    conn.execute(delete(table).where(table.c.run_id.in_(chunk)))
                conn.execute(delete(runs).where(runs.c.id.in_(chunk)))
            record_audits(conn, "run.purge", [(f"run:{r}", None) for r in ids])
            return ids

        return self.db.write(_purge)

    def running_runs(self) -> list[RunRecord]:
        query = search.run_select().where(runs.c.status == RunStatus.RUNNING.value)
        return self.db.read(lambda c: run_records(c, c.execute(query).all(), with_data=False))

    def mark_killed(self, run_ids: Sequence[str], end_ms: int) -> list[str]:
        """Mark still-RUNNING runs KILLED; returns the ids that changed (race-safe).

        A killed run ended at its last sign of life, its heartbeat, not when it was found
        dead (``end_ms``, which only caps it)."""
        last_seen = case((runs.c.heartbeat_ms < end_ms, runs.c.heartbeat_ms), else_=end_ms)

        def _mark(conn: Connection) -> list[str]:
            changed = []
            for run_id in run_ids:
                done = conn.execute(
                    update(runs)
                    .where(runs.c.id == run_id, runs.c.status == RunStatus.RUNNING.value)
                    .values(status=RunStatus.KILLED.value, end_ms=last_seen)
                )
                if done.rowcount:
                    changed.append(run_id)
            killed = status_change(RunStatus.RUNNING.value, RunStatus.KILLED, None)
            killed["reason"] = "no heartbeat"
            record_audits(conn, "run.status", [(f"run:{r}", killed) for r in changed])
            return changed

        return self.db.write(_mark)

    # -- artifacts --------------------------------------------------------------------

    def add_artifacts(self, records: Sequence[ArtifactRecord]) -> None:
        """Record artifacts (replacing same paths) all at once, or none of them."""
        confined_paths(records)

        def _add(conn: Connection) -> None:
            for run_id in {r.run_id for r in records}:
                self._require_run(conn, run_id)
            for record in records:
                conn.execute(
                    delete(artifacts).where(
                        artifacts.c.run_id == record.run_id, artifacts.c.path == record.path
                    )
                )
            conn.execute(insert(artifacts), [artifact_row(r) for r in records])
            record_audits(conn, "run.artifacts.add", artifacts_added(records))

        if records:
            self.db.write(_add)

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactRecord]:
        def _list(conn: Connection) -> list[ArtifactRecord]:
            self._require_run(conn, run_id)
            query = select(artifacts).where(artifacts.c.run_id == run_id)
            if prefix:
                query = query.where(func.substr(artifacts.c.path, 1, len(prefix)) == prefix)
            return [
                artifact_from_row(r) for r in conn.execute(query.order_by(artifacts.c.path)).all()
            ]

        return self.db.read(_list)

    def get_artifact(self, run_id: str, path: str) -> ArtifactRecord:
        def _get(conn: Connection) -> ArtifactRecord:
            self._require_run(conn, run_id)
            row = conn.execute(
                select(artifacts).where(artifacts.c.run_id == run_id, artifacts.c.path == path)
            ).first()
            if row is None:
                raise NotFound(f"run {run_id} has no artifact {path!r}")
            return artifact_from_row(row)

        return self.db.read(_get)

    def referenced_blobs(self, include_deleted_runs: bool = True) -> set[str]:
        def _all(conn: Connection) -> set[str]:
            found: set[str] = set()
            for table, column in BLOB_REFERENCES:
                query = select(column).distinct()
                if not include_deleted_runs and table is runs:
                    query = query.where(runs.c.deleted_ms.is_(None))
                elif not include_deleted_runs and _owned_by_a_run(table):
                    query = query.join(runs, runs.c.id == table.c.run_id)
                    query = query.where(runs.c.deleted_ms.is_(None))
                found.update(h for h in conn.execute(query).scalars() if h)
            return found

        return self.db.read(_all)

    def blobs_in_use(self, hashes: Iterable[str]) -> set[str]:
        wanted = list(hashes)

        def _used(conn: Connection) -> set[str]:
            found: set[str] = set()
            for chunk in chunks(wanted, 500):
                for _table, column in BLOB_REFERENCES:
                    found.update(conn.execute(select(column).where(column.in_(chunk))).scalars())
            return found

        return self.db.read(_used)

    def blob_references(self) -> list[BlobReference]:
        """Every (table, column) of ``BLOB_REFERENCES``, each reference described by the
        object that holds it; a table this method does not know is described generically."""
        from shipyard.store.sql.feature_tables import datasets, feature_object_blobs
        from shipyard.store.sql.feature_tables import feature_objects as fo
        from shipyard.store.sql.registry_tables import model_versions, registered_models

        known = {
            (artifacts.name, "blob_hash"),
            (runs.name, "environment_hash"),
            (tasks.name, "stdout_hash"),
            (tasks.name, "stderr_hash"),
            (model_versions.name, "blob_hash"),
            (model_versions.name, "profile_hash"),
            (datasets.name, "blob_hash"),
            (feature_object_blobs.name, "blob_hash"),
        }
        mv, rm, ds, fob = model_versions.c, registered_models.c, datasets.c, feature_object_blobs.c
        queries: list[tuple[str, Any, Any]] = [
            ("artifact", select(artifacts.c.blob_hash, artifacts.c.run_id, artifacts.c.path),
             lambda r: f"run {r[1][:8]} artifact {r[2]!r}"),
            ("environment", select(runs.c.environment_hash, runs.c.id),
             lambda r: f"run {r[1][:8]} environment"),
            ("task_log", select(tasks.c.stdout_hash, tasks.c.run_id),
             lambda r: f"task run {r[1][:8]} stdout"),
            ("task_log", select(tasks.c.stderr_hash, tasks.c.run_id),
             lambda r: f"task run {r[1][:8]} stderr"),
            ("model_version",
             select(mv.blob_hash, rm.name, mv.version)
             .join(registered_models, rm.id == mv.model_id),
             lambda r: f"model {r[1]} v{r[2]} files"),
            ("model_profile",
             select(mv.profile_hash, rm.name, mv.version)
             .join(registered_models, rm.id == mv.model_id),
             lambda r: f"model {r[1]} v{r[2]} reference profile"),
            ("dataset",
             select(ds.blob_hash, projects.c.name, ds.name, ds.version)
             .join(projects, projects.c.id == ds.project_id),
             lambda r: f"dataset {r[1]}/{r[2]} v{r[3]}"),
            ("feature_object",
             select(fob.blob_hash, projects.c.name, fo.c.kind, fo.c.name, fo.c.version)
             .join(fo, fo.c.id == fob.object_id).join(projects, projects.c.id == fo.c.project_id),
             lambda r: f"{r[2]} {r[1]}/{r[3]} v{r[4]}"),
        ]  # fmt: skip
        for table, column in BLOB_REFERENCES:
            if (table.name, column.name) not in known:
                queries.append(
                    (table.name, select(column), lambda r, t=table.name: f"a row of table {t}")
                )

        def _read(conn: Connection) -> list[BlobReference]:
            found = []
            for kind, query, describe in queries:
                for row in conn.execute(query):
                    if row[0]:
                        found.append(BlobReference(row[0], kind, describe(row)))
            return found

        return self.db.read(_read)

    # -- helpers ----------------------------------------------------------------------

    def blob_projects(self, blob_hash: str) -> set[str]:
        from shipyard.store.sql.feature_tables import datasets, feature_object_blobs
        from shipyard.store.sql.feature_tables import feature_objects as fo
        from shipyard.store.sql.registry_tables import model_versions as mv

        run_project = select(projects.c.name).join(runs, runs.c.project_id == projects.c.id)
        queries = [
            run_project.join(artifacts, artifacts.c.run_id == runs.c.id).where(
                artifacts.c.blob_hash == blob_hash
            ),
            run_project.where(runs.c.environment_hash == blob_hash),
            run_project.join(tasks, tasks.c.run_id == runs.c.id).where(
                (tasks.c.stdout_hash == blob_hash) | (tasks.c.stderr_hash == blob_hash)
            ),
            run_project.join(mv, mv.c.run_id == runs.c.id).where(
                (mv.c.blob_hash == blob_hash) | (mv.c.profile_hash == blob_hash)
            ),
            select(projects.c.name)
            .join(datasets, datasets.c.project_id == projects.c.id)
            .where(datasets.c.blob_hash == blob_hash),
            select(projects.c.name)
            .join(fo, fo.c.project_id == projects.c.id)
            .join(feature_object_blobs, feature_object_blobs.c.object_id == fo.c.id)
            .where(feature_object_blobs.c.blob_hash == blob_hash),
        ]
        return self.db.read(lambda c: {name for q in queries for name in c.execute(q).scalars()})

    def _require_run(self, conn: Connection, run_id: str) -> None:
        row = conn.execute(select(runs.c.status).where(runs.c.id == run_id)).first()
        if row is None:
            raise NotFound(f"no run with id {run_id!r}")

    def _write_params(self, conn: Connection, run_id: str, values: dict[str, str]) -> None:
        if not values:
            return
        existing = dict(
            conn.execute(
                select(params.c.key, params.c.value).where(
                    params.c.run_id == run_id, params.c.key.in_(list(values))
                )
            ).all()
        )
        changed = {
            k: (existing[k], v) for k, v in values.items() if k in existing and existing[k] != v
        }
        if changed:
            key, (old, new) = next(iter(changed.items()))
            raise Conflict(
                f"param {key!r} of run {run_id} is already {old!r} and params are immutable "
                f"(tried {new!r}); log a new run, or use a tag or metric for values that change"
            )
        new_rows = [
            {"run_id": run_id, "key": k, "value": v} for k, v in values.items() if k not in existing
        ]
        if new_rows:
            conn.execute(insert(params), new_rows)

    def _write_tags(self, conn: Connection, run_id: str, values: dict[str, str]) -> None:
        if not values:
            return
        stmt = self._upsert(tags).values(
            [{"run_id": run_id, "key": k, "value": v} for k, v in values.items()]
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[tags.c.run_id, tags.c.key], set_={"value": stmt.excluded.value}
            )
        )

    def _write_metrics(self, conn: Connection, run_id: str, points: Sequence[Metric]) -> None:
        latest: dict[str, Metric] = {}
        rows = []
        for point in points:
            value = None if math.isnan(point.value) else point.value
            rows.append((run_id, point.key, value, point.step, point.timestamp_ms))
            best = latest.get(point.key)
            if best is None or (point.step, point.timestamp_ms) >= (best.step, best.timestamp_ms):
                latest[point.key] = point
        insert_metric_rows(conn, rows)
        for point in latest.values():
            stmt = self._upsert(latest_metrics).values(
                run_id=run_id,
                key=point.key,
                value=None if math.isnan(point.value) else point.value,
                step=point.step,
                timestamp_ms=point.timestamp_ms,
            )
            newer = (stmt.excluded.step > latest_metrics.c.step) | (
                (stmt.excluded.step == latest_metrics.c.step)
                & (stmt.excluded.timestamp_ms >= latest_metrics.c.timestamp_ms)
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[latest_metrics.c.run_id, latest_metrics.c.key],
                    set_={
                        "value": stmt.excluded.value,
                        "step": stmt.excluded.step,
                        "timestamp_ms": stmt.excluded.timestamp_ms,
                    },
                    where=newer,
                )
            )
