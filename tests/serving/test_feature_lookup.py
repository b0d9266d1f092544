"""A model trained on a feature service is served from entity keys alone: the server
fetches the online features, merges request-time values, and logs what it fetched."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

import shipyard
from shipyard.features import (
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    Field,
    FileSource,
    Float64,
    Int64,
    RequestSource,
    on_demand_feature_view,
)

FEATURES = ["spend", "orders", "amount_ratio"]


@pytest.fixture
def shop(tmp_path, shipyard_client):
    """customers 0..19 with fresh stats in the online store; the service 'churn'."""
    rng = np.random.default_rng(3)
    now = pd.Timestamp.now(tz="UTC").floor("s")
    stats = pd.DataFrame(
        {
            "customer_id": np.arange(20),
            "event_timestamp": now - pd.to_timedelta(rng.integers(60, 3600, 20), unit="s"),
            "spend": rng.random(20) * 100,
            "orders": rng.integers(0, 10, 20),
        }
    )
    stats.to_parquet(tmp_path / "stats.parquet")
    customer = Entity("customer", join_keys=["customer_id"])
    view = FeatureView(
        "customer_stats",
        source=FileSource(name="stats", path=str(tmp_path / "stats.parquet")),
        entities=[customer],
        schema=[Field("spend", Float64), Field("orders", Int64)],
        ttl=timedelta(days=1),
    )
    request = RequestSource("request", schema=[Field("amount", Float64)])

    @on_demand_feature_view(
        sources=[view[["spend"]], request], schema=[Field("amount_ratio", Float64)]
    )
    def amount_ratio(df):
        return pd.DataFrame({"amount_ratio": df["amount"] / (df["spend"] + 1.0)})

    service = FeatureService("churn", features=[view, amount_ratio])
    fs = FeatureStore("shop", client=shipyard_client)
    fs.apply([customer, view, amount_ratio, service])
    fs.materialize_incremental()
    yield fs, stats
    fs.close()


@pytest.fixture
def spend_model(shop):
    _, stats = shop
    X = pd.DataFrame(
        {
            "spend": stats["spend"],
            "orders": stats["orders"],
            "amount_ratio": 10.0 / (stats["spend"] + 1.0),
        }
    )
    model = LinearRegression().fit(X, X["spend"] * 2 + X["orders"])
    shipyard.register_model("spend", model, input_example=X.head(3), feature_service="shop/churn")
    shipyard.set_model_alias("spend", "production", 1)
    return model


def test_entity_keys_are_enough(serve, shop, spend_model, shipyard_client):
    _, stats = shop
    server = serve("spend@production")
    rows = [{"customer_id": 3, "amount": 20.0}, {"customer_id": 11, "amount": 5.0}]
    body = server.post("/predict", {"records": rows})
    assert body.status_code == 200, body.text
    expected_inputs = pd.DataFrame(
        {
            "spend": stats["spend"].iloc[[3, 11]].to_numpy(),
            "orders": stats["orders"].iloc[[3, 11]].to_numpy(),
            "amount_ratio": [20.0 / (stats["spend"][3] + 1), 5.0 / (stats["spend"][11] + 1)],
        }
    )
    np.testing.assert_allclose(body.json()["predictions"], spend_model.predict(expected_inputs))
    server.service.logger.flush()
    logged = shipyard_client.store.predictions.get(body.json()["prediction_ids"])
    assert logged[0].inputs["customer_id"] == 3 and logged[0].inputs["amount"] == 20.0
    assert logged[0].features["spend"] == pytest.approx(stats["spend"][3])
    assert logged[0].features["amount_ratio"] == pytest.approx(expected_inputs["amount_ratio"][0])


def test_values_sent_with_the_request_win_over_fetched_ones(serve, shop, spend_model):
    server = serve("spend@production")
    sent = {"customer_id": 3, "amount": 20.0, "spend": 500.0}
    body = server.post("/predict", {"record": sent}).json()
    fetched = server.post("/predict", {"record": {"customer_id": 3, "amount": 20.0}}).json()
    assert body["predictions"] != fetched["predictions"]
    assert body["predictions"][0] == pytest.approx(
        fetched["predictions"][0] + spend_model.coef_[0] * (500.0 - shop[1]["spend"][3]),
        rel=1e-6,
    )


def test_unknown_entities_and_missing_keys_are_client_errors(serve, shop, spend_model):
    server = serve("spend@production")
    unknown = server.post("/predict", {"record": {"customer_id": 999, "amount": 1.0}})
    assert unknown.status_code == 422
    assert unknown.json()["error"] == {
        "code": "INVALID_INPUT",
        "field": "orders",
        "message": "feature 'orders' of service 'churn' is missing in the online store for "
        "row 0; materialize its view, or send 'orders' with the request",
    }
    no_key = server.post("/predict", {"record": {"amount": 1.0}})
    assert no_key.status_code == 422
    assert "could not look up the features of service 'churn'" in no_key.json()["error"]["message"]
