"""The prediction log contract on every metadata backend (SQLite, PostgreSQL): appends in
batches, time-ordered queries with filters, all-or-nothing labels."""

from __future__ import annotations

import math

import pytest

from shipyard.store.base import PredictionRecord
from shipyard.store.sql import SqlTrackingStore


@pytest.fixture
def store(store_uri):
    store = SqlTrackingStore(store_uri)
    yield store
    store.close()


def record(ts: int, n: int = 0, **kw) -> PredictionRecord:
    values = {
        "model": "churn",
        "version": 1,
        "variant": "main",
        "shadow": False,
        "latency_ms": 0.5,
        "inputs": {"age": 30, "plan": "pro"},
        "output": 0.25,
    }
    return PredictionRecord(id=f"{ts:012x}{n:020x}", ts_ms=ts, **{**values, **kw})


def test_append_and_query_by_model_version_time_and_shadow(store):
    log = store.predictions
    log.append(
        [record(100, 1), record(200, 2, version=2), record(300, 3, shadow=True, variant="next")]
    )
    log.append([record(150, 4, model="fraud", output=[0.1, 0.9])])
    log.append([])
    assert [p.ts_ms for p in log.query("churn")] == [100, 200, 300]
    assert [p.ts_ms for p in log.query("churn", version=2)] == [200]
    assert [p.ts_ms for p in log.query("churn", start_ms=150, end_ms=300)] == [200]
    assert [p.variant for p in log.query("churn", shadow=True)] == ["next"]
    assert len(log.query("churn", limit=2)) == 2
    (fraud,) = log.query("fraud")
    assert fraud.output == [0.1, 0.9] and fraud.inputs == {"age": 30, "plan": "pro"}
    assert log.last_prediction_ms() == {"churn": 300, "fraud": 150}


def test_values_round_trip_as_json_and_nan_becomes_null(store):
    store.predictions.append(
        [
            record(
                1,
                inputs={"x": math.nan, "tags": ["a"]},
                features={"spend": 1.5},
                output={"label": "yes"},
            )
        ]
    )
    (p,) = store.predictions.query("churn")
    assert p.inputs == {"x": None, "tags": ["a"]}
    assert p.features == {"spend": 1.5} and p.output == {"label": "yes"}


def test_labels_attach_all_or_nothing(store):
    log = store.predictions
    log.append([record(10, 1), record(20, 2)])
    one, two = (p.id for p in log.query("churn"))
    assert log.attach_labels([(one, 1), ("f" * 32, 0)], now_ms=50) == ["f" * 32]
    assert log.query("churn", labelled=True) == []
    assert log.attach_labels([(one, 1), (two, {"refund": True}), (one, 0)], now_ms=60) == []
    labelled = {p.id: (p.label, p.labelled_ms) for p in log.query("churn", labelled=True)}
    assert labelled == {one: (0, 60), two: ({"refund": True}, 60)}  # the last label wins
    assert [p.id for p in log.get([two, "0" * 32, one])] == [two, one]


def test_gone_owners(store):
    store.models.mark_owner_gone("ana", True, "bob", 5)
    assert store.models.gone_owners() == {"ana": ("bob", 5)}
    store.models.mark_owner_gone("ana", True, "cy", 6)  # marking again updates who and when
    assert store.models.gone_owners() == {"ana": ("cy", 6)}
    store.models.mark_owner_gone("ana", False, "cy", 7)
    assert store.models.gone_owners() == {}
