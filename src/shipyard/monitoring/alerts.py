"""Alerts: a monitor that fires opens an alert, delivered once to its webhooks; while it keeps
firing the alert is only marked as seen (deduplicated on the model and monitor); when the
monitor recovers the alert is resolved and a resolved message is delivered. An evaluation
that ended in error changes nothing. Every delivery is recorded before its first attempt and
updated after each one, so a failure is in the store, never lost."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shipyard._clock import from_millis, to_millis
from shipyard.monitoring.monitors import Monitor
from shipyard.monitoring.webhooks import Attempt, Destination, parse_destination, send
from shipyard.monitoring.webhooks import slack_payload as _slack
from shipyard.store.base import AlertRecord, MonitorRecord, MonitorResultRecord
from shipyard.tracking import Client


def dedup_key(record: MonitorRecord) -> str:
    return f"{record.model}/{record.name}"


def describe(monitor: Monitor, result: MonitorResultRecord) -> str:
    """One line: what the monitor saw, against what threshold."""
    if monitor.check == "drift":
        drifted = result.details.get("drifted") or []
        return f"{len(drifted)} feature(s) drifted" + (f": {', '.join(drifted)}" if drifted else "")
    what = monitor.metric or monitor.check
    value = "n/a" if result.value is None else f"{result.value:.6g}"
    return f"{what} {value} (fires {monitor.fires_when} {monitor.threshold:g})"


def update_alert(
    client: Client,
    monitor: Monitor,
    record: MonitorRecord,
    result: MonitorResultRecord,
    webhooks: Sequence[str],
) -> AlertRecord | None:
    """Open, keep or resolve the alert of ``record`` after ``result``; deliver on changes."""
    store = client.store.monitors
    key = dedup_key(record)
    current = store.open_alert(key)
    now = result.evaluated_ms
    if result.status == "fired":
        if current is not None:
            store.touch_alert(current.id, result.version, now)
            return current
        where = f"{record.model} v{result.version}"
        message = f"{record.name} on {where} fired: {describe(monitor, result)}"
        alert = store.create_alert(record.id, record.model, result.version, key, message, now)
        if alert is None:  # another `monitor run` opened it first: it delivers, not us
            return store.open_alert(key)
        deliver(client, alert, "firing", monitor, result, webhooks)
        return alert
    if result.status == "ok" and current is not None:
        alert = store.resolve_alert(current.id, now)
        deliver(client, alert, "resolved", monitor, result, webhooks)
        return alert
    return current


def payload(
    destination: Destination,
    event: str,
    alert: AlertRecord,
    monitor: Monitor,
    result: MonitorResultRecord,
) -> dict[str, Any]:
    text = alert.message if event == "firing" else _resolved_text(alert, monitor, result)
    if destination.kind == "slack":
        icon = ":rotating_light:" if event == "firing" else ":white_check_mark:"
        fields = {
            "model": f"{alert.model} v{result.version}",
            "monitor": f"{alert.monitor} ({monitor.check}, window {monitor.window})",
            "first fired": from_millis(alert.first_fired_ms).isoformat(),
        }
        return _slack(f"{icon} {text}", fields)
    return {
        "event": event,
        "text": text,
        "alert": {
            "id": alert.id,
            "state": alert.state,
            "dedup_key": alert.dedup_key,
            "first_fired": from_millis(alert.first_fired_ms).isoformat(),
            "last_seen": from_millis(alert.last_seen_ms).isoformat(),
            "resolved": None
            if alert.resolved_ms is None
            else from_millis(alert.resolved_ms).isoformat(),
        },
        "monitor": {"name": alert.monitor, **monitor.to_spec()},
        "model": alert.model,
        "version": result.version,
        "value": result.value,
        "threshold": result.threshold,
        "window": {
            "start": from_millis(result.window_start_ms).isoformat(),
            "end": from_millis(result.window_end_ms).isoformat(),
        },
        "details": result.details,
    }


def _resolved_text(alert: AlertRecord, monitor: Monitor, result: MonitorResultRecord) -> str:
    return (
        f"resolved: {alert.monitor} on {alert.model} v{result.version} is back within its "
        f"threshold ({describe(monitor, result)})"
    )


def deliver(
    client: Client,
    alert: AlertRecord,
    event: str,
    monitor: Monitor,
    result: MonitorResultRecord,
    webhooks: Sequence[str],
) -> None:
    """Send ``event`` of ``alert`` to every destination (each once, in order), recording
    each delivery and its attempts; a destination that fails does not stop the others."""
    store = client.store.monitors
    attempts = int(client.settings.alert_webhook_attempts)
    timeout = float(client.settings.alert_webhook_timeout)
    for destination in dict.fromkeys(parse_destination(w) for w in webhooks):
        now = to_millis(client.clock.now())
        delivery = store.add_delivery(alert.id, event, destination.url, destination.kind, now)

        def record(attempt: Attempt, delivery_id: int = delivery.id) -> None:
            status = "delivered" if attempt.ok else "failed" if attempt.final else "pending"
            when = to_millis(client.clock.now())
            store.update_delivery(delivery_id, attempt.number, status, attempt.error, when)

        body = payload(destination, event, alert, monitor, result)
        send(destination.url, body, attempts=attempts, timeout=timeout, on_attempt=record)
