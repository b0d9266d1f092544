"""Every endpoint of a real server: native, MLflow /invocations, Open Inference v2, health,
readiness and metrics; answers equal the model's own predictions."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.serving.conftest import records

ID = re.compile(r"^[0-9a-f]{32}$")


def test_native_predict_takes_records_columns_and_one_record(serve, churn_model, customers):
    server = serve("churn@production")
    rows = customers.head(20)
    expected = churn_model.predict(rows).tolist()

    by_records = server.post("/predict", {"records": records(rows)})
    assert by_records.status_code == 200, by_records.text
    body = by_records.json()
    assert body["predictions"] == expected
    assert (body["model"], body["version"], body["variant"]) == ("churn", 1, "production")
    assert len(body["prediction_ids"]) == 20 and len(set(body["prediction_ids"])) == 20
    assert all(ID.match(i) for i in body["prediction_ids"])

    columns = {
        name: values
        for name, values in zip(
            rows.columns, zip(*[list(r.values()) for r in records(rows)], strict=True), strict=True
        )
    }
    by_columns = server.post("/predict", {"columns": {k: list(v) for k, v in columns.items()}})
    assert by_columns.json()["predictions"] == expected
    one = server.post("/predict", {"record": records(rows)[0]})
    assert one.json()["predictions"] == expected[:1]


def test_predict_proba_on_request(serve, numeric_model, customers):
    server = serve("score@production")
    rows = customers[["age", "spend"]].head(5)
    body = server.post("/predict", {"records": records(rows), "method": "predict_proba"}).json()
    np.testing.assert_allclose(body["predictions"], numeric_model.predict_proba(rows))
    bad = server.post("/predict", {"records": records(rows), "method": "fit"})
    assert bad.status_code == 422 and "method must be one of" in bad.json()["error"]["message"]


def test_the_numeric_fast_path_answers_like_the_model(serve, numeric_model, customers):
    server = serve("score@production")
    assert server.service.slots[0].current.matrix_order == ["age", "spend"]
    rows = customers[["spend", "age"]].head(50)  # column order of the request does not matter
    body = server.post("/predict", {"records": records(rows)}).json()
    assert body["predictions"] == numeric_model.predict(rows[["age", "spend"]]).tolist()


def test_mlflow_invocations_payloads(serve, churn_model, customers):
    server = serve("churn@production")
    rows = customers.head(8)
    expected = churn_model.predict(rows).tolist()
    split = {"columns": list(rows.columns), "data": [list(r.values()) for r in records(rows)]}
    payloads = [
        {"dataframe_split": split},
        {"dataframe_records": records(rows)},
        {"inputs": {c: [r[c] for r in records(rows)] for c in rows.columns}},
        {"instances": records(rows)},
        {"inputs": split["data"]},  # rows in signature order
    ]
    for payload in payloads:
        response = server.post("/invocations", payload)
        assert response.status_code == 200, (payload.keys(), response.text)
        assert response.json()["predictions"] == expected
        assert len(response.json()["prediction_ids"]) == 8
    csv = rows.to_csv(index=False)
    response = server.post("/invocations", content=csv, headers={"content-type": "text/csv"})
    assert response.json()["predictions"] == expected
    assert server.http.get("/ping").status_code == 200
    assert server.http.get("/version").text


def test_open_inference_v2(serve, numeric_model, churn_model, customers):
    server = serve("churn@production")
    rows = customers.head(3)
    expected = churn_model.predict(rows).tolist()
    tensors = {
        "id": "req-1",
        "inputs": [
            {"name": "age", "shape": [3], "datatype": "INT64", "data": rows["age"].tolist()},
            {"name": "spend", "shape": [3, 1], "datatype": "FP64", "data": rows["spend"].tolist()},
            {"name": "plan", "shape": [3], "datatype": "BYTES", "data": rows["plan"].tolist()},
        ],
    }
    for path in ("/v2/models/churn/infer", "/v2/models/churn/versions/1/infer"):
        body = server.post(path, tensors).json()
        assert body["model_name"] == "churn" and body["model_version"] == "1"
        assert body["id"] == "req-1"
        (out,) = body["outputs"]
        assert out["shape"] == [3] and out["datatype"] == "INT64" and out["data"] == expected
        assert len(body["parameters"]["prediction_ids"]) == 3
    meta = server.http.get("/v2/models/churn").json()
    assert meta["versions"] == ["1"]
    assert [i["name"] for i in meta["inputs"]] == ["age", "spend", "plan"]
    assert [i["datatype"] for i in meta["inputs"]] == ["INT64", "FP64", "BYTES"]
    assert server.http.get("/v2/models/churn/ready").json()["ready"] is True
    assert server.http.get("/v2/health/ready").status_code == 200
    assert server.http.get("/v2").json()["name"] == "shipyard"
    assert server.http.get("/v2/models/fraud").status_code == 404
    assert server.post("/v2/models/churn/versions/7/infer", tensors).status_code == 404

    score = serve("score@production")
    numeric = customers[["age", "spend"]].head(4)
    matrix = {
        "inputs": [
            {
                "name": "x",
                "shape": [4, 2],
                "datatype": "FP64",
                "data": numeric.to_numpy(float).reshape(-1).tolist(),
            }
        ]
    }
    body = score.post("/v2/models/score/infer", matrix).json()
    assert body["outputs"][0]["data"] == numeric_model.predict(numeric).tolist()


def test_health_ready_info_and_metrics(serve, churn_model, customers):
    server = serve("churn@production")
    assert server.http.get("/health").json() == {"status": "ok"}
    ready = server.http.get("/ready").json()
    assert ready["ready"] is True
    (variant,) = ready["variants"]
    assert (variant["model"], variant["version"], variant["follows"]) == (
        "churn",
        1,
        "models:/churn@production",
    )
    for _ in range(3):
        server.post("/predict", {"records": records(customers.head(2))})
    server.post("/predict", {"records": [{"age": "old"}]})
    text = server.http.get("/metrics").text
    labels = 'model="churn",variant="production",version="1"'
    assert f"shipyard_predictions_total{{{labels}}} 6.0" in text
    assert f"shipyard_prediction_latency_seconds_count{{{labels}}} 3.0" in text
    assert 'shipyard_requests_total{endpoint="predict",status="200"} 3.0' in text
    assert 'shipyard_requests_total{endpoint="predict",status="422"} 1.0' in text
    assert 'shipyard_serving_version{model="churn",variant="production"} 1.0' in text
    assert server.http.get("/openapi.json").status_code == 200


@pytest.mark.parametrize("path", ["/predict", "/invocations", "/v2/models/churn/infer"])
def test_every_protocol_validates_against_the_signature(serve, churn_model, path):
    server = serve("churn@production")
    wrong_type = {"age": 30, "spend": "a lot", "plan": "pro"}
    payload = {
        "/predict": {"records": [wrong_type]},
        "/invocations": {"dataframe_records": [wrong_type]},
        "/v2/models/churn/infer": {
            "inputs": [
                {"name": k, "shape": [1], "datatype": "BYTES", "data": [v]}
                for k, v in wrong_type.items()
            ]
        },
    }[path]
    response = server.post(path, payload)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "INVALID_INPUT" and error["field"] == "spend"
    assert "must be a number" in error["message"]


def test_a_built_folder_is_served_without_the_store(
    serve, churn_model, customers, tmp_path, monkeypatch, shipyard_client
):
    from shipyard.registry import ModelRegistry, build_model
    from shipyard.registry import build as build_module

    monkeypatch.setattr(
        build_module,
        "shipyard_source",  # no wheel build: fast
        lambda wheels: build_module.ShipyardSource("shipyard==9"),
    )
    folder = build_model(ModelRegistry(shipyard_client), "churn@production", tmp_path / "b")
    server = serve(str(folder))
    rows = customers.head(4)
    body = server.post("/predict", {"records": records(rows)}).json()
    assert body["predictions"] == churn_model.predict(rows).tolist()
    assert (body["model"], body["version"]) == ("churn", 1)
