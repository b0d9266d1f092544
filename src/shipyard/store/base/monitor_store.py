"""Monitors, their results, alerts and webhook deliveries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


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
