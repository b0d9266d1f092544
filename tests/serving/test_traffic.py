"""Traffic splits with sticky assignment, shadows that never touch responses, per-variant
metrics, and alias moves swapped in without dropping a request."""

from __future__ import annotations

import threading
import time

import pytest
from sklearn.dummy import DummyClassifier

import shipyard
from shipyard.errors import InvalidArgument
from shipyard.serving import Deployment
from shipyard.serving.routing import Router
from tests.serving.conftest import records


def constant(value: int, customers):
    X = customers[["age", "spend"]]
    return DummyClassifier(strategy="constant", constant=value).fit(X, [0, 1] * (len(X) // 2))


@pytest.fixture
def two_versions(shipyard_client, customers):
    """score v1 always says 0, v2 always says 1; production -> v1, staging -> v2."""
    for value in (0, 1):
        shipyard.register_model("score", constant(value, customers),
                                input_example=customers[["age", "spend"]].head())  # fmt: skip
    shipyard.set_model_alias("score", "production", 1)
    shipyard.set_model_alias("score", "staging", 2)


def test_router_is_sticky_and_follows_the_weights():
    router = Router([90, 10], "customer_id")
    keys = list(range(20_000))
    groups = dict(router.assign({"customer_id": keys}, len(keys)))
    assert abs(len(groups[1]) / len(keys) - 0.10) < 0.01
    again = dict(router.assign({"customer_id": keys}, len(keys)))
    assert again == groups  # the same key always lands on the same variant
    assert Router([1], None).assign({}, 5) == [(0, None)]


def test_a_split_routes_rows_by_key_and_reports_each_rows_variant(serve, two_versions, customers):
    server = serve("score@production", split=("score/2=30",), sticky_key="customer_id")
    rows = [{"customer_id": i, **r} for i, r in enumerate(records(customers[["age", "spend"]]))]
    body = server.post("/predict", {"records": rows}).json()
    variants, versions = body["variants"], body["versions"]
    assert set(variants) == {"production", "v2"}
    assert 0.2 < variants.count("v2") / len(rows) < 0.4
    assert body["predictions"] == [v - 1 for v in versions]  # v1 says 0, v2 says 1
    again = server.post("/predict", {"records": rows}).json()
    assert again["variants"] == variants
    missing = server.post("/predict", {"records": records(customers[["age", "spend"]].head(1))})
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "customer_id"
    metrics = server.http.get("/metrics").text
    assert 'model="score",variant="v2",version="2"' in metrics
    assert 'model="score",variant="production",version="1"' in metrics


def test_shadows_get_a_copy_without_changing_responses(
    serve, two_versions, customers, shipyard_client
):
    server = serve("score@production", shadow=("score@staging",))
    rows = records(customers[["age", "spend"]].head(5))
    body = server.post("/predict", {"records": rows}).json()
    assert body["predictions"] == [0] * 5 and body["variant"] == "production"
    server.service._shadow_pool.submit(lambda: None).result()  # the shadow call has run
    server.service.logger.flush()
    shadow = shipyard_client.store.predictions.query("score", shadow=True)
    assert [(p.variant, p.version, p.output) for p in shadow] == [("shadow-staging", 2, 1)] * 5
    live = shipyard_client.store.predictions.query("score", shadow=False)
    assert [p.id for p in live] == sorted(body["prediction_ids"])


def test_a_variant_can_be_asked_for_by_name(serve, two_versions, customers):
    server = serve("score@production", split=("score/2=50",))
    rows = records(customers[["age", "spend"]].head(2))
    body = server.post("/predict", {"records": rows, "variant": "v2"}).json()
    assert (body["variant"], body["predictions"]) == ("v2", [1, 1])


def test_a_moved_alias_is_swapped_in_without_dropping_requests(serve, two_versions, customers):
    server = serve("score@production", poll_interval=0.1)
    row = {"record": records(customers[["age", "spend"]].head(1))[0]}
    answers, statuses, stop = [], [], threading.Event()

    def hammer():
        with server.http.__class__(base_url=server.url, timeout=10) as http:
            while not stop.is_set():
                response = http.post("/predict", json=row)
                statuses.append(response.status_code)
                answers.append(response.json().get("version"))

    thread = threading.Thread(target=hammer)
    thread.start()
    time.sleep(0.3)
    shipyard.set_model_alias("score", "production", 2)
    deadline = time.monotonic() + 10
    while (not answers or answers[-1] != 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the request thread did not stop"
    assert set(statuses) == {200}
    assert answers[0] == 1 and answers[-1] == 2
    first_two = answers.index(2)
    assert set(answers[first_two:]) == {2}  # once swapped, never back
    assert 'variant="production"} 2.0' in server.http.get("/metrics").text


def test_deployment_specs_from_yaml_and_their_errors(tmp_path):
    spec = tmp_path / "deploy.yaml"
    spec.write_text(
        "variants:\n"
        "  - {name: champion, model: churn@production, weight: 90}\n"
        "  - {name: challenger, model: models:/churn/4, weight: 10}\n"
        "shadows:\n  - {model: churn@staging}\n"
        "sticky_key: customer_id\n"
    )
    deployment = Deployment.from_yaml(str(spec))
    assert [(v.name, v.model.uri, v.weight) for v in deployment.variants] == [
        ("champion", "models:/churn@production", 90.0),
        ("challenger", "models:/churn/4", 10.0),
    ]
    assert deployment.shadows[0].name == "staging" and deployment.sticky_key == "customer_id"
    assert Deployment.from_dict(deployment.to_dict()) == deployment
    bad = {
        "variants: []\n": "at least one variant",
        "variants:\n  - {model: churn@p, weight: -1}\n": "positive weight",
        "variants:\n  - {model: churn@p}\n  - {model: churn@p}\n": "used twice",
        "variants:\n  - {model: 'not a ref!'}\n": "cannot serve 'not a ref!'",
        "variants:\n  - {model: churn@p}\nweights: 3\n": "unknown key(s) weights",
        "variants: [\n": "cannot read deployment spec",
    }
    for text, message in bad.items():
        spec.write_text(text)
        with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)")):
            Deployment.from_yaml(str(spec))
    with pytest.raises(InvalidArgument, match="must leave some traffic"):
        Deployment.from_flags("churn@production", ("churn/2=60", "churn/3=40"))
    with pytest.raises(InvalidArgument, match="MODEL=PERCENT"):
        Deployment.from_flags("churn@production", ("churn/2",))
