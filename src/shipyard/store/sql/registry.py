"""SqlModelRegistryStore: registered models, immutable versions, aliases and their history,
sharing the tracking store's database.

Every write that depends on a model's current state (the next version number, where an
alias points, which versions are archived) first locks the model's row (``FOR UPDATE`` on
PostgreSQL; SQLite write transactions are exclusive already), so registrations, alias
moves and status changes of one model are serialised. The unique (model, version) key is
a second line of defence: a registration that still loses a race takes the next number.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, Table, delete, func, insert, select, update
from sqlalchemy import exc as sa_exc

from shipyard._names import alias_name, model_name, version_number
from shipyard.errors import Conflict, InvalidArgument, NotFound
from shipyard.store.base import (
    UNCHECKED,
    AliasMove,
    ModelVersionRecord,
    NewModelVersion,
    RegisteredModel,
)
from shipyard.store.sql.audit import record_audit
from shipyard.store.sql.engine import Database, NumberTaken
from shipyard.store.sql.events import record_event
from shipyard.store.sql.registry_tables import (
    alias_moves,
    gone_owners,
    model_aliases,
    model_versions,
    registered_models,
)
from shipyard.store.sql.rows import chunks
from shipyard.store.sql.tables import runs

READY, ARCHIVED = "READY", "ARCHIVED"
STATUSES = (READY, ARCHIVED)
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,256}")
# longest accepted value per column, so both backends refuse the same input
_LIMITS = {
    "flavor": 64, "blob_hash": 64, "owner": 256, "created_by": 256, "dataset": 1024,
    "feature_service": 1024, "profile_hash": 64,
}  # fmt: skip


class SqlModelRegistryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- models and versions -----------------------------------------------------------

    def create_model_version(
        self, name: str, new: NewModelVersion, user: str, now_ms: int
    ) -> ModelVersionRecord:
        """The next version of ``name``; the model is created on first registration."""
        _check_name(name)
        if not new.blob_hash:
            raise InvalidArgument(f"a version of model {name!r} needs the hash of its files")
        if not new.flavor:
            raise InvalidArgument(f"a version of model {name!r} needs a flavor (e.g. sklearn)")
        values = {k: getattr(new, k) for k in _LIMITS if k != "created_by"} | {"created_by": user}
        for column, limit in _LIMITS.items():
            if values[column] is not None and len(values[column]) > limit:
                raise InvalidArgument(
                    f"the {column} of a version of model {name!r} is {len(values[column])} "
                    f"characters long; at most {limit} are stored"
                )
        documents = {
            "signature": _json(new.signature, f"the signature of model {name!r}"),
            "requirements": _json(list(new.requirements), f"the requirements of model {name!r}"),
            "metrics": _json(_metrics(name, new.metrics), f"the metrics of model {name!r}"),
            "tags": _json(dict(new.tags), f"the tags of model {name!r}"),
        }

        def _create(conn: Connection) -> ModelVersionRecord:
            if (
                new.run_id is not None
                and conn.execute(select(runs.c.id).where(runs.c.id == new.run_id)).first() is None
            ):
                raise NotFound(
                    f"no run with id {new.run_id!r} to record as the source of model {name!r}"
                )
            model_id = _create_model(conn, name, new.owner, new.description, now_ms)
            last = conn.execute(
                select(func.max(model_versions.c.version)).where(
                    model_versions.c.model_id == model_id
                )
            ).scalar()
            version = int(last or 0) + 1
            row = {
                "model_id": model_id, "version": version, "flavor": new.flavor,
                "blob_hash": new.blob_hash, "run_id": new.run_id, "dataset": new.dataset,
                "feature_service": new.feature_service, "owner": new.owner,
                "description": new.description, "status": READY, "created_by": user,
                "created_ms": now_ms, "profile_hash": new.profile_hash,
            } | documents  # fmt: skip
            try:
                conn.execute(insert(model_versions).values(**row))
            except sa_exc.IntegrityError as exc:
                raise NumberTaken(
                    f"another process registered model {name!r} version {version} at the same "
                    "time; register it again"
                ) from exc
            conn.execute(
                update(registered_models)
                .where(registered_models.c.id == model_id)
                .values(updated_ms=now_ms)
            )
            event = {"model": name, "version": version, "run_id": new.run_id,
                     "dataset": new.dataset, "flavor": new.flavor}  # fmt: skip
            record_event(conn, "model.registered", event, now_ms, f"model:{name}")
            summary = {k: event[k] for k in ("run_id", "dataset", "flavor")}
            summary |= {"blob_hash": new.blob_hash, "owner": new.owner}
            record_audit(conn, "model.version.create", f"model:{name}/{version}", summary)
            return _version_from_row(name, row)

        return self.db.write_numbered(_create, retry_on=NumberTaken)

    def get_model(self, name: str) -> RegisteredModel:
        def _get(conn: Connection) -> RegisteredModel:
            return _models(conn, [_model_row(conn, name)])[0]

        return self.db.read(_get)

    def list_models(self) -> list[RegisteredModel]:
        """By name."""
        query = select(registered_models).order_by(registered_models.c.name)
        return self.db.read(lambda c: _models(c, c.execute(query).all()))

    def update_model(
        self,
        name: str,
        owner: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> RegisteredModel:
        """Change the given fields; ``tags`` replaces the model's tags as a whole."""
        values: dict[str, Any] = {"updated_ms": _now_ms()}
        if owner is not None:
            if len(owner) > _LIMITS["owner"]:
                raise InvalidArgument(
                    f"the owner of model {name!r} is {len(owner)} characters long; "
                    f"at most {_LIMITS['owner']} are stored"
                )
            values["owner"] = owner
        if description is not None:
            values["description"] = description
        if tags is not None:
            values["tags"] = _json(dict(tags), f"the tags of model {name!r}")

        def _update(conn: Connection) -> RegisteredModel:
            model = _model_row(conn, name, lock=True)
            conn.execute(
                update(registered_models).where(registered_models.c.id == model.id).values(values)
            )
            fields = [k for k in ("owner", "description", "tags") if k in values]
            change = {
                "before": {k: _field(k, getattr(model, k)) for k in fields},
                "after": {k: _field(k, values[k]) for k in fields},
            }
            record_audit(conn, "model.update", f"model:{name}", change)
            return _models(conn, [_model_row(conn, name)])[0]

        return self.db.write(_update)

    def mark_owner_gone(self, owner: str, gone: bool, user: str, now_ms: int) -> None:
        if not owner or len(owner) > _LIMITS["owner"]:
            raise InvalidArgument(f"an owner is 1 to {_LIMITS['owner']} characters, not {owner!r}")

        def _mark(conn: Connection) -> None:
            was = conn.execute(delete(gone_owners).where(gone_owners.c.owner == owner)).rowcount
            if gone:
                conn.execute(
                    insert(gone_owners).values(owner=owner, marked_by=user, marked_ms=now_ms)
                )
            if bool(was) != gone:
                action = "owner.gone" if gone else "owner.back"
                record_audit(conn, action, f"owner:{owner}", {"marked_by": user})

        self.db.write(_mark)

    def gone_owners(self) -> dict[str, tuple[str, int]]:
        rows = self.db.read(lambda conn: conn.execute(select(gone_owners)).all())
        return {r.owner: (r.marked_by, r.marked_ms) for r in rows}

    def get_model_version(self, name: str, version: int) -> ModelVersionRecord:
        def _get(conn: Connection) -> ModelVersionRecord:
            row = _version_row(conn, _model_row(conn, name), version)
            return _version_from_row(name, row._mapping)

        return self.db.read(_get)

    def list_model_versions(self, name: str) -> list[ModelVersionRecord]:
        """Newest first."""

        def _list(conn: Connection) -> list[ModelVersionRecord]:
            model = _model_row(conn, name)
            rows = conn.execute(
                select(model_versions)
                .where(model_versions.c.model_id == model.id)
                .order_by(model_versions.c.version.desc())
            ).all()
            return [_version_from_row(name, r._mapping) for r in rows]

        return self.db.read(_list)

    def set_version_status(self, name: str, version: int, status: str) -> ModelVersionRecord:
        """READY or ARCHIVED; a version an alias points at cannot be archived."""
        if status not in STATUSES:
            raise InvalidArgument(
                f"model version status {status!r} is not one of {', '.join(STATUSES)}"
            )

        def _set(conn: Connection) -> ModelVersionRecord:
            model = _model_row(conn, name, lock=True)
            row = _version_row(conn, model, version)
            if status == ARCHIVED and row.status != ARCHIVED:
                pointing = sorted(
                    conn.execute(
                        select(model_aliases.c.alias).where(
                            model_aliases.c.model_id == model.id,
                            model_aliases.c.version == version,
                        )
                    ).scalars()
                )
                if pointing:
                    which = ", ".join(repr(a) for a in pointing)
                    noun = "alias" if len(pointing) == 1 else "aliases"
                    raise Conflict(
                        f"cannot archive version {version} of model {name!r}: {noun} {which} "
                        f"point{'s' if len(pointing) == 1 else ''} at it; move or remove "
                        f"the {noun} first"
                    )
            if row.status != status:
                conn.execute(
                    update(model_versions)
                    .where(model_versions.c.id == row.id)
                    .values(status=status)
                )
                conn.execute(
                    update(registered_models)
                    .where(registered_models.c.id == model.id)
                    .values(updated_ms=_now_ms())
                )
                change = {"before": {"status": row.status}, "after": {"status": status}}
                record_audit(conn, "model.version.status", f"model:{name}/{version}", change)
            return _version_from_row(name, dict(row._mapping) | {"status": status})

        return self.db.write(_set)

    # -- aliases -----------------------------------------------------------------------

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
        """Point ``alias`` at ``version`` (None removes it) and record the move, atomically."""
        _check_name(name)
        if version is not None:
            alias_name(alias)  # removing a legacy alias needs no rule
            if isinstance(version, bool):
                raise InvalidArgument(f"model versions are numbered from 1; got {version!r}")
            version_number(version, f"version of model {name!r}")
        if expected_from is not None and expected_from != UNCHECKED and expected_from < 1:
            raise InvalidArgument(
                f"expected_from is a version number, None (alias not set) or UNCHECKED; "
                f"got {expected_from!r}"
            )
        gates_json = _json(list(gates), f"the gate results for alias {alias!r} of {name!r}")

        def _move(conn: Connection) -> AliasMove:
            model = _model_row(conn, name, lock=True)
            current = _alias_target(conn, model.id, alias)
            if version is not None:
                target = _version_row(conn, model, version)
                if target.status == ARCHIVED:
                    raise Conflict(
                        f"version {version} of model {name!r} is ARCHIVED; set it back to "
                        f"READY before pointing alias {alias!r} at it"
                    )
            elif current is None:
                raise NotFound(
                    f"model {name!r} has no alias {alias!r} to remove; "
                    f"{_alias_listing(conn, model.id)}"
                )
            if expected_from != UNCHECKED and current != expected_from:
                raise Conflict(
                    f"alias {alias!r} of model {name!r} {_pointing(current)}, not "
                    f"{_pointing(expected_from, present=False)} as this move expected: it was "
                    "moved meanwhile; look at its history and decide again"
                )
            key = (model_aliases.c.model_id == model.id) & (model_aliases.c.alias == alias)
            if version is None:
                conn.execute(delete(model_aliases).where(key))
            elif current is None:
                conn.execute(
                    insert(model_aliases).values(model_id=model.id, alias=alias, version=version)
                )
            else:
                conn.execute(update(model_aliases).where(key).values(version=version))
            conn.execute(
                update(registered_models)
                .where(registered_models.c.id == model.id)
                .values(updated_ms=now_ms)
            )
            move = AliasMove(
                name=name, alias=alias, from_version=current, to_version=version,
                moved_by=user, moved_ms=now_ms, gates=json.loads(gates_json),
            )  # fmt: skip
            row = _move_row(move, gates_json)
            conn.execute(insert(alias_moves).values(model_id=model.id, **row))
            change: dict[str, Any] = {"before": {"version": current}, "after": {"version": version}}
            change["gates"] = len(move.gates)
            action = "model.alias.move" if version is not None else "model.alias.remove"
            record_audit(conn, action, f"model:{name}@{alias}", change)
            return move

        return self.db.write(_move)

    def resolve_alias(self, name: str, alias: str) -> int:
        """The version ``alias`` points at."""

        def _resolve(conn: Connection) -> int:
            model = _model_row(conn, name)
            found = _alias_target(conn, model.id, alias)
            if found is None:
                raise NotFound(
                    f"model {name!r} has no alias {alias!r}; {_alias_listing(conn, model.id)}"
                )
            return found

        return self.db.read(_resolve)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        """Newest first; every alias of the model unless ``alias`` is given."""

        def _history(conn: Connection) -> list[AliasMove]:
            model = _model_row(conn, name)
            am = alias_moves
            query = select(am).where(am.c.model_id == model.id)
            if alias is not None:
                query = query.where(am.c.alias == alias)
            rows = conn.execute(query.order_by(am.c.moved_ms.desc(), am.c.id.desc())).all()
            return [_move_from_row(name, r) for r in rows]

        return self.db.read(_history)


# -- helpers ---------------------------------------------------------------------------


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _field(column: str, value: Any) -> Any:
    """A registered model's field as the audit log shows it (tags decoded)."""
    return json.loads(value) if column == "tags" else value


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidArgument(
            f"invalid model name {name!r}: use 1 to 256 letters, digits, '_', '-' or '.'"
        )


def _create_model(conn: Connection, name: str, owner: str, description: str, now_ms: int) -> int:
    """The model's id, creating it if missing (race-safe); its row is locked until commit."""
    found = conn.execute(select(registered_models.c.id).where(registered_models.c.name == name))
    if found.first() is None:
        model_name(name)  # a new name must suit URLs, command lines and Docker image names
    stmt = _dialect_insert(conn, registered_models).values(
        name=name, owner=owner, description=description, tags="{}", created_ms=now_ms,
        updated_ms=now_ms,
    )  # fmt: skip
    done = conn.execute(stmt.on_conflict_do_nothing(index_elements=[registered_models.c.name]))
    if done.rowcount:  # created by this registration
        record_audit(conn, "model.create", f"model:{name}", {"owner": owner})
    return int(_model_row(conn, name, lock=True).id)


def _dialect_insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_nothing``; imports only that one."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def _model_row(conn: Connection, name: str, lock: bool = False) -> Row[Any]:
    """The model's row; ``lock`` holds it until commit so writers of one model queue."""
    query = select(registered_models).where(registered_models.c.name == name)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"no model named {name!r}; `shipyard models ls` lists them")
    return row


def _version_row(conn: Connection, model: Row[Any], version: int) -> Row[Any]:
    version = version_number(version, f"version of model {model.name!r}")
    row = conn.execute(
        select(model_versions).where(
            model_versions.c.model_id == model.id, model_versions.c.version == version
        )
    ).first()
    if row is None:
        latest = conn.execute(
            select(func.max(model_versions.c.version)).where(model_versions.c.model_id == model.id)
        ).scalar()
        known = "it has no versions" if not latest else f"its versions are 1 to {latest}"
        raise NotFound(
            f"model {model.name!r} has no version {version}; {known} "
            f"(`shipyard models versions {model.name}` lists them)"
        )
    return row


def _alias_target(conn: Connection, model_id: int, alias: str) -> int | None:
    found = conn.execute(
        select(model_aliases.c.version).where(
            model_aliases.c.model_id == model_id, model_aliases.c.alias == alias
        )
    ).scalar()
    return None if found is None else int(found)


def _aliases(conn: Connection, model_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    found: dict[int, dict[str, int]] = {i: {} for i in model_ids}
    ma = model_aliases
    for chunk in chunks(list(model_ids), 500):
        for model_id, alias, version in conn.execute(
            select(ma.c.model_id, ma.c.alias, ma.c.version)
            .where(ma.c.model_id.in_(chunk))
            .order_by(ma.c.model_id, ma.c.alias)
        ):
            found[int(model_id)][alias] = int(version)
    return found


def _alias_listing(conn: Connection, model_id: int) -> str:
    aliases = _aliases(conn, [model_id])[model_id]
    if not aliases:
        return "it has no aliases yet"
    return "its aliases are " + ", ".join(f"{a} (version {v})" for a, v in aliases.items())


def _pointing(version: int | None, present: bool = True) -> str:
    if version is None:
        return "is not set" if present else "unset"
    return f"points at version {version}" if present else f"at version {version}"


def _models(conn: Connection, rows: Sequence[Row[Any]]) -> list[RegisteredModel]:
    """Rows to records, with their aliases and latest version, in two queries per 500."""
    ids = [int(r.id) for r in rows]
    aliases = _aliases(conn, ids)
    latest: dict[int, int] = {}
    mv = model_versions
    for chunk in chunks(ids, 500):
        latest.update(
            (int(model_id), int(version))
            for model_id, version in conn.execute(
                select(mv.c.model_id, func.max(mv.c.version))
                .where(mv.c.model_id.in_(chunk))
                .group_by(mv.c.model_id)
            )
        )
    return [_model_from_row(r, aliases[int(r.id)], latest.get(int(r.id), 0)) for r in rows]


def _model_from_row(r: Row[Any], aliases: dict[str, int], latest: int) -> RegisteredModel:
    return RegisteredModel(
        name=r.name, owner=r.owner, description=r.description, tags=json.loads(r.tags),
        created_ms=int(r.created_ms), updated_ms=int(r.updated_ms), aliases=aliases,
        latest_version=latest,
    )  # fmt: skip


def _move_row(move: AliasMove, gates_json: str) -> dict[str, Any]:
    return {
        "alias": move.alias, "from_version": move.from_version, "to_version": move.to_version,
        "moved_by": move.moved_by, "moved_ms": move.moved_ms, "gates": gates_json,
    }  # fmt: skip


def _move_from_row(name: str, r: Row[Any]) -> AliasMove:
    return AliasMove(
        name=name, alias=r.alias, from_version=r.from_version, to_version=r.to_version,
        moved_by=r.moved_by, moved_ms=int(r.moved_ms), gates=json.loads(r.gates),
    )  # fmt: skip


def _version_from_row(name: str, row: Any) -> ModelVersionRecord:
    """A version row (a mapping) as its record, JSON columns decoded."""
    return ModelVersionRecord(
        name=name, version=int(row["version"]), flavor=row["flavor"],
        blob_hash=row["blob_hash"], run_id=row["run_id"], dataset=row["dataset"],
        feature_service=row["feature_service"], signature=json.loads(row["signature"]),
        requirements=tuple(json.loads(row["requirements"])),
        metrics=json.loads(row["metrics"]), owner=row["owner"],
        description=row["description"], tags=json.loads(row["tags"]), status=row["status"],
        created_by=row["created_by"], created_ms=int(row["created_ms"]),
        profile_hash=row["profile_hash"],
    )  # fmt: skip


def _metrics(name: str, metrics: dict[str, float]) -> dict[str, float]:
    """Metrics as Python floats (NumPy scalars included); NaN and infinities are kept."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(
                f"metric {key!r} of model {name!r} is {value!r}, not a number"
            ) from exc
    return out


def _json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{what} cannot be stored as JSON: {exc}") from exc


def _json_default(value: Any) -> Any:
    """NumPy scalars and arrays (in a signature's example shapes, say) become plain values."""
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON-serialisable")
