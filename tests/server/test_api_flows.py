"""/api/v1/flows answers what the shipyard.flows client reads, and bad input is a 4xx."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.flows import Flow, Run
from shipyard.flows.executors import InProcessExecutor
from shipyard.tracking import Client
from tests.flows.examples.foreach_flow import ForeachFlow
from tests.flows.examples.hello_flow import HelloFlow
from tests.server._inprocess import TestClient, inprocess_api  # noqa: F401  (fixture: api)


@pytest.fixture
def runs(shipyard_client: Client) -> None:
    """HelloFlow/1, HelloFlow/2 and ForeachFlow/1, run in this process."""
    for flow in (HelloFlow, HelloFlow, ForeachFlow):
        flow.run(executor=InProcessExecutor())


def test_flows_and_runs_match_the_client(api: TestClient, runs: None) -> None:
    flows = api.get("/api/v1/flows").json()
    assert [(f["name"], f["runs"], f["latest_run"], f["latest_status"]) for f in flows] == [
        ("ForeachFlow", 1, 1, "FINISHED"),
        ("HelloFlow", 2, 2, "FINISHED"),
    ]
    listed = api.get("/api/v1/flows/HelloFlow/runs").json()
    assert [r["pathspec"] for r in listed] == [r.pathspec for r in Flow("HelloFlow").runs()]
    run = Run("HelloFlow/1")
    got = api.get("/api/v1/flows/HelloFlow/runs/1").json()
    assert (got["run_id"], got["status"]) == (run.tracking_id, run.status.value)
    assert [s["name"] for s in got["steps"]] == [s.name for s in run.steps_in_graph_order()]
    assert set(got["graph"]) == {"start", "hello", "end"}
    (hello,) = next(s["tasks"] for s in got["steps"] if s["name"] == "hello")
    assert hello["id"] == run["hello"].task.id
    assert hello["pathspec"] == run["hello"].task.pathspec


def test_tasks_logs_and_artifacts(api: TestClient, runs: None) -> None:
    run = Run("ForeachFlow/1")
    members = run["member"].tasks()
    tasks = api.get("/api/v1/flows/ForeachFlow/runs/1/steps/member/tasks").json()
    assert sorted(t["id"] for t in tasks) == sorted(t.id for t in members)
    task = members[0]
    one = api.get(f"/api/v1/flows/ForeachFlow/runs/1/tasks/{task.id}").json()
    assert (one["status"], one["foreach_index"]) == (task.status.value, task.foreach_path)
    names = api.get(f"/api/v1/flows/ForeachFlow/runs/1/tasks/{task.id}/artifacts").json()
    assert {"value", "where"} <= {a["name"] for a in names}
    assert task.data.value in (1.0, 2.0, 3.0)

    hello = Run("HelloFlow/1")["hello"].task
    logs = api.get(f"/api/v1/flows/HelloFlow/runs/1/tasks/{hello.id}/logs")
    assert logs.text == hello.stdout == "Shipyard says: Hi!\n"
    err = api.get(f"/api/v1/flows/HelloFlow/runs/1/tasks/{hello.id}/logs?stream=stderr")
    assert err.text == hello.stderr
    step = api.get("/api/v1/flows/HelloFlow/runs/1/steps/hello/logs")
    assert step.text == hello.stdout


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/flows/NoFlow/runs", 404),
        ("/api/v1/flows/HelloFlow/runs/9", 404),
        ("/api/v1/flows/HelloFlow/runs/one", 422),
        ("/api/v1/flows/HelloFlow/runs/99999999999999999999", 422),
        ("/api/v1/flows/HelloFlow/runs/1/steps/nope/tasks", 404),
        ("/api/v1/flows/HelloFlow/runs/1/steps/nope/logs", 404),
        ("/api/v1/flows/HelloFlow/runs/1/tasks/nope", 404),
        ("/api/v1/flows/HelloFlow/runs/1/tasks/nope/logs", 404),
        ("/api/v1/flows/HelloFlow/runs/1/tasks/nope/artifacts", 404),
        ("/api/v1/flows/HelloFlow/runs/1/steps/hello/logs?stream=both", 422),
    ],
)
def test_bad_input_is_a_4xx(api: TestClient, runs: Any, path: str, status: int) -> None:
    got = api.get(path)
    assert got.status_code == status, got.text
    assert set(got.json()["error"]) >= {"code", "message"}
