"""/api/v1 prediction log answers what the store's query answers; labels as log_labels."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard._clock import from_millis, to_millis
from shipyard.serving import log_labels
from shipyard.tracking import Client
from tests.monitoring._monitor_helpers import log_window, register
from tests.server._inprocess import TestClient, inprocess_api  # noqa: F401  (fixture: api)


@pytest.fixture
def logged(shipyard_client: Client) -> int:
    """churn v1 and v2, each with 5 logged predictions a minute ago."""
    register(shipyard_client, with_dataset=False)
    version = register(shipyard_client, with_dataset=False)
    log_window(shipyard_client, 1, rows=5)
    log_window(shipyard_client, version, rows=5, seed=2)
    return version


def test_query_matches_the_store(api: TestClient, shipyard_client: Client, logged: int) -> None:
    store = shipyard_client.store.predictions
    every = api.get("/api/v1/models/churn/predictions").json()
    assert [p["id"] for p in every] == [p.id for p in store.query("churn")]
    one_version = api.get("/api/v1/models/churn/predictions", params={"version": 2}).json()
    assert [p["id"] for p in one_version] == [p.id for p in store.query("churn", version=2)]
    assert {p["version"] for p in one_version} == {2}
    first = store.query("churn", limit=3)
    limited = api.get("/api/v1/models/churn/predictions", params={"limit": 3}).json()
    assert [p["id"] for p in limited] == [p.id for p in first]
    assert limited[0]["inputs"] == first[0].inputs
    assert limited[0]["output"] == first[0].output
    now = to_millis(shipyard_client.clock.now())
    since = from_millis(now + 1000).isoformat()
    assert api.get("/api/v1/models/churn/predictions", params={"since": since}).json() == []
    one = api.get(f"/api/v1/predictions/{first[0].id}").json()
    assert (one["id"], one["version"], one["label"]) == (first[0].id, first[0].version, None)


def test_labels_are_attached_as_by_log_labels(
    api: TestClient, shipyard_client: Client, logged: int
) -> None:
    store = shipyard_client.store.predictions
    ids = [p.id for p in store.query("churn", limit=4)]
    got = api.post("/api/v1/predictions/labels", json={"prediction_ids": ids[:2], "labels": [1, 0]})
    assert got.json() == {"labelled": 2}
    assert log_labels(ids[2:], [0, 1]) == 2
    assert [p.label for p in store.get(ids)] == [1, 0, 0, 1]
    labelled = api.get("/api/v1/models/churn/predictions", params={"labelled": True}).json()
    assert sorted(p["id"] for p in labelled) == sorted(ids)
    assert all(p["labelled"] is not None for p in labelled)


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", "/api/v1/models/nope/predictions", None, 404),
        ("get", "/api/v1/models/churn/predictions?limit=0", None, 422),
        ("get", "/api/v1/models/churn/predictions?since=yesterday", None, 422),
        ("get", "/api/v1/models/churn/predictions?since=2024-01-01T00:00:00", None, 400),
        ("get", "/api/v1/predictions/" + "0" * 32, None, 404),
        ("post", "/api/v1/predictions/labels", {"prediction_ids": ["x"], "labels": [1]}, 400),
        ("post", "/api/v1/predictions/labels", {"prediction_ids": ["0" * 32], "labels": []}, 422),
        (
            "post",
            "/api/v1/predictions/labels",
            {"prediction_ids": ["0" * 32, "1" * 32], "labels": [1]},
            400,
        ),
        ("post", "/api/v1/predictions/labels", {"prediction_ids": ["0" * 32], "labels": [1]}, 404),
    ],
)
def test_bad_input_is_a_4xx(
    api: TestClient, logged: int, method: str, path: str, body: Any, status: int
) -> None:
    got = api.request(method, path, json=body)
    assert got.status_code == status, got.text
    assert set(got.json()["error"]) >= {"code", "message"}
