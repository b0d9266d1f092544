"""/api/v1/models answers what the Python registry answers, and bad input is a 4xx."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from shipyard.registry import ModelRegistry, model_card, model_statuses
from shipyard.tracking import Client
from tests.server._inprocess import TestClient, inprocess_api  # noqa: F401  (fixture: api)


@pytest.fixture
def registry(shipyard_client: Client) -> ModelRegistry:
    """churn v1 (auc 0.8, production) and v2 (auc 0.9)."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"age": rng.integers(18, 80, 100), "spend": rng.random(100) * 100})
    y = (X["spend"] > 50).astype(int).to_numpy()
    registry = ModelRegistry(shipyard_client)
    for c, auc in ((1.0, 0.8), (0.1, 0.9)):
        model = LogisticRegression(C=c).fit(X, y)
        registry.register_model("churn", model, input_example=X.head(2), metrics={"auc": auc})
    registry.set_alias("churn", "production", 1)
    return registry


def test_models_and_versions_match_the_registry(api: TestClient, registry: ModelRegistry) -> None:
    models = api.get("/api/v1/models").json()
    assert [(m["name"], m["latest_version"], m["aliases"]) for m in models] == [
        ("churn", 2, {"production": 1})
    ]
    assert api.get("/api/v1/models/churn").json()["owner"] == registry.get_model("churn").owner
    versions = api.get("/api/v1/models/churn/versions").json()
    assert [v["version"] for v in versions] == [v.version for v in registry.versions("churn")]
    one = api.get("/api/v1/models/churn/versions/1").json()
    record = registry.get_version("churn", 1).record
    assert one["uri"] == "models:/churn/1"
    assert (one["blob_hash"], one["signature"], one["metrics"]) == (
        record.blob_hash,
        record.signature,
        record.metrics,
    )
    assert one["aliases"] == ["production"]
    assert api.get("/api/v1/models/churn/aliases/production").json()["version"] == 1


def test_model_statuses(api: TestClient, registry: ModelRegistry, shipyard_client: Client) -> None:
    got = api.get("/api/v1/model-statuses").json()
    expected = model_statuses(shipyard_client)
    assert [(s["model"]["name"], s["stale"], s["last_prediction"]) for s in got] == [
        (s.model.name, s.stale, None) for s in expected
    ]
    assert got[0]["model"]["aliases"] == {"production": 1}
    fresh = api.get("/api/v1/model-statuses", params={"stale_after_days": 0.0000001}).json()
    assert fresh[0]["stale"] is True
    assert fresh[0]["stale_reason"].startswith("no new version or prediction for")


def test_aliases_set_delete_and_history(api: TestClient, registry: ModelRegistry) -> None:
    moved = api.put("/api/v1/models/churn/aliases/staging", json={"version": 2}).json()
    assert (moved["from_version"], moved["to_version"]) == (None, 2)
    assert registry.get_model("churn").aliases == {"production": 1, "staging": 2}
    removed = api.delete("/api/v1/models/churn/aliases/staging").json()
    assert (removed["from_version"], removed["to_version"]) == (2, None)
    assert registry.get_model("churn").aliases == {"production": 1}
    history = api.get("/api/v1/models/churn/alias-history", params={"alias": "staging"}).json()
    expected = registry.alias_history("churn", "staging")
    assert [(h["from_version"], h["to_version"]) for h in history] == [
        (m.from_version, m.to_version) for m in expected
    ]


def test_promotion_with_gates(api: TestClient, registry: ModelRegistry) -> None:
    refused = api.post(
        "/api/v1/models/churn/versions/2/promote",
        json={"require": ["metrics.auc >= 0.95"]},
    )
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "GATE_FAILED"
    assert [g["passed"] for g in error["gates"]] == [False]
    assert registry.get_model("churn").aliases["production"] == 1

    promoted = api.post(
        "/api/v1/models/churn/versions/2/promote",
        json={"to": "production", "require": ["metrics.auc >= champion.metrics.auc"]},
    )
    assert promoted.status_code == 200, promoted.text
    body = promoted.json()
    assert (body["from_version"], body["to_version"]) == (1, 2)
    assert [g["passed"] for g in body["gates"]] == [True]
    assert registry.get_model("churn").aliases["production"] == 2


def test_create_a_version_from_a_run_artifact(
    api: TestClient, registry: ModelRegistry, shipyard_client: Client
) -> None:
    run = shipyard_client.create_run("default")
    X = pd.DataFrame({"age": [20, 60, 30, 70], "spend": [1.0, 90.0, 5.0, 80.0]})
    model = LogisticRegression().fit(X, [0, 1, 0, 1])
    shipyard_client.log_object(run.id, model, "model.pkl")
    shipyard_client.log_metric(run.id, "auc", 0.7)
    created = api.post(
        "/api/v1/models/churn/versions",
        json={"run_id": run.id, "artifact": "model.pkl", "tags": {"team": "growth"}},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["version"], body["flavor"], body["run_id"]) == (3, "sklearn", run.id)
    assert body["metrics"] == {"auc": 0.7}
    loaded = registry.load_model("models:/churn/3")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_model_card(api: TestClient, registry: ModelRegistry) -> None:
    markdown = api.get("/api/v1/models/churn/versions/1/card")
    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text == model_card(registry, "churn", 1).markdown
    html = api.get("/api/v1/models/churn/versions/1/card", params={"format": "html"})
    assert html.headers["content-type"].startswith("text/html")
    assert html.text == model_card(registry, "churn", 1).html


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", "/api/v1/models/nope", None, 404),
        ("get", "/api/v1/model-statuses?stale_after_days=-1", None, 422),
        ("get", "/api/v1/models/nope/versions", None, 404),
        ("get", "/api/v1/models/churn/versions/9", None, 404),
        ("get", "/api/v1/models/churn/versions/one", None, 422),
        ("get", "/api/v1/models/churn/versions/99999999999999999999", None, 422),
        ("get", "/api/v1/models/churn/aliases/nope", None, 404),
        ("get", "/api/v1/models/nope/alias-history", None, 404),
        ("get", "/api/v1/models/churn/versions/9/card", None, 404),
        ("get", "/api/v1/models/churn/versions/1/card?format=pdf", None, 422),
        ("put", "/api/v1/models/churn/aliases/staging", {"version": 9}, 404),
        ("put", "/api/v1/models/churn/aliases/staging", {"version": 0}, 422),
        ("put", "/api/v1/models/churn/aliases/staging", {}, 422),
        ("post", "/api/v1/models/churn/versions/2/promote", {"require": ["metrics.auc >>"]}, 400),
        ("post", "/api/v1/models/churn/versions/9/promote", {}, 404),
        ("post", "/api/v1/models/churn/versions", {"run_id": "0" * 32, "artifact": "m"}, 404),
        ("post", "/api/v1/models/churn/versions", {"artifact": "m"}, 422),
    ],
)
def test_bad_input_is_a_4xx(
    api: TestClient, registry: ModelRegistry, method: str, path: str, body: Any, status: int
) -> None:
    got = api.request(method, path, json=body)
    assert got.status_code == status, got.text
    assert set(got.json()["error"]) >= {"code", "message"}
