"""/api/v1/monitors and /api/v1/alerts answer what the monitoring API and its store do."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.monitoring import run_monitors
from shipyard.tracking import Client
from tests.monitoring._monitor_helpers import log_window, register
from tests.server._inprocess import TestClient, inprocess_api  # noqa: F401  (fixture: api)

MONITORS = [
    {"name": "slow", "model": "churn@production", "check": "latency", "threshold": 100},
    {"name": "quiet", "model": "churn", "check": "volume", "threshold": 1},
]


@pytest.fixture
def logged(shipyard_client: Client) -> int:
    """churn in production with 50 slow predictions (120 ms) a minute ago."""
    version = register(shipyard_client, with_dataset=False)
    log_window(shipyard_client, version, rows=50, latency_ms=120.0)
    return version


def test_apply_run_and_read_back(api: TestClient, shipyard_client: Client, logged: int) -> None:
    applied = api.post("/api/v1/monitors/apply", json={"monitors": MONITORS})
    assert applied.status_code == 200, applied.text
    assert [(m["name"], m["target"], m["check"]) for m in applied.json()] == [
        ("slow", "@production", "latency"),
        ("quiet", "", "volume"),
    ]
    store = shipyard_client.store.monitors
    listed = api.get("/api/v1/monitors").json()
    assert [(m["id"], m["spec"]) for m in listed] == [(m.id, m.spec) for m in store.list_monitors()]
    assert all(m["latest"] is None for m in listed)

    ran = api.post("/api/v1/monitors/run", json={}).json()
    assert {r["monitor"]: r["status"] for r in ran} == {"slow": "fired", "quiet": "ok"}
    slow = api.get("/api/v1/monitors/slow", params={"model": "churn"}).json()
    assert slow["latest"]["status"] == "fired"
    assert slow["latest"]["value"] == pytest.approx(120.0)

    again = run_monitors(model="churn@production", client=shipyard_client)  # the Python API
    results = api.get("/api/v1/monitors/slow/results").json()
    record = store.get_monitor("slow")
    assert [r["id"] for r in results] == [r.id for r in store.results(record.id)]
    assert results[0]["id"] == again[0].id

    alerts = api.get("/api/v1/alerts").json()
    assert [(a["id"], a["monitor"], a["state"]) for a in alerts] == [
        (a.id, a.monitor, a.state) for a in store.list_alerts()
    ]
    assert [a["monitor"] for a in alerts] == ["slow"]
    one = api.get(f"/api/v1/alerts/{alerts[0]['id']}").json()
    assert one["message"] == store.list_alerts()[0].message


def test_run_declared_monitors_and_alerts_resolve(
    api: TestClient, shipyard_client: Client, logged: int
) -> None:
    fired = api.post("/api/v1/monitors/run", json={"monitors": MONITORS[:1]}).json()
    assert [r["status"] for r in fired] == ["fired"]
    relaxed = {**MONITORS[0], "threshold": 1000}
    ok = api.post("/api/v1/monitors/run", json={"monitors": [relaxed]}).json()
    assert [r["status"] for r in ok] == ["ok"]
    assert api.get("/api/v1/alerts").json() == []
    every = api.get("/api/v1/alerts", params={"resolved": True}).json()
    assert [a["state"] for a in every] == ["resolved"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", "/api/v1/monitors/nope", None, 404),
        ("get", "/api/v1/monitors/nope/results", None, 404),
        ("get", "/api/v1/alerts/999", None, 404),
        ("get", "/api/v1/alerts/x", None, 422),
        ("post", "/api/v1/monitors/apply", {"monitors": []}, 422),
        ("post", "/api/v1/monitors/apply", {"monitors": [{"name": "x", "model": "m"}]}, 422),
        (
            "post",
            "/api/v1/monitors/apply",
            {"monitors": [{"name": "x", "model": "churn", "check": "vibes"}]},
            400,
        ),
        (
            "post",
            "/api/v1/monitors/apply",
            {"monitors": [{"name": "x", "model": "churn", "check": "latency"}]},
            400,
        ),
        (
            "post",
            "/api/v1/monitors/apply",
            {"monitors": [{**MONITORS[0], "schedule": "every day"}]},
            400,
        ),
        ("post", "/api/v1/monitors/run", {"model": "churn@@x"}, 400),
        ("post", "/api/v1/monitors/run", {"extra": True}, 422),
    ],
)
def test_bad_input_is_a_4xx(
    api: TestClient, logged: int, method: str, path: str, body: Any, status: int
) -> None:
    got = api.request(method, path, json=body)
    assert got.status_code == status, got.text
    assert set(got.json()["error"]) >= {"code", "message"}
