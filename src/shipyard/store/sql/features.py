"""SqlFeatureMetaStore: versioned feature definitions, materializations, statistics and
datasets, sharing the tracking store's database.

Feature objects are append-only. An apply checks, in its one write transaction, that every
object is still at the version its plan was made against; the unique (project, kind, name,
version) key turns a concurrent apply that slipped past that check into a Conflict too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import fields
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, and_, func, insert, or_, select
from sqlalchemy import exc as sa_exc

from shipyard.errors import Conflict, InvalidArgument, NotFound
from shipyard.store.base import (
    DatasetRecord,
    FeatureObject,
    FeatureStat,
    Materialization,
    NewFeatureObject,
)
from shipyard.store.sql.audit import record_audit
from shipyard.store.sql.engine import Database, NumberTaken
from shipyard.store.sql.events import record_event
from shipyard.store.sql.feature_tables import (
    datasets,
    feature_materializations,
    feature_object_blobs,
    feature_objects,
    feature_stats,
)
from shipyard.store.sql.rows import chunks
from shipyard.store.sql.tables import projects, runs

MATERIALIZATION_KINDS = ("materialize", "push")
STATS_MOMENTS = ("apply", "materialize")


class SqlFeatureMetaStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- feature objects ---------------------------------------------------------------

    def apply_feature_objects(
        self, project: str, changes: Sequence[NewFeatureObject], user: str, now_ms: int
    ) -> list[FeatureObject]:
        """Record each change as the next version of its object, all or nothing."""
        if not changes:
            return []
        keys = [(c.kind, c.name) for c in changes]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            kind, name = repeated[0]
            raise InvalidArgument(f"{kind} {name!r} appears more than once in one apply")
        specs = [_json(c.spec, f"the spec of {c.kind} {c.name!r}") for c in changes]

        def _apply(conn: Connection) -> list[FeatureObject]:
            project_id = _project_id(conn, project, create_ms=now_ms)
            assert project_id is not None
            latest = _latest_versions(conn, project_id, keys)
            _check_bases(project, changes, latest)
            records = []
            for change, spec in zip(changes, specs, strict=True):
                version = latest.get((change.kind, change.name), 0) + 1
                record = FeatureObject(
                    project=project, kind=change.kind, name=change.name, version=version,
                    spec=json.loads(spec), fingerprint=change.fingerprint,
                    deleted=change.deleted, created_by=user, created_ms=now_ms,
                    blobs=tuple(change.blobs),
                )  # fmt: skip
                row = _to_row(record, project_id=project_id, spec=spec)
                try:
                    done = conn.execute(insert(feature_objects).values(**row))
                except sa_exc.IntegrityError as exc:  # a concurrent apply won the race
                    raise Conflict(
                        f"another apply wrote {change.kind} {change.name!r} version {version} "
                        f"in project {project!r} at the same time; apply again to plan against "
                        "the stored definitions"
                    ) from exc
                key = done.inserted_primary_key
                assert key is not None
                if record.blobs:
                    conn.execute(
                        insert(feature_object_blobs),
                        [
                            {"object_id": key[0], "position": i, "blob_hash": h}
                            for i, h in enumerate(record.blobs)
                        ],
                    )
                records.append(record)
                action = f"{change.kind}.{'delete' if change.deleted else 'apply'}"
                summary = {"version": version, "fingerprint": change.fingerprint}
                record_audit(conn, action, f"{change.kind}:{project}/{change.name}", summary)
            return records

        return self.db.write(_apply)

    def latest_feature_objects(
        self, project: str, kind: str | None = None, include_deleted: bool = False
    ) -> list[FeatureObject]:
        """The latest version of each object, by kind and name; tombstones only if asked."""

        def _latest(conn: Connection) -> list[FeatureObject]:
            project_id = _project_id(conn, project)
            if project_id is None:
                return []
            fo = feature_objects
            newest = select(fo.c.kind, fo.c.name, func.max(fo.c.version).label("version")).where(
                fo.c.project_id == project_id
            )
            if kind is not None:
                newest = newest.where(fo.c.kind == kind)
            top = newest.group_by(fo.c.kind, fo.c.name).subquery()
            query = select(fo).join(
                top,
                and_(
                    fo.c.project_id == project_id,
                    fo.c.kind == top.c.kind,
                    fo.c.name == top.c.name,
                    fo.c.version == top.c.version,
                ),
            )
            if not include_deleted:
                query = query.where(fo.c.deleted.is_(False))
            rows = conn.execute(query.order_by(fo.c.kind, fo.c.name)).all()
            return _objects(conn, project, rows)

        return self.db.read(_latest)

    def get_feature_object(
        self, project: str, kind: str, name: str, version: int | None = None
    ) -> FeatureObject:
        """One version; ``None`` is the latest, which must not be a removal."""

        def _get(conn: Connection) -> FeatureObject:
            fo = feature_objects
            query = select(fo).join(projects, projects.c.id == fo.c.project_id)
            query = query.where(projects.c.name == project, fo.c.kind == kind, fo.c.name == name)
            if version is not None:
                query = query.where(fo.c.version == version)
            row = conn.execute(query.order_by(fo.c.version.desc()).limit(1)).first()
            if row is None:
                if version is None:
                    raise NotFound(
                        f"no {kind} named {name!r} in project {project!r}; "
                        "`shipyard features ls` lists them"
                    )
                raise NotFound(
                    f"{kind} {name!r} in project {project!r} has no version {version}; "
                    f"`shipyard features show {name} --history` lists its versions"
                )
            if version is None and row.deleted:
                raise NotFound(
                    f"{kind} {name!r} in project {project!r} was removed in version "
                    f"{row.version}; `shipyard features show {name} --history` lists the "
                    "versions before"
                )
            return _objects(conn, project, [row])[0]

        return self.db.read(_get)

    def feature_object_history(self, project: str, kind: str, name: str) -> list[FeatureObject]:
        """Every version of one object, oldest first, removals included."""

        def _history(conn: Connection) -> list[FeatureObject]:
            fo = feature_objects
            rows = conn.execute(
                select(fo)
                .join(projects, projects.c.id == fo.c.project_id)
                .where(projects.c.name == project, fo.c.kind == kind, fo.c.name == name)
                .order_by(fo.c.version)
            ).all()
            if not rows:
                raise NotFound(
                    f"no {kind} named {name!r} in project {project!r}; "
                    "`shipyard features ls` lists them"
                )
            return _objects(conn, project, rows)

        return self.db.read(_history)

    # -- materializations --------------------------------------------------------------

    def record_materialization(self, record: Materialization) -> None:
        if record.kind not in MATERIALIZATION_KINDS:
            raise InvalidArgument(
                f"materialization kind {record.kind!r} is not one of {MATERIALIZATION_KINDS}"
            )

        def _record(conn: Connection) -> None:
            project_id = _project_id(conn, record.project, create_ms=record.created_ms)
            conn.execute(insert(feature_materializations).values(**_to_row(record, project_id)))
            summary = {"kind": record.kind, "version": record.view_version, "rows": record.rows,
                       "start_ms": record.start_ms, "end_ms": record.end_ms}  # fmt: skip
            obj = f"feature_view:{record.project}/{record.view}"
            record_audit(conn, f"feature_view.{record.kind}", obj, summary)

        self.db.write(_record)

    def materializations(
        self, project: str, view: str | None = None, limit: int = 100
    ) -> list[Materialization]:
        """Newest first."""
        fm = feature_materializations
        query = select(fm).join(projects, projects.c.id == fm.c.project_id)
        query = query.where(projects.c.name == project)
        if view is not None:
            query = query.where(fm.c.view_name == view)
        query = query.order_by(fm.c.created_ms.desc(), fm.c.id.desc()).limit(limit)
        rows = self.db.read(lambda c: c.execute(query).all())
        return [_from_row(Materialization, project, r) for r in rows]

    def watermarks(self, project: str) -> dict[str, int]:
        """Per view, the latest ``end_ms`` of its ``materialize`` records since the view was
        last added: removing a view drops its online rows, so a re-added view starts afresh."""
        fm, fo = feature_materializations, feature_objects
        removed = (
            select(fo.c.name, func.max(fo.c.version).label("version"))
            .join(projects, projects.c.id == fo.c.project_id)
            .where(
                projects.c.name == project,
                fo.c.kind == "feature_view",
                fo.c.deleted.is_(True),
            )
            .group_by(fo.c.name)
            .subquery()
        )
        query = (
            select(fm.c.view_name, func.max(fm.c.end_ms))
            .join(projects, projects.c.id == fm.c.project_id)
            .outerjoin(removed, removed.c.name == fm.c.view_name)
            .where(
                projects.c.name == project,
                fm.c.kind == "materialize",
                or_(removed.c.version.is_(None), fm.c.view_version > removed.c.version),
            )
            .group_by(fm.c.view_name)
        )
        rows = self.db.read(lambda c: c.execute(query).all())
        return {view: int(end) for view, end in rows}

    # -- statistics --------------------------------------------------------------------

    def save_feature_stats(self, stats: Sequence[FeatureStat]) -> None:
        for stat in stats:
            if stat.computed_at not in STATS_MOMENTS:
                raise InvalidArgument(
                    f"statistics of {stat.view}.{stat.feature} say computed_at="
                    f"{stat.computed_at!r}; expected one of {STATS_MOMENTS}"
                )
        extremes = [
            {
                "min_value": _json_or_null(s.min_value, f"the min of {s.view}.{s.feature}"),
                "max_value": _json_or_null(s.max_value, f"the max of {s.view}.{s.feature}"),
            }
            for s in stats
        ]

        def _save(conn: Connection) -> None:
            ids: dict[str, int | None] = {}
            for stat in stats:
                if stat.project not in ids:
                    ids[stat.project] = _project_id(conn, stat.project, stat.computed_ms)
            rows = [
                _to_row(stat, ids[stat.project], mean=_mean(stat.mean), **json_values)
                for stat, json_values in zip(stats, extremes, strict=True)
            ]
            conn.execute(insert(feature_stats), rows)

        if stats:
            self.db.write(_save)

    def feature_stats(self, project: str, view: str | None = None) -> list[FeatureStat]:
        """The latest statistics per (view, feature), by view, in the order they were saved."""
        fs = feature_stats
        order = (fs.c.computed_ms.desc(), fs.c.id.desc())
        newest_first = func.row_number().over(
            partition_by=(fs.c.view_name, fs.c.feature), order_by=order
        )
        ranked = select(fs, newest_first.label("newest_first"))
        ranked = ranked.join(projects, projects.c.id == fs.c.project_id)
        ranked = ranked.where(projects.c.name == project)
        if view is not None:
            ranked = ranked.where(fs.c.view_name == view)
        top = ranked.subquery()
        query = select(top).where(top.c.newest_first == 1).order_by(top.c.view_name, top.c.id)
        rows = self.db.read(lambda c: c.execute(query).all())
        return [_from_row(FeatureStat, project, r) for r in rows]

    # -- datasets ----------------------------------------------------------------------

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
        """Save the next version of dataset ``name``."""
        lineage_json = _json(lineage, f"the lineage of dataset {name!r}")

        def _create(conn: Connection) -> DatasetRecord:
            project_id = _project_id(conn, project, create_ms=now_ms)
            if (
                run_id is not None
                and conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None
            ):
                raise NotFound(f"no run with id {run_id!r} to record as the dataset's source")
            last = conn.execute(
                select(func.max(datasets.c.version)).where(
                    datasets.c.project_id == project_id, datasets.c.name == name
                )
            ).scalar()
            record = DatasetRecord(
                project=project, name=name, version=int(last or 0) + 1, blob_hash=blob_hash,
                rows=int(rows), size=int(size), lineage=json.loads(lineage_json), created_by=user,
                created_ms=now_ms, run_id=run_id,
            )  # fmt: skip
            row = _to_row(record, project_id, lineage=lineage_json)
            try:
                conn.execute(insert(datasets).values(**row))
            except sa_exc.IntegrityError as exc:
                raise NumberTaken(
                    f"another process saved dataset {name!r} version {record.version} "
                    "at the same time; save it again"
                ) from exc
            event = {"project": project, "name": name, "version": record.version,
                     "rows": record.rows, "run_id": run_id}  # fmt: skip
            record_event(conn, "dataset.saved", event, now_ms, f"dataset:{name}")
            summary = {"rows": record.rows, "size": record.size, "run_id": run_id,
                       "blob_hash": blob_hash}  # fmt: skip
            obj = f"dataset:{project}/{name}/{record.version}"
            record_audit(conn, "dataset.create", obj, summary)
            return record

        return self.db.write_numbered(_create, retry_on=NumberTaken)

    def get_dataset(self, project: str, name: str, version: int | None = None) -> DatasetRecord:
        """One version; ``None`` is the latest."""
        query = (
            select(datasets)
            .join(projects, projects.c.id == datasets.c.project_id)
            .where(projects.c.name == project, datasets.c.name == name)
        )
        if version is not None:
            query = query.where(datasets.c.version == version)
        query = query.order_by(datasets.c.version.desc()).limit(1)
        row = self.db.read(lambda c: c.execute(query).first())
        if row is None:
            which = "" if version is None else f" version {version}"
            raise NotFound(
                f"no dataset {name!r}{which} in project {project!r}; "
                "`shipyard features datasets` lists them"
            )
        return _from_row(DatasetRecord, project, row)

    def list_datasets(self, project: str, name: str | None = None) -> list[DatasetRecord]:
        """By name, newest version first."""
        query = (
            select(datasets)
            .join(projects, projects.c.id == datasets.c.project_id)
            .where(projects.c.name == project)
        )
        if name is not None:
            query = query.where(datasets.c.name == name)
        query = query.order_by(datasets.c.name, datasets.c.version.desc())
        return [
            _from_row(DatasetRecord, project, r)
            for r in self.db.read(lambda c: c.execute(query).all())
        ]


# -- helpers ---------------------------------------------------------------------------


def _project_id(conn: Connection, name: str, create_ms: int | None = None) -> int | None:
    """The project's id; with ``create_ms``, create it first if missing (race-safe)."""
    query = select(projects.c.id).where(projects.c.name == name)
    found = conn.execute(query).scalar()
    if found is None and create_ms is not None:
        stmt = _insert_or_ignore(conn, projects).values(
            name=name, description="", created_ms=create_ms, created_by=""
        )
        done = conn.execute(stmt.on_conflict_do_nothing(index_elements=[projects.c.name]))
        if done.rowcount:  # created here, as a part of this change
            record_audit(conn, "project.create", f"project:{name}", {"description": ""})
        found = conn.execute(query).scalar()
    return None if found is None else int(found)


def _insert_or_ignore(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_nothing``; imports only that one."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def _latest_versions(
    conn: Connection, project_id: int, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    fo = feature_objects
    found: dict[tuple[str, str], int] = {}
    for kind in sorted({k for k, _ in keys}):
        names = [n for k, n in keys if k == kind]
        for chunk in chunks(names, 500):
            rows = conn.execute(
                select(fo.c.name, func.max(fo.c.version))
                .where(fo.c.project_id == project_id, fo.c.kind == kind, fo.c.name.in_(chunk))
                .group_by(fo.c.name)
            ).all()
            found.update({(kind, name): int(version) for name, version in rows})
    return found


def _check_bases(
    project: str, changes: Sequence[NewFeatureObject], latest: dict[tuple[str, str], int]
) -> None:
    """Refuse the whole apply if any object moved on since the plan (or vanished)."""
    stale = []
    for change in changes:
        current = latest.get((change.kind, change.name), 0)
        if current != change.base_version:
            stale.append(
                f"{change.kind} {change.name!r} is at version {current}, but the change was "
                f"planned against version {change.base_version}"
            )
        elif change.deleted and current == 0:
            raise InvalidArgument(
                f"cannot remove {change.kind} {change.name!r} from project {project!r}: "
                "it was never applied"
            )
    if stale:
        raise Conflict(
            f"nothing was applied to project {project!r}: {'; '.join(stale)}. The definitions "
            "changed since this plan was made; apply again to plan against them"
        )


def _objects(conn: Connection, project: str, rows: Sequence[Any]) -> list[FeatureObject]:
    """Rows to records, loading every object's blob list in one query per 500 objects."""
    blobs: dict[int, list[str]] = {int(r.id): [] for r in rows}
    fob = feature_object_blobs
    for chunk in chunks(list(blobs), 500):
        for object_id, blob_hash in conn.execute(
            select(fob.c.object_id, fob.c.blob_hash)
            .where(fob.c.object_id.in_(chunk))
            .order_by(fob.c.object_id, fob.c.position)
        ):
            blobs[int(object_id)].append(blob_hash)
    return [_from_row(FeatureObject, project, r, blobs=tuple(blobs[r.id])) for r in rows]


# record field -> column, where they differ (the columns avoid SQL keywords and functions)
_COLUMNS = {"view": "view_name", "rows": "row_count", "size": "size_bytes", "count": "value_count"}
_JSON_FIELDS = ("spec", "lineage", "min_value", "max_value")
R = TypeVar("R", FeatureObject, Materialization, FeatureStat, DatasetRecord)


def _to_row(record: R, project_id: int | None, **columns: Any) -> dict[str, Any]:
    """A record's columns; ``columns`` (JSON text, already checked) override its fields."""
    row: dict[str, Any] = {"project_id": project_id}
    for field in fields(record):
        if field.name not in ("project", "blobs"):
            row[_COLUMNS.get(field.name, field.name)] = _plain(getattr(record, field.name))
    return row | columns


def _from_row(cls: type[R], project: str, row: Any, **values: Any) -> R:
    """The record of ``row``, JSON columns decoded; ``values`` override columns."""
    mapping = row._mapping
    for field in fields(cls):
        if field.name not in values and field.name != "project":
            value = mapping[_COLUMNS.get(field.name, field.name)]
            if field.name in _JSON_FIELDS and value is not None:
                value = json.loads(value)
            values[field.name] = value
    return cls(project=project, **values)


def _json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{what} cannot be stored as JSON: {exc}") from exc


def _json_or_null(value: Any, what: str) -> str | None:
    return None if value is None else _json(value, what)


def _json_default(value: Any) -> Any:
    plain = _plain(value)
    if plain is value:
        raise TypeError(f"{type(value).__name__} {value!r} is not JSON-serialisable")
    return plain


def _plain(value: Any) -> Any:
    """NumPy scalars (a count, a min, a max) become the Python number they hold."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        return item()
    return value


def _mean(value: float | None) -> float | None:
    """NaN (the mean of no values) is stored as NULL on both backends, as SQLite does."""
    return None if value is None or math.isnan(value) else float(value)
