"""What the robustness rules refuse through the Python API stays refused when a client
calls the store by name over HTTP (/api/v1/store/{area}/{method}), and nothing is written."""

from __future__ import annotations

import pytest

from shipyard.store import wire
from shipyard.store.base import NewRun
from tests.server._inprocess import TestClient, inprocess_api  # noqa: F401  (fixture: api)

GOOD_ID = "a" * 32


def _run(**changes) -> NewRun:
    fields = {"id": GOOD_ID, "project": "churn", "name": "r", "start_ms": 1, **changes}
    return NewRun(**fields)


BAD_CALLS = [
    ("tracking", "create_project", ["-starts-with-a-dash"], "project name"),
    ("tracking", "create_project", ["a" * 300], "project name"),
    ("tracking", "get_or_create_project", ["../etc"], "project name"),
    ("tracking", "create_run", [_run(project="bad name")], "project name"),
    ("tracking", "create_run", [_run(id="../../x")], "run id"),
    ("tracking", "create_run", [_run(name="a\x00b")], "NUL"),
    ("tracking", "create_run", [_run(params={"k": "v\x00"})], "NUL"),
    ("tracking", "set_run_name", [GOOD_ID, "x" * 300], "limit"),
    ("flows", "create_flow_run", ["nope", "Flow", "{}"], "run id"),
    ("features", "apply_feature_objects", ["a b", [], "me", 1], "project name"),
    ("monitors", "upsert_monitor", ["m", "bad model!", "", "latency", "", {}, 1], "model name"),
]


@pytest.mark.parametrize(("area", "method", "args", "says"), BAD_CALLS)
def test_a_bad_name_is_refused_through_the_store_rpc(
    api, shipyard_client, area, method, args, says
):
    body = wire.dumps({"args": args, "kwargs": {}})
    answer = api.post(
        f"/api/v1/store/{area}/{method}", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    assert says in answer.json()["error"]["message"]
    assert shipyard_client.store.list_projects() == []  # nothing written


def test_good_names_pass(api, shipyard_client):
    body = wire.dumps({"args": [_run()], "kwargs": {}})
    answer = api.post(
        "/api/v1/store/tracking/create_run",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    assert shipyard_client.get_run(GOOD_ID).project == "churn"
