"""The audit log through the server: ``GET /api/v1/audit``, and the remote store, whose
changes the server records exactly once (the client writes no entry of its own) and whose
``audit`` area only reads."""

from __future__ import annotations

import httpx
import pytest

from shipyard.errors import Conflict, NotFound
from shipyard.server.run import ServerThread
from shipyard.store.base import NewRun, RunStatus
from shipyard.store.rest import RestStore
from shipyard.tracking import Client

RUN = "d" * 32


@pytest.fixture
def remote(live_server: ServerThread):
    store = RestStore(live_server.url)
    yield store
    store.close()


def test_a_remote_change_is_recorded_once_by_the_server(remote, backing: Client):
    remote.create_project("churn")
    remote.create_run(NewRun(id=RUN, project="churn", name="train", start_ms=1))
    remote.set_run_status(RUN, RunStatus.FINISHED, 2)
    with pytest.raises(Conflict):
        remote.create_run(NewRun(id=RUN, project="churn", name="again", start_ms=3))
    with pytest.raises(NotFound):
        remote.set_run_status("e" * 32, RunStatus.FAILED, 4)
    stored = backing.store.audit.list_audit()
    assert [(e.action, e.object) for e in stored] == [
        ("run.status", f"run:{RUN}"), ("run.create", f"run:{RUN}"),
        ("project.create", "project:churn"),
    ]  # fmt: skip
    assert remote.audit.list_audit(object=f"run:{RUN}") == stored[:2]  # the same, remotely


def test_the_audit_area_has_no_way_to_write(live_server: ServerThread):
    with httpx.Client(base_url=f"{live_server.url}/api/v1", timeout=30) as http:
        for method in ("record_audit", "delete_audit", "update_audit"):
            answer = http.post(f"/store/audit/{method}", json={"args": [], "kwargs": {}})
            assert answer.status_code == 404, method
            assert "list_audit" in answer.json()["error"]["message"]


def test_get_audit_filters(api: httpx.Client, backing: Client):
    backing.create_run("churn", "train")
    backing.create_project("other")
    everything = api.get("/audit").json()
    assert [e["action"] for e in everything] == ["project.create", "run.create", "project.create"]
    first = everything[0]
    assert set(first) == {
        "id", "time", "user", "action", "object", "summary", "request_id", "source"
    }  # fmt: skip
    assert first["object"] == "project:other" and first["source"] == "local"
    assert [e["object"] for e in api.get("/audit", params={"object": "project:*"}).json()] == [
        "project:other", "project:churn",
    ]  # fmt: skip
    assert len(api.get("/audit", params={"action": "run.create", "since": "1h"}).json()) == 1
    assert api.get("/audit", params={"user": "nobody"}).json() == []
    assert api.get("/audit", params={"since": "2999-01-01"}).json() == []
    older = api.get("/audit", params={"before_id": first["id"], "limit": 1}).json()
    assert [e["id"] for e in older] == [everything[1]["id"]]


@pytest.mark.parametrize(
    ("params", "code"),
    [({"since": "yesterday"}, "INVALID_ARGUMENT"), ({"limit": "0"}, None), ({"limit": "x"}, None)],
)
def test_get_audit_refuses_bad_queries_with_a_4xx(api: httpx.Client, params, code):
    answer = api.get("/audit", params=params)
    assert 400 <= answer.status_code < 500
    if code:
        assert answer.json()["error"]["code"] == code


def test_the_route_declares_its_errors(live_server: ServerThread):
    spec = httpx.get(f"{live_server.url}/openapi.json", timeout=30).json()
    answers = spec["paths"]["/api/v1/audit"]["get"]["responses"]
    assert "4XX" in answers and "422" not in answers
    assert not {"post", "put", "patch", "delete"} & set(spec["paths"]["/api/v1/audit"])
