"""Failed prediction calls reach the prediction log with their error, through a real
server on every backend: monitoring sees them in read_window (one row each), in
performance's calls/errors/error_rate and in the error_rate check; labels are refused."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

import shipyard
import shipyard.serving
from shipyard.errors import NotFound
from shipyard.monitoring import performance, read_window
from shipyard.monitoring.checks import evaluate
from shipyard.monitoring.monitors import Monitor
from shipyard.registry import ModelRegistry
from shipyard.serving import Deployment
from shipyard.serving.service import PredictionService
from shipyard.store.log_segments import SEGMENT_MS, seal_all
from tests.serving.conftest import LiveServer, labels_for, records


@pytest.fixture
def server(client, store_uri, shipyard_home, monkeypatch, churn_model):
    """churn@production served over the `client` store (SQLite, then PostgreSQL)."""
    monkeypatch.setenv("SHIPYARD_URI", store_uri)  # log_labels and read_window's default
    monkeypatch.setenv("SHIPYARD_ARTIFACT_URI", str(shipyard_home / "blobs"))
    service = PredictionService(Deployment.from_flags("churn@production"), client=client)
    with LiveServer(service) as live:
        yield live


@pytest.fixture
def churn_model(client, customers):
    """churn v1 registered in the `client` store, aliased production."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    encode = ColumnTransformer(
        [("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"])], remainder="passthrough"
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=500)).fit(
        customers, labels_for(customers)
    )
    registry = ModelRegistry(client)
    version = registry.register_model("churn", model, input_example=customers.head(5))
    registry.set_alias("churn", "production", version.version)
    return model


def test_failed_requests_are_logged_and_counted(server, client, customers):
    rows = records(customers.head(3))
    ok = [server.post("/predict", {"record": r}) for r in rows]
    assert all(r.status_code == 200 for r in ok)
    ids = [r.json()["prediction_ids"][0] for r in ok]
    missing = server.post("/predict", {"records": [{"spend": 1.0, "plan": "pro"}]})
    assert missing.status_code == 422, missing.text
    malformed = server.post("/predict", content=b"{nope")
    assert malformed.status_code == 400
    server.service.logger.flush()

    store = client.store.predictions
    logged = store.query("churn")
    assert len(logged) == 5
    failed = [p for p in logged if p.error is not None]
    assert sorted(p.error.split(":")[0] for p in failed) == ["400", "422"]
    by_status = {p.error.split(":")[0]: p for p in failed}
    assert "age" in by_status["422"].error and "\n" not in by_status["422"].error
    assert by_status["422"].variant == "production"
    assert by_status["422"].inputs == {"spend": 1.0, "plan": "pro"}  # parsed: kept
    assert by_status["400"].variant == "" and by_status["400"].inputs == {}  # unrouted
    assert all(p.output is None and p.latency_ms > 0 for p in failed)
    assert {p.id for p in logged if p.error is None} == set(ids)  # successes unaffected
    assert [p.output for p in store.get(ids)] == [r.json()["predictions"][0] for r in ok]
    with pytest.raises(NotFound):  # a failed call has no prediction to label
        shipyard.serving.log_labels([failed[0].id], [1])
    shipyard.serving.log_labels(ids, [1, 0, 1])

    before = read_window("churn", client=client)
    assert len(before) == 5 and before["error"].notna().sum() == 2
    fails = before[before["error"].notna()]
    assert fails["prediction"].isna().all() and fails["label"].isna().all()
    assert fails["age"].isna().all()  # drift sees no value for a failed call
    now_ms = int(before["ts"].max().timestamp() * 1000) + 2 * SEGMENT_MS
    assert seal_all(store, client.blobs, now_ms=now_ms) >= 1
    after = read_window("churn", client=client)
    pd.testing.assert_frame_equal(before, after)

    result = performance(after)
    row = result.iloc[0]
    assert (row["calls"], row["errors"], row["rows"], row["labelled"]) == (5, 2, 3, 3)
    assert row["error_rate"] == pytest.approx(0.4)
    success = after[after["error"].isna()]
    expected = (success["prediction"] == success["label"]).mean()
    assert row["accuracy"] == pytest.approx(expected)  # over successful labelled rows only
    by_variant = performance(after, by="variant").set_index("variant")
    assert by_variant.loc["production", "errors"] == 1
    assert by_variant.loc["", "error_rate"] == 1.0


def test_error_rate_monitor_fires_on_half_failures_only(server, client, customers):
    monitor = Monitor("errors", model="churn", check="error_rate", threshold=0.25)
    rows = records(customers.head(4))
    for r in rows[:2]:
        assert server.post("/predict", {"record": r}).status_code == 200
    bad = {k: v for k, v in rows[0].items() if k != "age"}
    assert server.post("/predict", {"record": bad}).status_code == 422
    assert server.post("/predict", content=b"[1,").status_code == 400
    server.service.logger.flush()
    half = read_window("churn", since=timedelta(hours=1), client=client)
    outcome = evaluate(monitor, half, lambda: None)
    assert outcome.value == pytest.approx(0.5) and outcome.fired
    assert outcome.details["failed"] == 2 and outcome.details["calls"] == 4

    clean = half[half["error"].isna()]
    outcome = evaluate(monitor, clean, lambda: None)
    assert outcome.value == 0.0 and not outcome.fired
    # volume and latency see the failed calls; a drift monitor on a failed-only window
    volume = Monitor("volume", model="churn", check="volume", threshold=3, direction="below")
    assert evaluate(volume, half, lambda: None).value == 4
    spend = Monitor("spend", model="churn", check="drift", features=["spend"], test="ks")
    with_failures = evaluate(spend, half, lambda: customers)
    without = evaluate(spend, clean, lambda: customers)
    assert with_failures.details["features"] == without.details["features"]  # skipped
    assert with_failures.details["rows"] == 2
    failed_only = half[half["error"].notna()]
    drift = Monitor("drift", model="churn", check="drift")
    with pytest.raises(shipyard.errors.InvalidArgument, match="failed"):
        evaluate(drift, failed_only, lambda: None)
    assert np.isfinite(half["latency_ms"]).all()


def test_predictions_ls_and_show_name_the_failure(server, client, customers, cli):
    assert server.post("/predict", {"record": records(customers.head(1))[0]}).status_code == 200
    assert server.post("/predict", {"record": {"spend": 2.0, "plan": "pro"}}).status_code == 422
    server.service.logger.flush()
    failed = [p for p in client.store.predictions.query("churn") if p.error is not None]
    code, stdout, _ = cli("predictions", "ls", "churn")
    assert code == 0 and "FAILED 422" in stdout
    code, stdout, _ = cli("predictions", "show", failed[0].id)
    assert code == 0 and '"error": "422: ' in stdout
