"""Every prediction is logged off the request path with its id, inputs, output, model
version and variant; ground truth attaches later, all or nothing."""

from __future__ import annotations

import time

import pytest

import shipyard.serving
from shipyard.errors import InvalidArgument, NotFound
from shipyard.serving.predlog import LoggedBatch, PredictionLogger, new_ids
from tests.serving.conftest import records


def test_predictions_are_logged_with_what_a_monitor_needs(
    serve, churn_model, customers, shipyard_client
):
    server = serve("churn@production")
    rows = records(customers.head(3))
    body = server.post("/predict", {"records": rows}).json()
    server.service.logger.flush()
    logged = shipyard_client.store.predictions.get(body["prediction_ids"])
    assert [p.id for p in logged] == body["prediction_ids"]
    for p, row, output in zip(logged, rows, body["predictions"], strict=True):
        assert (p.model, p.version, p.variant, p.shadow) == ("churn", 1, "production", False)
        assert p.inputs == row and p.output == output and p.features is None
        assert p.latency_ms > 0 and p.label is None
    by_time = shipyard_client.store.predictions.query("churn")
    assert [p.id for p in by_time] == sorted(body["prediction_ids"])  # ids sort by time
    assert shipyard_client.store.predictions.last_prediction_ms()["churn"] == logged[0].ts_ms


def test_log_labels_attaches_ground_truth_all_or_nothing(
    serve, churn_model, customers, shipyard_client
):
    server = serve("churn@production")
    ids = server.post("/predict", {"records": records(customers.head(4))}).json()["prediction_ids"]
    server.service.logger.flush()
    store = shipyard_client.store.predictions
    unknown = "0" * 32
    with pytest.raises(NotFound, match="1 of 2 prediction ids are not in the prediction log"):
        shipyard.serving.log_labels([ids[0], unknown], [1, 0])
    assert store.query("churn", labelled=True) == []  # nothing was attached
    with pytest.raises(InvalidArgument, match="2 prediction ids but 1 labels"):
        shipyard.serving.log_labels(ids[:2], [1])
    with pytest.raises(InvalidArgument, match="is not a prediction id"):
        shipyard.serving.log_labels(["abc"], [1])
    assert shipyard.serving.log_labels(ids[:3], [1, 0, {"refund": True}]) == 3
    labelled = {p.id: p.label for p in store.query("churn", labelled=True)}
    assert labelled == {ids[0]: 1, ids[1]: 0, ids[2]: {"refund": True}}
    assert [p.id for p in store.query("churn", labelled=False)] == [ids[3]]


def test_no_log_logs_nothing(serve, churn_model, customers, shipyard_client):
    server = serve("churn@production", log_predictions=False)
    body = server.post("/predict", {"records": records(customers.head(2))}).json()
    assert len(body["prediction_ids"]) == 2  # ids are still returned
    assert server.http.get("/").json()["logging"] is False
    assert shipyard_client.store.predictions.query("churn") == []


def test_the_logger_flushes_in_the_background_and_keeps_rows_when_the_store_fails(
    shipyard_client,
):
    class FlakyStore:
        def __init__(self, real):
            self.real, self.fail = real, True

        def append(self, records):
            if self.fail:
                raise ConnectionError("database is down")
            self.real.append(records)

    store = FlakyStore(shipyard_client.store.predictions)
    logger = PredictionLogger(store, interval=0.05)
    ids = new_ids(2, 1_700_000_000_000)
    batch = LoggedBatch(
        ids, 1_700_000_000_000, "m", 1, "main", False, 1.0, {"x": [1, 2]}, None, [0.5, 0.7]
    )
    logger.log(batch)
    with pytest.raises(ConnectionError):
        logger.flush()
    store.fail = False
    logger.start()
    logger.close()  # the rows kept after the failure are written by the final flush
    logged = {p.id: (p.inputs, p.output) for p in shipyard_client.store.predictions.query("m")}
    assert logged == {ids[0]: ({"x": 1}, 0.5), ids[1]: ({"x": 2}, 0.7)}


def test_single_rows_and_batches_are_buffered_and_written_alike(shipyard_client):
    logger = PredictionLogger(shipyard_client.store.predictions, interval=60)
    one = LoggedBatch(new_ids(1, 5), 5, "m", 1, "a", False, 1.0, {"x": [1]}, {"f": [0.5]}, [1])
    many = LoggedBatch(
        new_ids(3, 6),
        6,
        "m",
        2,
        "b",
        True,
        2.0,
        {"x": [2, 3, 4]},
        {"f": [0.1, None, 0.3]},
        [[0, 1], [1, 0], [0.5, 0.5]],
    )
    logger.log(one)
    logger.log(many)
    assert logger.flush() == 4 and logger.flush() == 0
    got = {p.id: p for p in shipyard_client.store.predictions.query("m")}
    assert len(got) == 4
    first = got[one.ids[0]]
    assert (first.inputs, first.features, first.output, first.version) == (
        {"x": 1},
        {"f": 0.5},
        1,
        1,
    )
    rows = [got[i] for i in many.ids]
    assert [(p.inputs["x"], p.features["f"], p.output) for p in rows] == [
        (2, 0.1, [0, 1]),
        (3, None, [1, 0]),
        (4, 0.3, [0.5, 0.5]),
    ]
    assert {(p.variant, p.shadow, p.latency_ms) for p in rows} == {("b", True, 2.0)}


def test_the_flusher_seals_finished_hours_into_segments(shipyard_client):
    """Given a blob store, the logger writes the Parquet segments of the hours that ended
    (here: long ago) for the models it logged, off the request path."""
    from shipyard.monitoring import read_window

    store = shipyard_client.store.predictions
    logger = PredictionLogger(store, interval=60, blobs=shipyard_client.blobs)
    hour = 3_600_000
    first = (time.time_ns() // 1_000_000 // hour - 5) * hour  # hours that ended recently
    for k in range(3):
        ts = first + k * hour
        logger.log(
            LoggedBatch(new_ids(2, ts), ts, "m", 1, "a", False, 1.0, {"x": [k, k]}, None, [k, k])
        )
    before = read_window("m", client=shipyard_client)
    logger.start()
    logger.close()  # flushes, then seals
    assert [s.calls for s in store.list_segments("m")] == [1, 1, 1]
    after = read_window("m", client=shipyard_client)
    assert len(before) == 0 and after["x"].tolist() == [0, 0, 1, 1, 2, 2]
    assert PredictionLogger(store, interval=60).seal() == 0  # no blob store: no segments


def test_a_flush_of_many_calls_writes_every_one(shipyard_client):
    """The store inserts many calls per statement: none lost at the statement boundaries."""
    logger = PredictionLogger(shipyard_client.store.predictions, interval=60)
    batches = [
        LoggedBatch(new_ids(1 + i % 3, 10 + i), 10 + i, "m", 1, "a", False, 1.0,
                    {"x": [i] * (1 + i % 3)}, None, [i] * (1 + i % 3))
        for i in range(250)
    ]  # fmt: skip
    for batch in batches:
        logger.log(batch)
    assert logger.flush() == sum(len(b.ids) for b in batches)
    got = {p.id: p.output for p in shipyard_client.store.predictions.query("m", limit=10_000)}
    assert got == {pid: i for i, b in enumerate(batches) for pid in b.ids}


def test_large_calls_reach_the_store_in_groups_and_a_failure_keeps_only_the_rest(
    shipyard_client, monkeypatch
):
    """Each store.append carries at most APPEND_BYTES of JSON (a larger call alone), so the
    store never binds one huge statement while it holds the GIL; when a group fails, the
    groups written stay written and only the rest is kept for the next flush."""
    from shipyard.serving import predlog

    monkeypatch.setattr(predlog, "APPEND_BYTES", 1_000)
    real = shipyard_client.store.predictions

    class CountingStore:
        def __init__(self):
            self.sizes, self.fail_at = [], None

        def append(self, calls):
            if self.fail_at is not None and len(self.sizes) == self.fail_at:
                self.fail_at = None
                raise ConnectionError("database is down")
            self.sizes.append(len(calls))
            real.append(calls)

    store = CountingStore()
    logger = PredictionLogger(store, interval=60)
    big = [  # ~1,200 bytes of JSON each: one per append
        LoggedBatch(new_ids(100, 20 + i), 20 + i, "m", 1, "a", False, 1.0,
                    {"x": [1234567.5 + i] * 100}, None, [i] * 100)
        for i in range(3)
    ]  # fmt: skip
    small = [
        LoggedBatch(new_ids(1, 30 + i), 30 + i, "m", 1, "a", False, 1.0, {"x": [i]}, None, [i])
        for i in range(20)
    ]
    for batch in big:
        logger.log(batch)
    logger.log_failure(
        model="m", version=1, variant="", shadow=False, ts_ms=40, latency_ms=1.0,
        inputs=None, error="400: bad",
    )  # fmt: skip
    for batch in small:
        logger.log(batch)
    store.fail_at = 2  # the third group (the last big call) fails
    with pytest.raises(ConnectionError):
        logger.flush()
    assert store.sizes == [1, 1]
    assert logger.flush() == 100 + 1 + 20  # the rest: one big call, the failure, 20 small
    assert store.sizes == [1, 1, 1, 21]
    got = {p.id: p.output for p in real.query("m", limit=10_000) if p.error is None}
    assert got == {pid: b.outputs[0] for b in [*big, *small] for pid in b.ids}
