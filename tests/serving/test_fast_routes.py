"""The prediction endpoints are answered as plain ASGI ahead of FastAPI; their FastAPI routes
(for /docs, and for a request the fast table does not take) run the same endpoint and
answer alike, errors, limits and metrics included."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shipyard.serving import Deployment
from shipyard.serving.app import PredictionApp, create_app
from shipyard.serving.asgi import FastRoutes
from shipyard.serving.background import BackgroundServer
from shipyard.serving.service import PredictionService
from tests.serving.conftest import records

RECORD = {"age": 30, "spend": 1.5, "plan": "pro"}


def through_fastapi(app: PredictionApp) -> Any:
    """The app with its fast table skipped: every request takes FastAPI's routes."""

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # the app's own server runs its lifespan
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await FastAPI.__call__(app, scope, receive, send)

    return asgi


@pytest.fixture
def apps(shipyard_client, churn_model):
    service = PredictionService(
        Deployment.from_flags("churn@production"), client=shipyard_client, log_predictions=False
    )
    app = create_app(service, max_body_bytes=4096)
    with (
        BackgroundServer(app) as a,
        BackgroundServer(through_fastapi(app)) as b,
        httpx.Client(base_url=a.url) as fast,
        httpx.Client(base_url=b.url) as slow,
    ):
        yield fast, slow, service


def requests(customers) -> list[tuple[str, Any]]:
    rows = records(customers.head(3))
    split = {"columns": list(rows[0]), "data": [list(r.values()) for r in rows]}
    v2 = {"inputs": [{"name": k, "shape": [1], "data": [v]} for k, v in RECORD.items()]}
    return [
        ("/predict", {"records": rows}),
        ("/predict", {"record": RECORD, "method": "predict_proba"}),
        ("/invocations", {"dataframe_split": split}),
        ("/v2/models/churn/infer", v2),
        ("/v2/models/churn/versions/1/infer", {**v2, "id": "r1"}),
        ("/predict", {"record": {"age": "old", "spend": 1.5, "plan": "pro"}}),  # 422
        ("/v2/models/other/infer", v2),  # 404
        ("/v2/models/churn/versions/9/infer", v2),  # 404
        ("/predict", {"records": [RECORD] * 200}),  # 413: past 4,096 bytes
    ]


def comparable(body: dict[str, Any]) -> dict[str, Any]:
    """The answer without what differs on every call (prediction ids)."""
    body = dict(body)
    body.pop("prediction_ids", None)
    if "parameters" in body:
        body["parameters"] = {k: v for k, v in body["parameters"].items() if k != "prediction_ids"}
    return body


def test_the_fast_table_and_fastapi_answer_alike(apps, customers):
    fast, slow, _ = apps
    for path, body in requests(customers):
        a, b = fast.post(path, json=body), slow.post(path, json=body)
        assert (a.status_code, comparable(a.json())) == (b.status_code, comparable(b.json()))
        assert a.headers["content-type"] == b.headers["content-type"] == "application/json"
        assert a.status_code != 500, a.text
    statuses = [fast.post(p, json=b).status_code for p, b in requests(customers)]
    assert statuses == [200, 200, 200, 200, 200, 422, 404, 404, 413]


def test_csv_and_bad_json_through_the_fast_table(apps):
    fast, _, _ = apps
    csv = fast.post("/invocations", content=b"age,spend,plan\n30,1.5,pro\n", headers={
        "content-type": "text/csv; charset=utf-8"
    })  # fmt: skip
    assert csv.status_code == 200 and len(csv.json()["predictions"]) == 1
    bad = fast.post("/invocations", content=b"{nope", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]["message"]


def test_every_request_is_counted_once_whichever_way_it_came(apps):
    fast, slow, _ = apps
    fast.post("/predict", json={"record": RECORD})
    slow.post("/predict", json={"record": RECORD})
    fast.post("/predict", json={"records": []})
    text = fast.get("/metrics").text
    assert re.search(r'^shipyard_requests_total{endpoint="predict",status="200"} 2.0$', text, re.M)
    assert re.search(r'^shipyard_requests_total{endpoint="predict",status="422"} 1.0$', text, re.M)
    assert 'shipyard_request_latency_seconds_count{endpoint="predict"} 3.0' in text


def test_get_on_a_prediction_path_and_the_docs_still_go_through_fastapi(apps):
    fast, _, _ = apps
    assert fast.get("/predict").status_code == 405
    assert fast.get("/predict").json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    paths = fast.get("/openapi.json").json()["paths"]
    for path in ("/predict", "/invocations", "/v2/models/{name}/infer"):
        assert "post" in paths[path]


@pytest.mark.parametrize(
    ("path", "root", "expected"),
    [
        ("/predict", "", ("predict", {})),
        ("/invocations", "", ("invocations", {})),
        ("/api/predict", "/api", ("predict", {})),
        ("/v2/models/churn/infer", "", ("v2", {"name": "churn"})),
        ("/v2/models/churn/versions/3/infer", "", ("v2", {"name": "churn", "version": "3"})),
        ("/predict/", "", None),
        ("/api/predict", "", None),
        ("/v2/models//infer", "", None),
        ("/v2/models/churn/3/infer", "", None),
        ("/v2/models/churn/versions//infer", "", None),
        ("/v2/models/churn", "", None),
    ],
)
def test_which_paths_the_fast_table_takes(path, root, expected):
    routes = FastRoutes()
    routes.exact = {"/predict": "predict", "/invocations": "invocations"}  # type: ignore[dict-item]
    routes.v2 = "v2"  # type: ignore[assignment]
    assert routes.match({"path": path, "root_path": root}) == expected


def test_background_threads_hold_the_gil_briefly_while_serving(shipyard_client, churn_model):
    """A request waits at most the switch interval for a thread that holds the GIL (the
    log's flusher, the alias watcher); Python's default, 5 ms, is back once serving ends."""
    import sys

    from shipyard.serving.app import SWITCH_INTERVAL_S

    def app():
        spec = Deployment.from_flags("churn@production")
        return create_app(PredictionService(spec, client=shipyard_client, log_predictions=False))

    before = sys.getswitchinterval()
    short = min(before, SWITCH_INTERVAL_S)
    with BackgroundServer(app()):
        assert sys.getswitchinterval() == short
        with BackgroundServer(app()):
            assert sys.getswitchinterval() == short
        assert sys.getswitchinterval() == short  # one server still runs
    assert sys.getswitchinterval() == before


def test_young_collections_are_rarer_while_serving(shipyard_client, churn_model):
    """A large request's row lists do not trigger young-generation collections while a
    server runs (threshold at least GC_YOUNG_THRESHOLD); the thresholds before come back
    once the last server of the process stops."""
    import gc

    from shipyard.serving.app import GC_YOUNG_THRESHOLD

    def app():
        spec = Deployment.from_flags("churn@production")
        return create_app(PredictionService(spec, client=shipyard_client, log_predictions=False))

    before = gc.get_threshold()
    with BackgroundServer(app()):
        assert gc.get_threshold() == (max(before[0], GC_YOUNG_THRESHOLD), *before[1:])
        with BackgroundServer(app()):
            assert gc.get_threshold()[0] >= GC_YOUNG_THRESHOLD
        assert gc.get_threshold()[0] >= GC_YOUNG_THRESHOLD  # one server still runs
    assert gc.get_threshold() == before
