"""performance(): scikit-learn's metrics on the labelled rows of the prediction log, per
window and variant, with latency percentiles; read through the real log on every backend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

import shipyard.serving
from shipyard.errors import InvalidArgument
from shipyard.monitoring import performance, read_window
from shipyard.serving.predlog import LoggedBatch, PredictionLogger, new_ids
from shipyard.store.log_segments import SEGMENT_MS, seal_all

T0 = 1_764_000_000_000


@pytest.fixture
def logged(client, store_uri, shipyard_home, monkeypatch):
    """200 probability predictions over two hours on two variants; 150 labelled; the first
    hour sealed into segments."""
    monkeypatch.setenv("SHIPYARD_URI", store_uri)
    monkeypatch.setenv("SHIPYARD_ARTIFACT_URI", str(shipyard_home / "blobs"))
    rng = np.random.default_rng(3)
    log = PredictionLogger(client.store.predictions, interval=60, blobs=client.blobs)
    ids, labels = [], []
    for i in range(200):
        ts = T0 + i * 36_000
        p = float(rng.random())
        ids += new_ids(1, ts)
        batch = LoggedBatch(
            ids[-1:], ts, "churn", 1, ["a", "b"][i % 2], False, float(1 + i % 7),
            {"x": [p]}, None, [[1 - p, p]],
        )  # fmt: skip
        log.log(batch)
        labels.append(int(rng.random() < p))
    log.flush()
    seal_all(client.store.predictions, client.blobs, now_ms=T0 + 3 * SEGMENT_MS)
    shipyard.serving.log_labels(ids[:150], labels[:150])
    return read_window("churn", client=client)


def test_classification_metrics_equal_sklearn_per_window_and_variant(logged):
    frame = logged
    result = performance(frame, window="1h", by="variant")
    assert result.attrs["task"] == "classification"
    assert list(result.columns[:4]) == ["window_start", "window_end", "variant", "rows"]
    assert result["rows"].sum() == 200 and result["labelled"].sum() == 150
    for _, row in result.iterrows():
        group = frame[(frame["ts"].dt.floor("1h") == row["window_start"])]
        group = group[group["variant"] == row["variant"]]
        lab = group[group["label"].notna()]
        y = lab["label"].astype(int).to_numpy()
        proba = np.vstack(lab["prediction"].to_numpy())
        pred = proba.argmax(axis=1)
        assert row["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
        assert row["f1"] == pytest.approx(skm.f1_score(y, pred))
        assert row["precision"] == pytest.approx(skm.precision_score(y, pred, zero_division=0))
        assert row["recall"] == pytest.approx(skm.recall_score(y, pred))
        assert row["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]))
        assert row["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=[0, 1]))
        assert row["latency_p95"] == pytest.approx(np.percentile(group["latency_ms"], 95))
    overall = performance(frame)
    assert len(overall) == 1 and overall["rows"].iloc[0] == 200


def test_regression_and_label_classes_and_task_choice():
    y = np.array([1.5, 2.0, 3.25, 4.0, 10.0])
    p = np.array([1.0, 2.5, 3.0, 5.0, 8.0])
    frame = pd.DataFrame({"prediction": p, "label": y, "latency_ms": [1.0] * 5})
    row = performance(frame).iloc[0]
    assert performance(frame).attrs["task"] == "regression"
    assert row["mae"] == pytest.approx(skm.mean_absolute_error(y, p))
    assert row["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)))
    assert row["r2"] == pytest.approx(skm.r2_score(y, p))
    words = pd.DataFrame({"prediction": ["yes", "no", "yes"], "label": ["yes", "yes", "yes"]})
    got = performance(words).iloc[0]
    assert got["accuracy"] == pytest.approx(2 / 3) and "roc_auc" not in got


def test_errors_are_clear():
    frame = pd.DataFrame({"prediction": [1, 0], "label": [None, None]})
    with pytest.raises(InvalidArgument, match="none of the 2 predictions has a label"):
        performance(frame)
    with pytest.raises(InvalidArgument, match="task must be one of classification"):
        performance(frame.assign(label=[1, 0]), task="ranking")
    with pytest.raises(InvalidArgument, match="no 'label' column"):
        performance(frame.drop(columns="label"))
    with pytest.raises(InvalidArgument, match="not a duration"):
        performance(frame.assign(label=[1, 0], ts=pd.Timestamp.now(tz="UTC")), window="hourly")
