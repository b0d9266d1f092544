"""Put a champion in production and send it shifted traffic: `python seed.py`.

Trains ``churn`` v1 on last year's customers (its training rows as the drift reference),
points ``production`` at it, then logs 400 predictions of customers ten years older
through the real prediction log."""

from __future__ import annotations

import secrets

from churn_data import FEATURES, customers
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard._clock import to_millis
from shipyard.registry import set_model_alias
from shipyard.store.base import PredictionCall
from shipyard.tracking import Client


def main() -> None:
    train = customers(600, seed=1)
    model = LogisticRegression().fit(train[FEATURES], train["churned"])
    version = shipyard.register_model(
        "churn", model, reference=train[FEATURES], metrics={"holdout_auc": 0.0}
    ).version
    set_model_alias("churn", "production", version)
    client = Client()
    traffic = customers(400, seed=2, shift=10.0)
    ts = to_millis(client.clock.now()) - 60_000
    call = PredictionCall(
        id=f"{ts:012x}{secrets.token_hex(7)}", model="churn", version=version,
        variant="default", shadow=False, ts_ms=ts, latency_ms=3.0, rows=len(traffic),
        inputs={c: traffic[c].tolist() for c in FEATURES},
        outputs=model.predict(traffic[FEATURES]).tolist(),
    )  # fmt: skip
    client.store.predictions.append([call])
    print(f"churn v{version} in production; 400 shifted predictions logged")


if __name__ == "__main__":
    main()
