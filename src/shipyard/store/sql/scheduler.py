"""SqlEventStore: platform events, scheduler deployments and claimed firings.

A claim is an ``INSERT ... ON CONFLICT DO NOTHING`` of the firing's unique key: the
database decides which of two schedulers gets it, on SQLite and PostgreSQL alike. A firing
claimed but never started (its scheduler died in between) is taken over once its lease has
run out, by a compare-and-set on the row; a started one is never started again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, Table, delete, exists, func, insert, select, update

from shipyard.errors import InvalidArgument, NotFound
from shipyard.store.base import DeploymentRecord, EventRecord, FiringRecord
from shipyard.store.sql.audit import record_audit
from shipyard.store.sql.engine import Database
from shipyard.store.sql.events import dumps, record_event
from shipyard.store.sql.scheduler_tables import events, scheduler_deployments, scheduler_firings

_FIRING_FIELDS = frozenset(
    {"status", "started_ms", "finished_ms", "pid", "run_id", "flow_run", "log_path",
     "message", "lease_until_ms"}
)  # fmt: skip


def _event(r: Any) -> EventRecord:
    return EventRecord(r.id, r.name, orjson.loads(r.payload), r.source, r.created_ms)


def _deployment(r: Any) -> DeploymentRecord:
    return DeploymentRecord(
        r.name, r.flow_name, r.path, r.file_hash, r.schedule, r.timezone,
        orjson.loads(r.triggers), r.event_cursor, r.deployed_by, r.created_ms, r.updated_ms,
    )  # fmt: skip


def _firing(r: Any) -> FiringRecord:
    return FiringRecord(
        r.id, r.deployment, r.firing_key, r.kind, r.event_id, r.due_ms, r.status,
        r.claimed_by, r.claimed_ms, r.lease_until_ms, r.started_ms, r.finished_ms, r.pid,
        r.run_id, r.flow_run, r.log_path, r.message,
    )  # fmt: skip


def _insert_or_ignore(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_nothing``; imports only that one."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


class SqlEventStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- events -----------------------------------------------------------------------

    def emit(
        self, name: str, payload: dict[str, Any], now_ms: int, source: str = ""
    ) -> EventRecord:
        def _emit(conn: Connection) -> EventRecord:
            key = record_event(conn, name, payload, now_ms, source)
            return _event(conn.execute(select(events).where(events.c.id == key)).one())

        return self.db.write(_emit)

    def list_events(
        self, names: Sequence[str] | None = None, after_id: int = 0, limit: int | None = None
    ) -> list[EventRecord]:
        q = select(events).where(events.c.id > after_id).order_by(events.c.id).limit(limit)
        if names is not None:
            q = q.where(events.c.name.in_(list(names)))
        return [_event(r) for r in self.db.read(lambda c: c.execute(q).all())]

    def latest_event_id(self) -> int:
        q = select(func.max(events.c.id))
        return int(self.db.read(lambda c: c.execute(q).scalar()) or 0)

    # -- deployments ------------------------------------------------------------------

    def upsert_deployment(self, deployment: DeploymentRecord) -> DeploymentRecord:
        d = scheduler_deployments.c
        values = {
            "flow_name": deployment.flow_name,
            "path": deployment.path,
            "file_hash": deployment.file_hash,
            "schedule": deployment.schedule,
            "timezone": deployment.timezone,
            "triggers": dumps(deployment.triggers, "the triggers of a deployment"),
            "deployed_by": deployment.deployed_by,
            "updated_ms": deployment.updated_ms,
        }

        def _upsert(conn: Connection) -> DeploymentRecord:
            where = d.name == deployment.name
            found = conn.execute(select(d.id).where(where).with_for_update()).first()
            if found is None:
                conn.execute(
                    insert(scheduler_deployments).values(
                        name=deployment.name,
                        created_ms=deployment.created_ms,
                        event_cursor=deployment.event_cursor,
                        **values,
                    )
                )
            else:
                conn.execute(update(scheduler_deployments).where(where).values(**values))
            action = "deployment.create" if found is None else "deployment.update"
            summary = {k: values[k] for k in ("flow_name", "path", "file_hash", "schedule")}
            record_audit(conn, action, f"deployment:{deployment.name}", summary)
            return _deployment(conn.execute(select(scheduler_deployments).where(where)).one())

        return self.db.write(_upsert)

    def list_deployments(self) -> list[DeploymentRecord]:
        q = select(scheduler_deployments).order_by(scheduler_deployments.c.name)
        return [_deployment(r) for r in self.db.read(lambda c: c.execute(q).all())]

    def get_deployment(self, name: str) -> DeploymentRecord:
        q = select(scheduler_deployments).where(scheduler_deployments.c.name == name)
        row = self.db.read(lambda c: c.execute(q).first())
        if row is None:
            raise NotFound(f"no deployment named {name!r}; `shipyard scheduler ls` lists them")
        return _deployment(row)

    def delete_deployment(self, name: str) -> None:
        q = delete(scheduler_deployments).where(scheduler_deployments.c.name == name)

        def _delete(conn: Connection) -> None:
            if conn.execute(q).rowcount == 0:
                raise NotFound(f"no deployment named {name!r}; `shipyard scheduler ls` lists them")
            record_audit(conn, "deployment.delete", f"deployment:{name}")

        self.db.write(_delete)

    def advance_cursor(self, name: str, event_id: int) -> None:
        d = scheduler_deployments.c
        q = (
            update(scheduler_deployments)
            .where(d.name == name, d.event_cursor < event_id)
            .values(event_cursor=event_id)
        )
        self.db.write(lambda c: c.execute(q))

    # -- firings ----------------------------------------------------------------------

    def unclaimed_events(
        self, deployment: str, names: Sequence[str], after_id: int
    ) -> list[EventRecord]:
        f = scheduler_firings.c
        claimed = exists().where(f.deployment == deployment, f.event_id == events.c.id)
        q = (
            select(events)
            .where(events.c.id > after_id, events.c.name.in_(list(names)), ~claimed)
            .order_by(events.c.id)
        )
        return [_event(r) for r in self.db.read(lambda c: c.execute(q).all())]

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
        f = scheduler_firings.c
        values = {
            "deployment": deployment,
            "firing_key": firing_key,
            "kind": kind,
            "event_id": event_id,
            "due_ms": due_ms,
            "status": "claimed",
            "claimed_by": owner,
            "claimed_ms": now_ms,
            "lease_until_ms": now_ms + lease_ms,
            "message": "",
        }

        def _claim(conn: Connection) -> FiringRecord | None:
            stmt = _insert_or_ignore(conn, scheduler_firings).values(**values)
            stmt = stmt.on_conflict_do_nothing(index_elements=["firing_key"]).returning(f.id)
            if conn.execute(stmt).first() is None:  # held: take over if never started, lapsed
                taken = conn.execute(
                    update(scheduler_firings)
                    .where(
                        f.firing_key == firing_key,
                        f.status == "claimed",
                        f.lease_until_ms < now_ms,
                    )
                    .values(
                        claimed_by=owner,
                        claimed_ms=now_ms,
                        lease_until_ms=now_ms + lease_ms,
                        message="taken over from a scheduler that stopped before starting it",
                    )
                )
                if taken.rowcount != 1:
                    return None
            row = conn.execute(select(scheduler_firings).where(f.firing_key == firing_key))
            return _firing(row.one())

        return self.db.write(_claim)

    def update_firing(self, firing_id: int, **values: Any) -> FiringRecord:
        unknown = sorted(set(values) - _FIRING_FIELDS)
        if unknown:
            raise InvalidArgument(f"a firing has no field {', '.join(unknown)}")
        f = scheduler_firings.c

        def _update(conn: Connection) -> FiringRecord:
            conn.execute(update(scheduler_firings).where(f.id == firing_id).values(**values))
            row = conn.execute(select(scheduler_firings).where(f.id == firing_id)).first()
            if row is None:
                raise NotFound(f"no scheduler firing {firing_id}")
            return _firing(row)

        return self.db.write(_update)

    def renew_leases(self, owner: str, firing_ids: Sequence[int], until_ms: int) -> None:
        if not firing_ids:
            return
        f = scheduler_firings.c
        q = (
            update(scheduler_firings)
            .where(f.id.in_(list(firing_ids)), f.claimed_by == owner)
            .values(lease_until_ms=until_ms)
        )
        self.db.write(lambda c: c.execute(q))

    def expire_leases(self, now_ms: int) -> int:
        f = scheduler_firings.c
        q = (
            update(scheduler_firings)
            .where(f.status == "running", f.lease_until_ms < now_ms)
            .values(
                status="lost",
                finished_ms=now_ms,
                message="its scheduler stopped while the run was going; the flow run's own "
                "status is in `shipyard runs ls`",
            )
        )
        return int(self.db.write(lambda c: c.execute(q).rowcount))

    def firings(
        self, deployment: str | None = None, limit: int | None = None
    ) -> list[FiringRecord]:
        f = scheduler_firings.c
        q = select(scheduler_firings).order_by(f.id.desc()).limit(limit)
        if deployment is not None:
            q = q.where(f.deployment == deployment)
        return [_firing(r) for r in self.db.read(lambda c: c.execute(q).all())]

    def get_firing(self, firing_id: int) -> FiringRecord:
        q = select(scheduler_firings).where(scheduler_firings.c.id == firing_id)
        row = self.db.read(lambda c: c.execute(q).first())
        if row is None:
            raise NotFound(f"no scheduler firing {firing_id}; `shipyard scheduler history`")
        return _firing(row)
