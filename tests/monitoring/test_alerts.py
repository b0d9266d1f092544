"""Alerts: delivered once to real HTTP receivers on 127.0.0.1 while a monitor keeps firing,
resolved when it recovers, retried with backoff, and every failure recorded."""

from __future__ import annotations

import pytest

from shipyard.monitoring.monitors import Monitor
from shipyard.monitoring.runner import run_monitors
from shipyard.monitoring.webhooks import parse_destination
from tests.monitoring._monitor_helpers import closed_port_url, log_window, receiver, register


def _busy(threshold: float, webhooks: list[str]) -> Monitor:
    """Fires when the last hour holds more than ``threshold`` predictions."""
    return Monitor(
        "flood", model="churn@production", check="volume", threshold=threshold,
        direction="above", webhooks=webhooks,
    )  # fmt: skip


def test_one_delivery_while_firing_then_a_resolved_message(client) -> None:  # type: ignore[no-untyped-def]
    version = register(client)
    log_window(client, version, rows=20)
    with receiver() as plain, receiver() as slack:
        hooks = [plain.url, f"slack:{slack.url}"]
        for _ in range(3):
            (result,) = run_monitors(_busy(10, hooks), client=client)
            assert result.status == "fired"
        (alert,) = client.store.monitors.list_alerts()
        assert alert.state == "firing" and alert.model == "churn" and alert.version == version
        assert len(plain.received) == 1 and len(slack.received) == 1  # deduplicated
        body = plain.received[0]
        assert body["event"] == "firing" and body["value"] == 20 and body["threshold"] == 10
        assert body["monitor"]["name"] == "flood" and body["alert"]["id"] == alert.id
        assert "flood on churn v1 fired: volume 20" in body["text"]
        assert set(slack.received[0]) == {"text", "blocks"}
        assert slack.received[0]["blocks"][0]["type"] == "section"

        (recovered,) = run_monitors(_busy(100, hooks), client=client)
        assert recovered.status == "ok"
        assert [b["event"] for b in plain.received] == ["firing", "resolved"]
        assert "resolved" in slack.received[1]["text"]
    assert client.store.monitors.list_alerts() == []
    (resolved,) = client.store.monitors.list_alerts(include_resolved=True)
    assert resolved.state == "resolved" and resolved.resolved_ms is not None
    deliveries = client.store.monitors.deliveries(resolved.id)
    assert [(d.event, d.status, d.attempts) for d in deliveries] == [
        ("firing", "delivered", 1), ("firing", "delivered", 1),
        ("resolved", "delivered", 1), ("resolved", "delivered", 1),
    ]  # fmt: skip


def test_two_runs_that_fire_at_once_open_one_alert_and_deliver_once(client) -> None:  # type: ignore[no-untyped-def]
    """Another `monitor run` opened the alert between this run's look and its insert: the
    store refuses a second firing alert for the key, and only the first run delivers."""
    version = register(client)
    log_window(client, version, rows=20)
    with receiver() as hook:
        (fired,) = run_monitors(_busy(10, [hook.url]), client=client)
        assert fired.status == "fired"
        (alert,) = client.store.monitors.list_alerts()
        store = client.store.monitors
        racing = store.create_alert(
            alert.monitor_id, "churn", version, alert.dedup_key, "late twin", 1
        )
        assert racing is None  # lost to the alert already firing
        assert [a.id for a in store.list_alerts()] == [alert.id]
        assert len(hook.received) == 1
        store.resolve_alert(alert.id, 2)
        reopened = store.create_alert(
            alert.monitor_id, "churn", version, alert.dedup_key, "again", 3
        )
        assert reopened is not None and reopened.id != alert.id  # a new episode opens


def test_an_unreachable_webhook_is_a_recorded_failure_and_the_run_goes_on(client) -> None:  # type: ignore[no-untyped-def]
    version = register(client)
    log_window(client, version, rows=20)
    dead = closed_port_url()
    with receiver() as alive:
        results = run_monitors(
            [
                _busy(10, [dead, alive.url]),
                Monitor("v", model="churn", check="volume", threshold=1),
            ],
            client=client,
        )
        assert [r.status for r in results] == ["fired", "ok"]
        assert len(alive.received) == 1
    failed, delivered = client.store.monitors.deliveries()
    assert failed.destination == dead and failed.status == "failed" and failed.attempts == 3
    assert "ConnectError" in (failed.last_error or "")
    assert delivered.status == "delivered" and delivered.attempts == 1


def test_a_500_is_retried_until_accepted_and_a_404_is_not(client) -> None:  # type: ignore[no-untyped-def]
    version = register(client)
    log_window(client, version, rows=20)
    with receiver(answers=[500]) as flaky, receiver(answers=[404]) as wrong:
        run_monitors(_busy(10, [flaky.url, wrong.url]), client=client)
        assert len(flaky.received) == 2 and len(wrong.received) == 1
    retried, refused = client.store.monitors.deliveries()
    assert (retried.status, retried.attempts, retried.last_error) == ("delivered", 2, None)
    assert (refused.status, refused.attempts) == ("failed", 1)
    assert (refused.last_error or "").startswith("HTTP 404")


def test_global_webhooks_come_from_the_setting(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from shipyard.tracking import Client

    version = register(client)
    log_window(client, version, rows=20)
    with receiver() as first, receiver() as second:
        monkeypatch.setenv("SHIPYARD_ALERT_WEBHOOKS", f"{first.url}, json:{second.url}")
        configured = Client(uri=client.settings.uri, artifact_uri=client.settings.artifact_uri)
        try:
            assert configured.settings.alert_webhooks == (first.url, f"json:{second.url}")
            run_monitors(_busy(10, []), client=configured)
        finally:
            configured.close()
        assert len(first.received) == 1 and len(second.received) == 1


@pytest.mark.parametrize(
    ("text", "kind", "url"),
    [
        ("http://127.0.0.1:1/x", "json", "http://127.0.0.1:1/x"),
        ("slack:https://a.example/x", "slack", "https://a.example/x"),
        (
            "https://hooks.slack.com/services/T/B/C",
            "slack",
            "https://hooks.slack.com/services/T/B/C",
        ),
        ("json:https://hooks.slack.com/x", "json", "https://hooks.slack.com/x"),
    ],
)
def test_destinations(text, kind, url) -> None:  # type: ignore[no-untyped-def]
    destination = parse_destination(text)
    assert (destination.kind, destination.url) == (kind, url)
