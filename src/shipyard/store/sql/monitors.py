"""SqlMonitorStore: monitors, their results, alerts and deliveries on SQLite or PostgreSQL."""

from __future__ import annotations

import math
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select, update

from shipyard.errors import Conflict, InvalidArgument, NotFound
from shipyard.store.base import (
    AlertDeliveryRecord,
    AlertRecord,
    MonitorRecord,
    MonitorResultRecord,
)
from shipyard.store.sql.audit import record_audit
from shipyard.store.sql.engine import Database
from shipyard.store.sql.events import record_event
from shipyard.store.sql.monitor_tables import alert_deliveries, alerts, monitor_results, monitors

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _dumps(value: Any, what: str) -> str:
    try:  # orjson writes NaN and infinities as null
        return orjson.dumps(value, option=_JSON_OPTIONS, default=str).decode()
    except TypeError as exc:
        raise InvalidArgument(f"{what} cannot be stored as JSON: {exc}") from exc


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _monitor(r: Any) -> MonitorRecord:
    return MonitorRecord(
        r.id, r.name, r.model, r.target, r.check_kind, r.schedule, orjson.loads(r.spec),
        r.created_ms, r.updated_ms,
    )  # fmt: skip


def _result(r: Any, name: str = "") -> MonitorResultRecord:
    return MonitorResultRecord(
        monitor_id=r.monitor_id, model=r.model, version=r.version, status=r.status,
        evaluated_ms=r.evaluated_ms, window_start_ms=r.window_start_ms,
        window_end_ms=r.window_end_ms, value=r.value, threshold=r.threshold,
        fired=bool(r.fired), details=orjson.loads(r.details), id=r.id, monitor=name,
    )  # fmt: skip


def _alert(r: Any) -> AlertRecord:
    return AlertRecord(
        r.id, r.monitor_id, r.monitor, r.model, r.version, r.state, r.dedup_key, r.message,
        r.first_fired_ms, r.last_seen_ms, r.resolved_ms,
    )  # fmt: skip


def _delivery(r: Any) -> AlertDeliveryRecord:
    return AlertDeliveryRecord(
        r.id, r.alert_id, r.event, r.destination, r.payload_kind, r.attempts, r.status,
        r.last_error, r.created_ms, r.last_attempt_ms,
    )  # fmt: skip


_ALERT_COLUMNS = (*alerts.c, monitors.c.name.label("monitor"))


class SqlMonitorStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- monitors ---------------------------------------------------------------------

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
        values = {
            "target": target,
            "check_kind": check_kind,
            "schedule": schedule,
            "spec": _dumps(spec, f"the declaration of monitor {name!r}"),
            "updated_ms": now_ms,
        }
        m = monitors.c

        def _upsert(conn: Connection) -> MonitorRecord:
            found = conn.execute(
                select(m.id).where(m.model == model, m.name == name).with_for_update()
            ).first()
            if found is None:
                conn.execute(
                    insert(monitors).values(name=name, model=model, created_ms=now_ms, **values)
                )
            else:
                conn.execute(update(monitors).where(m.id == found.id).values(**values))
            row = conn.execute(select(monitors).where(m.model == model, m.name == name)).one()
            action = "monitor.create" if found is None else "monitor.update"
            summary = {"target": target, "check": check_kind, "schedule": schedule}
            record_audit(conn, action, f"monitor:{model}/{name}", summary)
            return _monitor(row)

        return self.db.write(_upsert)

    def list_monitors(self, model: str | None = None) -> list[MonitorRecord]:
        q = select(monitors).order_by(monitors.c.model, monitors.c.name)
        if model is not None:
            q = q.where(monitors.c.model == model)
        return [_monitor(r) for r in self.db.read(lambda c: c.execute(q).all())]

    def get_monitor(self, name: str, model: str | None = None) -> MonitorRecord:
        found = [m for m in self.list_monitors(model) if m.name == name]
        if not found:
            where = f" of model {model!r}" if model else ""
            raise NotFound(f"no monitor named {name!r}{where}; `shipyard monitor ls` lists them")
        if len(found) > 1:
            models = ", ".join(m.model for m in found)
            raise InvalidArgument(
                f"monitor {name!r} exists for several models ({models}); say which with --model"
            )
        return found[0]

    # -- results ----------------------------------------------------------------------

    def add_result(self, result: MonitorResultRecord) -> MonitorResultRecord:
        values = {
            "monitor_id": result.monitor_id,
            "model": result.model,
            "version": result.version,
            "status": result.status,
            "evaluated_ms": result.evaluated_ms,
            "window_start_ms": result.window_start_ms,
            "window_end_ms": result.window_end_ms,
            "value": _finite(result.value),
            "threshold": _finite(result.threshold),
            "fired": result.fired,
            "details": _dumps(result.details, "the details of a monitor result"),
        }

        def _add(conn: Connection) -> MonitorResultRecord:
            key = conn.execute(insert(monitor_results).values(**values)).inserted_primary_key
            assert key is not None
            row = conn.execute(
                select(monitor_results).where(monitor_results.c.id == int(key[0]))
            ).one()
            return _result(row, result.monitor)

        return self.db.write(_add)

    def results(self, monitor_id: int, limit: int | None = None) -> list[MonitorResultRecord]:
        r = monitor_results.c
        q = (
            select(monitor_results, monitors.c.name.label("monitor"))
            .join(monitors, monitors.c.id == r.monitor_id)
            .where(r.monitor_id == monitor_id)
            .order_by(r.evaluated_ms.desc(), r.id.desc())
            .limit(limit)
        )
        return [_result(row, row.monitor) for row in self.db.read(lambda c: c.execute(q).all())]

    # -- alerts -----------------------------------------------------------------------

    def _alerts(self) -> Any:
        return select(*_ALERT_COLUMNS).join(monitors, monitors.c.id == alerts.c.monitor_id)

    def open_alert(self, dedup_key: str) -> AlertRecord | None:
        q = self._alerts().where(alerts.c.dedup_key == dedup_key, alerts.c.state == "firing")
        row = self.db.read(lambda c: c.execute(q.order_by(alerts.c.id.desc())).first())
        return None if row is None else _alert(row)

    def create_alert(
        self,
        monitor_id: int,
        model: str,
        version: int | None,
        dedup_key: str,
        message: str,
        now_ms: int,
    ) -> AlertRecord | None:
        values = {
            "monitor_id": monitor_id,
            "model": model,
            "version": version,
            "state": "firing",
            "dedup_key": dedup_key,
            "message": message,
            "first_fired_ms": now_ms,
            "last_seen_ms": now_ms,
        }

        def _create(conn: Connection) -> AlertRecord:
            key = conn.execute(insert(alerts).values(**values)).inserted_primary_key
            assert key is not None
            alert = _alert(conn.execute(self._alerts().where(alerts.c.id == int(key[0]))).one())
            _record_alert_event(conn, "alert.fired", alert, now_ms)
            summary = {"monitor": alert.monitor, "model": model, "version": version}
            record_audit(conn, "alert.fire", f"alert:{alert.id}", summary)
            return alert

        try:
            return self.db.write(_create)
        except Conflict:  # uq_alerts_one_firing: another run opened it a moment ago
            if self.open_alert(dedup_key) is None:
                raise
            return None

    def touch_alert(self, alert_id: int, version: int | None, now_ms: int) -> None:
        q = update(alerts).where(alerts.c.id == alert_id)
        self.db.write(lambda c: c.execute(q.values(last_seen_ms=now_ms, version=version)))

    def resolve_alert(self, alert_id: int, now_ms: int) -> AlertRecord:
        def _resolve(conn: Connection) -> AlertRecord:
            changed = conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id, alerts.c.state == "firing")
                .values(state="resolved", resolved_ms=now_ms, last_seen_ms=now_ms)
            ).rowcount
            row = conn.execute(self._alerts().where(alerts.c.id == alert_id)).first()
            if row is None:
                raise NotFound(f"no alert {alert_id}; `shipyard alerts ls --all` lists them")
            alert = _alert(row)
            if changed:  # resolved by this call, not before
                _record_alert_event(conn, "alert.resolved", alert, now_ms)
                summary = {"monitor": alert.monitor, "model": alert.model}
                record_audit(conn, "alert.resolve", f"alert:{alert_id}", summary)
            return alert

        return self.db.write(_resolve)

    def list_alerts(self, include_resolved: bool = False) -> list[AlertRecord]:
        q = self._alerts().order_by(alerts.c.last_seen_ms.desc(), alerts.c.id.desc())
        if not include_resolved:
            q = q.where(alerts.c.state == "firing")
        return [_alert(r) for r in self.db.read(lambda c: c.execute(q).all())]

    # -- deliveries -------------------------------------------------------------------

    def add_delivery(
        self, alert_id: int, event: str, destination: str, payload_kind: str, now_ms: int
    ) -> AlertDeliveryRecord:
        values = {
            "alert_id": alert_id,
            "event": event,
            "destination": destination,
            "payload_kind": payload_kind,
            "attempts": 0,
            "status": "pending",
            "created_ms": now_ms,
        }

        def _add(conn: Connection) -> AlertDeliveryRecord:
            key = conn.execute(insert(alert_deliveries).values(**values)).inserted_primary_key
            assert key is not None
            q = select(alert_deliveries).where(alert_deliveries.c.id == int(key[0]))
            return _delivery(conn.execute(q).one())

        return self.db.write(_add)

    def update_delivery(
        self, delivery_id: int, attempts: int, status: str, last_error: str | None, now_ms: int
    ) -> None:
        q = (
            update(alert_deliveries)
            .where(alert_deliveries.c.id == delivery_id)
            .values(attempts=attempts, status=status, last_error=last_error, last_attempt_ms=now_ms)
        )
        self.db.write(lambda c: c.execute(q))

    def deliveries(self, alert_id: int | None = None) -> list[AlertDeliveryRecord]:
        q = select(alert_deliveries).order_by(alert_deliveries.c.id)
        if alert_id is not None:
            q = q.where(alert_deliveries.c.alert_id == alert_id)
        return [_delivery(r) for r in self.db.read(lambda c: c.execute(q).all())]


def _record_alert_event(conn: Connection, name: str, alert: AlertRecord, now_ms: int) -> None:
    """``alert.fired`` / ``alert.resolved``, for flows that ``@trigger`` on them."""
    body = {
        "alert_id": alert.id,
        "monitor": alert.monitor,
        "model": alert.model,
        "version": alert.version,
        "dedup_key": alert.dedup_key,
        "message": alert.message,
    }
    record_event(conn, name, body, now_ms, source=f"alert:{alert.id}")
