"""The prediction log contract on every metadata backend (SQLite, PostgreSQL): model calls
appended in batches, read back one record per prediction, time-ordered, with filters;
labels attach all or nothing."""

from __future__ import annotations

import math

import pytest

from shipyard.errors import InvalidArgument
from shipyard.store.base import PredictionCall
from tests.conftest import open_store


@pytest.fixture
def store(store_uri):
    store = open_store(store_uri)
    yield store
    store.close()


def call(ts: int, n: int = 0, rows: int = 1, **kw) -> PredictionCall:
    values = {
        "model": "churn",
        "version": 1,
        "variant": "main",
        "shadow": False,
        "latency_ms": 0.5,
        "rows": rows,
        "inputs": {"age": [30 + i for i in range(rows)], "plan": ["pro"] * rows},
        "outputs": [0.25] * rows,
    }
    return PredictionCall(id=f"{ts:012x}{n:014x}", ts_ms=ts, **{**values, **kw})


def ids(store, model="churn", **kw):
    return [p.id for p in store.predictions.query(model, **kw)]


def test_calls_read_back_one_record_per_prediction(store):
    log = store.predictions
    log.append([call(100, 1, rows=3, features={"spend": [1.0, None, 3.0]}, outputs=[1, 0, 1])])
    first, second, third = log.query("churn")
    assert first.id == f"{100:012x}{1:014x}000000" and third.id.endswith("000002")
    assert (second.inputs, second.features, second.output) == (
        {"age": 31, "plan": "pro"},
        {"spend": None},
        0,
    )
    assert {(p.model, p.version, p.variant, p.shadow, p.ts_ms) for p in (first, third)} == {
        ("churn", 1, "main", False, 100)
    }


def test_append_and_query_by_model_version_time_and_shadow(store):
    log = store.predictions
    log.append([call(100, 1), call(200, 2, version=2), call(300, 3, shadow=True, variant="next")])
    log.append([call(150, 4, model="fraud", outputs=[[0.1, 0.9]])])
    log.append([])
    assert [p.ts_ms for p in log.query("churn")] == [100, 200, 300]
    assert [p.ts_ms for p in log.query("churn", version=2)] == [200]
    assert [p.ts_ms for p in log.query("churn", start_ms=150, end_ms=300)] == [200]
    assert [p.variant for p in log.query("churn", shadow=True)] == ["next"]
    assert len(log.query("churn", limit=2)) == 2
    (fraud,) = log.query("fraud")
    assert fraud.output == [0.1, 0.9] and fraud.inputs == {"age": 30, "plan": "pro"}
    assert log.last_prediction_ms() == {"churn": 300, "fraud": 150}
    with pytest.raises(InvalidArgument, match="26 hex digits"):
        log.append([PredictionCall("abc", "m", 1, "v", False, 1, 1.0, 1, {}, [1])])


def test_values_round_trip_as_json_and_nan_becomes_null(store):
    store.predictions.append(
        [
            call(
                1,
                inputs={"x": [math.nan], "tags": [["a"]]},
                features={"spend": [1.5]},
                outputs=[{"label": "yes"}],
            )
        ]
    )
    (p,) = store.predictions.query("churn")
    assert p.inputs == {"x": None, "tags": ["a"]}
    assert p.features == {"spend": 1.5} and p.output == {"label": "yes"}


def test_labels_attach_all_or_nothing(store):
    log = store.predictions
    log.append([call(10, 1, rows=2), call(20, 2)])
    one, two, three = ids(store)
    beyond = one[:26] + "000002"  # row 2 of a 2-row call does not exist
    for bad in ([(one, 1), ("f" * 32, 0)], [(one, 1), (beyond, 0)], [("not-an-id", 1)]):
        assert log.attach_labels(bad, now_ms=50) == [pid for pid, _ in bad if pid != one]
    assert log.query("churn", labelled=True) == []
    assert log.attach_labels([(one, 1), (three, {"refund": True}), (one, 0)], now_ms=60) == []
    labelled = {p.id: (p.label, p.labelled_ms) for p in log.query("churn", labelled=True)}
    assert labelled == {one: (0, 60), three: ({"refund": True}, 60)}  # the last label wins
    assert ids(store, labelled=False) == [two]
    assert log.attach_labels([(two, 1)], now_ms=70) == []
    assert log.attach_labels([(two, 0)], now_ms=80) == []  # relabelled
    assert [(p.id, p.label, p.labelled_ms) for p in log.get([two, "0" * 32, one])] == [
        (two, 0, 80),
        (one, 0, 60),
    ]


def test_gone_owners(store):
    store.models.mark_owner_gone("ana", True, "bob", 5)
    assert store.models.gone_owners() == {"ana": ("bob", 5)}
    store.models.mark_owner_gone("ana", True, "cy", 6)  # marking again updates who and when
    assert store.models.gone_owners() == {"ana": ("cy", 6)}
    store.models.mark_owner_gone("ana", False, "cy", 7)
    assert store.models.gone_owners() == {}
