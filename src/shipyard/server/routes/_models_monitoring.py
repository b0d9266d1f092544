"""Request and response bodies of the monitoring routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shipyard._clock import from_millis


class MonitorIn(BaseModel):
    """A monitor declaration, with the fields of a monitors YAML file."""

    model_config = ConfigDict(extra="forbid")
    name: str
    model: str = Field(description="NAME, NAME@ALIAS or NAME/VERSION")
    check: str = Field(description="drift, performance, latency, error_rate or volume")
    features: list[str] | None = None
    metric: str | None = None
    test: str | None = None
    window: str | None = Field(None, description="e.g. 1h (the default), 30m, 1d")
    threshold: float | None = None
    direction: str | None = Field(None, description="above or below")
    schedule: str | None = Field(None, description="cron; default */15 * * * *")
    webhooks: list[str] | None = None

    def declaration(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ApplyMonitorsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    monitors: list[MonitorIn] = Field(min_length=1)


class RunMonitorsIn(BaseModel):
    """Evaluate the stored monitors (of ``model``), or these declared ones (applied first)."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(None, description="NAME, NAME@ALIAS or NAME/VERSION")
    monitors: list[MonitorIn] | None = None


class ResultOut(BaseModel):
    id: int
    monitor_id: int
    monitor: str
    model: str
    version: int | None
    status: str = Field(description="ok, fired or error")
    fired: bool
    value: float | None
    threshold: float | None
    evaluated: datetime
    window_start: datetime
    window_end: datetime
    details: dict[str, Any]

    @classmethod
    def of(cls, r: Any) -> ResultOut:
        return cls(
            id=r.id,
            monitor_id=r.monitor_id,
            monitor=r.monitor,
            model=r.model,
            version=r.version,
            status=r.status,
            fired=r.fired,
            value=r.value,
            threshold=r.threshold,
            evaluated=from_millis(r.evaluated_ms),
            window_start=from_millis(r.window_start_ms),
            window_end=from_millis(r.window_end_ms),
            details=r.details,
        )


class MonitorOut(BaseModel):
    id: int
    name: str
    model: str
    target: str = Field(description='"@alias", a version, or "" for the latest version')
    check: str
    schedule: str
    spec: dict[str, Any] = Field(description="the declaration as given")
    created: datetime
    updated: datetime
    latest: ResultOut | None = Field(description="the latest result, if it ever ran")

    @classmethod
    def of(cls, m: Any, latest: Any) -> MonitorOut:
        return cls(
            id=m.id,
            name=m.name,
            model=m.model,
            target=m.target,
            check=m.check_kind,
            schedule=m.schedule,
            spec=m.spec,
            created=from_millis(m.created_ms),
            updated=from_millis(m.updated_ms),
            latest=None if latest is None else ResultOut.of(latest),
        )


class DeliveryOut(BaseModel):
    id: int
    event: str
    destination: str
    payload_kind: str
    attempts: int
    status: str = Field(description="pending, delivered or failed")
    last_error: str | None
    created: datetime
    last_attempt: datetime | None


class AlertOut(BaseModel):
    id: int
    monitor_id: int
    monitor: str
    model: str
    version: int | None
    state: str = Field(description="firing or resolved")
    message: str
    first_fired: datetime
    last_seen: datetime
    resolved: datetime | None
    deliveries: list[DeliveryOut]

    @classmethod
    def of(cls, a: Any, deliveries: list[Any]) -> AlertOut:
        return cls(
            id=a.id,
            monitor_id=a.monitor_id,
            monitor=a.monitor,
            model=a.model,
            version=a.version,
            state=a.state,
            message=a.message,
            first_fired=from_millis(a.first_fired_ms),
            last_seen=from_millis(a.last_seen_ms),
            resolved=None if a.resolved_ms is None else from_millis(a.resolved_ms),
            deliveries=[_delivery(d) for d in deliveries],
        )


def _delivery(d: Any) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        event=d.event,
        destination=d.destination,
        payload_kind=d.payload_kind,
        attempts=d.attempts,
        status=d.status,
        last_error=d.last_error,
        created=from_millis(d.created_ms),
        last_attempt=None if d.last_attempt_ms is None else from_millis(d.last_attempt_ms),
    )
