"""`shipyard flows ...` over real flow runs."""

from __future__ import annotations

import json

import pytest

from shipyard.flows.executors import InProcessExecutor
from tests.flows.examples.failing_flow import FailingFlow
from tests.flows.examples.hello_flow import HelloFlow


@pytest.fixture
def runs(shipyard_home):
    HelloFlow.run(executor=InProcessExecutor())
    with pytest.raises(Exception, match="division by zero"):
        FailingFlow.run(executor=InProcessExecutor())


def test_ls_show_graph_and_logs(cli, runs):
    code, out, _ = cli("flows", "ls")
    assert code == 0 and "HelloFlow/1" in out and "FailingFlow/1" in out and "FAILED" in out
    code, out, _ = cli("flows", "show", "FailingFlow/1")
    assert code == 0 and "divide" in out and "ZeroDivisionError" in out
    code, out, _ = cli("flows", "graph", "HelloFlow/1")
    assert code == 0
    assert out.splitlines() == ["start (start) -> hello", "hello (linear) -> end", "end (end)"]
    code, out, _ = cli("flows", "logs", "HelloFlow/1/hello")
    assert code == 0 and out == "Shipyard says: Hi!\n"
    code, out, _ = cli("flows", "logs", "FailingFlow/1/divide", "--stderr")
    assert code == 0 and "Traceback" in out and "ZeroDivisionError" in out


def test_flow_runs_are_hidden_from_runs_ls_unless_asked(cli, runs):
    import json

    code, out, _ = cli("runs", "ls", "--json")
    assert code == 0 and {r["kind"] for r in json.loads(out)} == {"flow"}
    code, out, _ = cli("runs", "ls", "--json", "--tasks")
    assert code == 0 and {r["kind"] for r in json.loads(out)} == {"flow", "task"}


def test_the_mlflow_routes_bookkeeping_runs_are_not_listed(cli, shipyard_client):
    import json

    shipyard_client.create_run("p", "trained", capture_code=False)
    for kind in ("mlflow_model", "mlflow_experiment"):
        shipyard_client.create_run("p", kind, capture_code=False, kind=kind)
    for extra in ((), ("--tasks",)):
        code, out, _ = cli("runs", "ls", "--json", *extra)
        assert code == 0 and [r["name"] for r in json.loads(out)] == ["trained"]


def test_bad_pathspecs_are_one_line_errors(cli, runs):
    code, _, err = cli("flows", "logs", "HelloFlow/1")
    assert code == 1 and err.startswith("error: ") and "FLOW/NUMBER/STEP" in err
    code, _, err = cli("flows", "show", "HelloFlow/9")
    assert code == 1 and "no run HelloFlow/9" in err


def test_ls_and_show_answer_in_json(cli, runs):
    flows = {f["flow"]: f for f in json.loads(cli("flows", "ls", "--json")[1])}
    assert flows["HelloFlow"]["latest"] == "HelloFlow/1" and flows["HelloFlow"]["runs"] == 1
    assert flows["FailingFlow"]["status"] == "FAILED"
    (run,) = json.loads(cli("flows", "show", "HelloFlow", "--json")[1])
    assert (run["run"], run["status"], run["resumed_from"]) == ("HelloFlow/1", "FINISHED", None)
    shown = json.loads(cli("flows", "show", "FailingFlow/1", "--json")[1])
    assert shown["status"] == "FAILED"
    steps = {s["step"]: s["tasks"] for s in shown["steps"]}
    (divide,) = steps["divide"]
    assert divide["status"] == "FAILED" and "ZeroDivisionError" in divide["error"]
    assert all(t["status"] == "FINISHED" for t in steps["start"])
