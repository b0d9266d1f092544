"""Metric histories for charts: one series downsampled on request (``max_points``, ``x``)
and the histories of several runs in one request (the comparison page)."""

from __future__ import annotations

import math

import pytest

from tests.server._inprocess import TestClient, inprocess_api  # noqa: F401  (fixture: api)


@pytest.fixture
def runs(api: TestClient) -> list[str]:
    ids = []
    for n in range(3):
        run_id = api.post("/api/v1/runs", json={"project": "p"}).json()["id"]
        points = [
            {"key": "loss", "value": 1.0 / (i + 1), "step": i, "timestamp_ms": 10_000 - i}
            for i in range(1_000)
        ]
        points[500]["value"] = 50.0  # a spike that a chart must show
        points[700]["value"] = "NaN"
        points.append({"key": "acc", "value": "Infinity", "step": 0, "timestamp_ms": 1})
        logged = api.post(f"/api/v1/runs/{run_id}/log-batch", json={"metrics": points[: 1_001 - n]})
        assert logged.status_code == 200, logged.text
        ids.append(run_id)
    return ids


def test_one_history_downsampled_by_step_or_by_time(api, runs):
    url = f"/api/v1/runs/{runs[0]}/metric-history"
    full = api.get(url, params={"key": "loss"}).json()
    assert [m["step"] for m in full] == list(range(1_000))
    short = api.get(url, params={"key": "loss", "max_points": 100}).json()
    assert len(short) <= 100 and short[0] == full[0] and short[-1] == full[-1]
    assert 50.0 in [m["value"] for m in short]  # the spike survives
    assert [m["step"] for m in short] == sorted(m["step"] for m in short)
    by_time = api.get(url, params={"key": "loss", "max_points": 100, "x": "time"}).json()
    assert by_time[0]["step"] == 999 and by_time[-1]["step"] == 0 and len(by_time) <= 100
    exact = api.get(url, params={"key": "loss", "max_points": 5_000}).json()
    assert exact == full


@pytest.mark.parametrize(
    "params",
    [
        {"key": "loss", "max_points": 1},
        {"key": "loss", "max_points": 10_001},
        {"key": "loss", "x": "y"},
    ],
)
def test_bad_history_parameters_are_a_422(api, runs, params):
    answer = api.get(f"/api/v1/runs/{runs[0]}/metric-history", params=params)
    assert answer.status_code == 422 and answer.json()["error"]["message"]


def test_several_runs_and_keys_in_one_request(api, runs):
    body = {"run_ids": runs, "keys": ["loss", "acc", "never"], "max_points": 50}
    series = api.post("/api/v1/runs/metric-histories", json=body).json()["series"]
    assert [(s["run_id"], s["key"]) for s in series] == [
        (r, k) for r in runs for k in ("loss", "acc", "never")
    ]
    loss = series[0]
    assert loss["total"] == 1_000 and len(loss["steps"]) <= 50
    assert len(loss["values"]) == len(loss["steps"]) == len(loss["timestamps_ms"])
    assert loss["steps"][0] == 0 and loss["steps"][-1] == 999 and 50.0 in loss["values"]
    assert series[1]["values"] == ["Infinity"] and series[4]["values"] == []  # run 1: no acc
    assert series[2] == {
        "run_id": runs[0],
        "key": "never",
        "total": 0,
        "steps": [],
        "values": [],
        "timestamps_ms": [],
    }
    by_time = {"run_ids": runs[:1], "keys": ["loss"], "max_points": 50, "x": "time"}
    steps = api.post("/api/v1/runs/metric-histories", json=by_time).json()["series"][0]["steps"]
    assert steps[0] == 999 and steps[-1] == 0 and steps == sorted(steps, reverse=True)
    whole = api.post("/api/v1/runs/metric-histories", json={"run_ids": runs[:1], "keys": ["loss"]})
    values = whole.json()["series"][0]["values"]
    assert len(values) == 1_000 and values[700] == "NaN" and not math.isnan(values[0])


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"run_ids": [], "keys": ["loss"]}, 422),
        ({"run_ids": ["a" * 32] * 11, "keys": ["loss"]}, 422),
        ({"run_ids": ["not-an-id"], "keys": ["loss"]}, 422),
        ({"run_ids": ["0" * 32], "keys": ["loss"]}, 404),
        ({"run_ids": ["RUN"], "keys": ["bad key!"]}, 400),
        ({"run_ids": ["RUN"], "keys": ["loss"], "max_points": 1}, 422),
        ({"run_ids": ["RUN"], "keys": ["loss"], "x": "epoch"}, 422),
    ],
)
def test_bad_comparison_requests_are_4xx(api, runs, body, status):
    body = {**body, "run_ids": [runs[0] if r == "RUN" else r for r in body["run_ids"]]}
    answer = api.post("/api/v1/runs/metric-histories", json=body)
    assert answer.status_code == status and answer.json()["error"]["message"], answer.text
