"""/api/v1/monitors and /api/v1/alerts: declared checks on live predictions (list, get,
apply, run, their results over time) and the alerts they raised, with their deliveries."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Query, Request

from shipyard import monitoring
from shipyard.errors import NotFound
from shipyard.governance import Need
from shipyard.server.authz import rule
from shipyard.server.confinement import check_webhooks, webhook_allowed
from shipyard.server.deps import client_of
from shipyard.server.routes._models_monitoring import (
    AlertOut,
    ApplyMonitorsIn,
    MonitorOut,
    ResultOut,
    RunMonitorsIn,
)
from shipyard.server.routes._params import IdPath

router = APIRouter(prefix="/api/v1", tags=["monitoring"])

ModelQuery = Query(None, description="the model, when several have a monitor of this name")


@router.get("/monitors", response_model=list[MonitorOut])
@rule(Need.READ)
def list_monitors(
    request: Request, model: str | None = Query(None, description="only this model's")
) -> list[MonitorOut]:
    """Stored monitors with their latest result."""
    store = client_of(request).store.monitors
    return [_monitor(store, m) for m in store.list_monitors(model)]


@router.get("/monitors/{name}", response_model=MonitorOut)
@rule(Need.READ, "request", names="monitor")
def get_monitor(request: Request, name: str, model: str | None = ModelQuery) -> MonitorOut:
    store = client_of(request).store.monitors
    return _monitor(store, store.get_monitor(name, model))


@router.get("/monitors/{name}/results", response_model=list[ResultOut])
@rule(Need.READ, "request", names="monitor")
def monitor_results(
    request: Request,
    name: str,
    model: str | None = ModelQuery,
    limit: int = Query(50, ge=1, le=10_000),
) -> list[ResultOut]:
    """The monitor's results over time, newest first."""
    store = client_of(request).store.monitors
    record = store.get_monitor(name, model)
    return [ResultOut.of(r) for r in store.results(record.id, limit=limit)]


@router.post("/monitors/apply", response_model=list[MonitorOut])
@rule(Need.WRITE, "body")
def apply_monitors(request: Request, body: ApplyMonitorsIn) -> list[MonitorOut]:
    """Store the declarations (create, or replace the monitor of the same model and name)."""
    client = client_of(request)
    declared = [m.declaration() for m in body.monitors]
    check_webhooks([w for m in declared for w in m.get("webhooks") or []], client.settings)
    records = monitoring.apply_monitors(declared, client)
    return [_monitor(client.store.monitors, r) for r in records]


@router.post("/monitors/run", response_model=list[ResultOut])
@rule(Need.WRITE, "body")
def run_monitors(request: Request, body: RunMonitorsIn) -> list[ResultOut]:
    """Evaluate the monitors once, store their results and raise or resolve alerts (as
    ``shipyard monitor run``); a fired monitor is a result, not an error."""
    client = client_of(request)
    declared = None if body.monitors is None else [m.declaration() for m in body.monitors]
    check_webhooks([w for m in declared or [] for w in m.get("webhooks") or []], client.settings)
    allowed = partial(webhook_allowed, settings=client.settings)  # stored monitors' too
    results = monitoring.run_monitors(
        declared, model=body.model, client=client, own_webhooks=allowed
    )
    return [ResultOut.of(r) for r in results]


@router.get("/alerts", response_model=list[AlertOut])
@rule(Need.READ)
def list_alerts(
    request: Request,
    resolved: bool = Query(False, description="resolved alerts too (default: firing only)"),
) -> list[AlertOut]:
    """Alerts raised by monitors, newest first, with their webhook deliveries."""
    store = client_of(request).store.monitors
    by_alert: dict[int, list[object]] = {}
    for d in store.deliveries():
        by_alert.setdefault(d.alert_id, []).append(d)
    found = store.list_alerts(include_resolved=resolved)
    return [AlertOut.of(a, by_alert.get(a.id, [])) for a in found]


@router.get("/alerts/{alert_id}", response_model=AlertOut)
@rule(Need.READ)
def get_alert(request: Request, alert_id: IdPath) -> AlertOut:
    store = client_of(request).store.monitors
    found = [a for a in store.list_alerts(include_resolved=True) if a.id == alert_id]
    if not found:
        raise NotFound(f"no alert {alert_id}; GET /api/v1/alerts?resolved=true lists them")
    return AlertOut.of(found[0], store.deliveries(alert_id))


def _monitor(store: Any, record: Any) -> MonitorOut:
    latest = store.results(record.id, limit=1)
    return MonitorOut.of(record, latest[0] if latest else None)
