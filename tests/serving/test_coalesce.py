"""Requests ready at the same moment share one predict call, and each is answered, counted
and logged as if it had been alone: same predictions, its own ids, its own error."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import numpy as np
import pytest

from shipyard.errors import InvalidInput
from shipyard.serving import Deployment
from shipyard.serving.app import create_app
from shipyard.serving.coalesce import MAX_ROWS, Coalescer
from shipyard.serving.fastpath import row_independent
from shipyard.serving.service import PredictionService
from tests.serving.conftest import records


class Recorder:
    """A model stand-in: predicts the row sums, remembers the sizes of its calls."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, model: Any, matrix: Any) -> Any:
        self.calls.append(len(matrix))
        if np.isnan(matrix).any():
            raise InvalidInput("no NaN, please")
        return matrix.sum(axis=1)


def gather(coalescer: Coalescer, model: Any, matrices: list[Any]) -> list[Any]:
    async def run() -> list[Any]:
        tasks = [coalescer.predict(model, m) for m in matrices]
        return await asyncio.gather(*tasks, return_exceptions=True)

    return asyncio.run(run())


def test_ready_requests_share_one_call_and_get_their_own_rows():
    run = Recorder()
    matrices = [np.full((n, 2), float(i)) for i, n in enumerate([1, 3, 1, 2])]
    got = gather(Coalescer(run), "m", matrices)
    assert run.calls == [7]
    assert [g.tolist() for g in got] == [[0.0], [2.0, 2.0, 2.0], [4.0], [6.0, 6.0]]


def test_a_lone_request_is_predicted_alone_and_models_never_mix():
    run = Recorder()
    assert gather(Coalescer(run), "m", [np.ones((1, 2))])[0].tolist() == [2.0]
    assert run.calls == [1]

    calls: list[tuple[str, int]] = []

    def per_model(model: str, matrix: Any) -> Any:
        calls.append((model, len(matrix)))
        return matrix[:, 0] * (10 if model == "a" else 100)

    coalescer = Coalescer(per_model)

    async def both() -> list[Any]:
        one = np.ones((1, 1))
        return await asyncio.gather(
            coalescer.predict("a", one), coalescer.predict("b", one), coalescer.predict("a", one)
        )

    assert [g.tolist() for g in asyncio.run(both())] == [[10.0], [100.0], [10.0]]
    assert sorted(calls) == [("a", 2), ("b", 1)]


def test_a_failing_shared_call_answers_each_request_on_its_own():
    run = Recorder()
    bad = np.array([[1.0, math.nan]])
    got = gather(Coalescer(run), "m", [np.ones((1, 2)), bad, np.ones((2, 2))])
    assert got[0].tolist() == [2.0] and got[2].tolist() == [2.0, 2.0]
    assert isinstance(got[1], InvalidInput) and "no NaN" in got[1].message
    assert run.calls == [4, 1, 1, 2]


def test_a_shared_call_holds_at_most_max_rows():
    run = Recorder()
    gather(Coalescer(run), "m", [np.ones((16, 1))] * 9)  # 144 rows
    assert run.calls == [MAX_ROWS, MAX_ROWS, 16]


def test_only_a_model_that_answers_each_row_as_alone_shares():
    class BatchMean:  # predictions depend on the other rows of the call
        def predict(self, x: Any) -> Any:
            return x[:, 0] - x[:, 0].mean()

    class RowSum:
        def predict(self, x: Any) -> Any:
            return x.sum(axis=1)

    signature = {"inputs": [{"name": "a", "type": "double"}, {"name": "b", "type": "long"}]}
    assert row_independent(RowSum(), ["b", "a"], signature)
    assert not row_independent(BatchMean(), ["a", "b"], signature)


@pytest.fixture
def app(shipyard_client, numeric_model):
    service = PredictionService(Deployment.from_flags("score@production"), client=shipyard_client)
    assert service.slots[0].current.coalesce
    return create_app(service)


async def post(app: Any, path: str, body: bytes) -> tuple[int, Any]:
    import orjson

    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
    }
    await app(scope, receive, send)
    return sent[0]["status"], orjson.loads(sent[1]["body"])


def test_concurrent_requests_answer_count_and_log_as_if_alone(
    app, shipyard_client, numeric_model, customers
):
    import orjson

    service = app.state.service
    calls: list[int] = []
    run = service.coalescer.run
    service.coalescer.run = lambda model, matrix: calls.append(len(matrix)) or run(model, matrix)
    rows = customers[["age", "spend"]].head(6)
    bodies = [orjson.dumps({"records": records(rows.iloc[i : i + 1])}) for i in range(5)]
    bodies.append(orjson.dumps({"record": {"age": 30, "spend": None}}))  # NaN: the model refuses

    async def together() -> list[tuple[int, Any]]:
        async with app.router.lifespan_context(app):
            return await asyncio.gather(*[post(app, "/predict", b) for b in bodies])

    answers = asyncio.run(together())
    assert calls == [6, 1, 1, 1, 1, 1, 1]  # shared, failed on the NaN row, then each alone
    expected = numeric_model.predict(rows.head(5)).tolist()
    assert [a[1]["predictions"][0] for a in answers[:5]] == expected
    assert [a[0] for a in answers] == [200] * 5 + [422]
    assert "could not predict" in answers[5][1]["error"]["message"]
    ids = [a[1]["prediction_ids"][0] for a in answers[:5]]
    assert len(set(ids)) == 5 and len({i[:26] for i in ids}) == 5  # a call id each

    logged = shipyard_client.store.predictions.query("score", limit=100)
    assert sorted(p.id for p in logged if p.error is None) == sorted(ids)
    assert sum(p.error is not None for p in logged) == 1
    text = service.metrics.render()[0].decode()
    assert 'shipyard_predictions_total{model="score",variant="production",version="1"} 5.0' in text


def test_methods_other_than_predict_and_large_requests_do_not_wait(app, customers):
    import orjson

    service = app.state.service
    calls: list[int] = []
    service.coalescer.run = lambda model, matrix: calls.append(len(matrix))
    rows = records(customers[["age", "spend"]].head(40))
    bodies = [
        orjson.dumps({"records": rows[:1], "method": "predict_proba"}),
        orjson.dumps({"records": rows}),  # more than MAX_REQUEST_ROWS
    ]

    async def together() -> list[tuple[int, Any]]:
        return await asyncio.gather(*[post(app, "/predict", b) for b in bodies])

    assert [status for status, _ in asyncio.run(together())] == [200, 200]
    assert calls == []
