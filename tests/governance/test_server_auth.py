"""Identity and access on a live server on loopback with auth on, through the client API
a user runs (SHIPYARD_URI + SHIPYARD_TOKEN), on SQLite and PostgreSQL backing stores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

import shipyard
from shipyard import governance
from shipyard.errors import PermissionDenied, Unauthenticated
from shipyard.server import create_app
from shipyard.server.auth import AuthConfig
from shipyard.server.run import ServerThread
from shipyard.tracking import Client
from tests.conftest import _truncate_all


@dataclass
class Secured:
    url: str
    store_uri: str
    root: str
    viewer: str
    editor: str
    outsider: str


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def secured(
    request: pytest.FixtureRequest, shipyard_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Secured]:
    """A server with auth on; root (server admin), vic (viewer on churn), eddie (editor on
    every project) and otto (viewer on another project), each with a token."""
    if request.param == "sqlite":
        uri = f"sqlite:///{shipyard_home.parent / 'server' / 'shipyard.db'}"
    else:
        uri = request.getfixturevalue("postgres_database")
    monkeypatch.setenv("SHIPYARD_URI", uri)  # the admin sets up users on the store itself
    tokens = {}
    for name, project, role in [
        ("root", None, None),
        ("vic", "churn", "viewer"),
        ("eddie", "*", "editor"),
        ("otto", "fraud", "viewer"),
    ]:
        governance.create_user(name, admin=name == "root")
        if role:
            governance.grant_role(name, project, role)
        tokens[name], _ = governance.create_token(name)
    backing = Client(uri=uri, artifact_uri=str(shipyard_home / "blobs"))
    server = ServerThread(create_app(backing, AuthConfig(enabled=True))).start()
    monkeypatch.setenv("SHIPYARD_URI", server.url)
    yield Secured(server.url, uri, tokens["root"], tokens["vic"], tokens["eddie"], tokens["otto"])
    server.stop()
    backing.close()
    if request.param == "postgresql":
        _truncate_all(uri)


def as_user(monkeypatch: pytest.MonkeyPatch, token: str | None) -> None:
    if token is None:
        monkeypatch.delenv("SHIPYARD_TOKEN", raising=False)
    else:
        monkeypatch.setenv("SHIPYARD_TOKEN", token)


def _editor_run(monkeypatch: pytest.MonkeyPatch, secured: Secured) -> str:
    as_user(monkeypatch, secured.editor)
    with shipyard.start_run(project="churn", run_name="baseline") as run:
        shipyard.log_param("depth", 3)
        shipyard.log_metric("auc", 0.91)
    return run.info.id


def test_a_viewer_reads_and_cannot_write(secured: Secured, monkeypatch: pytest.MonkeyPatch):
    run_id = _editor_run(monkeypatch, secured)
    as_user(monkeypatch, secured.viewer)
    client = Client()
    run = client.get_run(run_id)
    assert (run.params["depth"], run.metrics["auc"]) == ("3", 0.91)
    with pytest.raises(PermissionDenied, match="may not write on churn"):
        client.set_tag(run_id, "owner", "vic")
    with pytest.raises(PermissionDenied):
        shipyard.start_run(project="churn")
    as_user(monkeypatch, secured.editor)
    assert "owner" not in Client().get_run(run_id).tags  # nothing changed
    assert len(Client().search_runs("churn")) == 1  # nothing created


def test_a_viewer_of_another_project_cannot_read(secured, monkeypatch):
    run_id = _editor_run(monkeypatch, secured)
    as_user(monkeypatch, secured.outsider)
    with pytest.raises(PermissionDenied, match="may not read on churn"):
        Client().get_run(run_id)


def test_an_editor_cannot_administer(secured, monkeypatch, cli):
    as_user(monkeypatch, secured.editor)
    with pytest.raises(PermissionDenied, match="may not admin"):
        governance.create_user("mallory", admin=True)
    code, out, err = cli("users", "ls")
    assert code == 1 and err.count("\n") == 1 and "may not admin" in err
    code, _, err = cli("roles", "grant", "eddie", "admin", "--project", "churn")
    assert code == 1 and "may not admin" in err
    as_user(monkeypatch, secured.root)
    code, out, _ = cli("roles", "ls", "--user", "eddie", "--json")
    assert code == 0 and '"role": "editor"' in out and '"admin"' not in out


def test_a_server_admin_manages_users_through_the_server(secured, monkeypatch, cli):
    as_user(monkeypatch, secured.root)
    assert cli("users", "create", "ci-bot", "--service")[0] == 0
    assert cli("roles", "grant", "ci-bot", "editor", "--project", "churn")[0] == 0
    code, out, _ = cli("tokens", "create", "--user", "ci-bot", "--name", "ci")
    assert code == 0
    secret = out.strip().splitlines()[-1]
    as_user(monkeypatch, secret)
    with shipyard.start_run(project="churn") as run:
        shipyard.log_metric("loss", 0.5)
    assert Client().get_run(run.info.id).metrics["loss"] == 0.5
    code, out, err = cli("runs", "ls", "-p", "churn", "--json")  # no role on *: still lists
    assert code == 0 and run.info.id in out, err


def test_revoked_expired_and_disabled_tokens_are_refused(secured, monkeypatch):
    as_user(monkeypatch, secured.root)
    secret, record = governance.create_token("vic", "laptop")
    short, _ = governance.create_token("vic", "short", expires_in_days=1e-6)  # 86 ms
    as_user(monkeypatch, secret)
    assert Client().search_runs("churn") == []  # the token works
    as_user(monkeypatch, secured.root)
    governance.revoke_token(record.id)
    as_user(monkeypatch, secret)
    with pytest.raises(Unauthenticated, match="unknown, expired or revoked"):
        Client().get_run("0" * 32)
    import time

    time.sleep(0.2)
    as_user(monkeypatch, short)
    with pytest.raises(Unauthenticated):
        Client().get_run("0" * 32)
    as_user(monkeypatch, secured.root)
    Client().store.identity.set_user_disabled("vic", True, 0)
    as_user(monkeypatch, secured.viewer)
    with pytest.raises(Unauthenticated):
        Client().get_run("0" * 32)


def test_every_denial_is_a_json_4xx(secured, monkeypatch):
    run_id = _editor_run(monkeypatch, secured)
    with httpx.Client(base_url=secured.url) as http:
        anonymous = http.get(f"/api/v1/runs/{run_id}")
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "UNAUTHENTICATED"
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        bad = http.get(f"/api/v1/runs/{run_id}", headers={"Authorization": "Bearer shy_nope"})
        assert (bad.status_code, bad.json()["error"]["code"]) == (401, "UNAUTHENTICATED")
        viewer = {"Authorization": f"Bearer {secured.viewer}"}
        denied = http.patch(f"/api/v1/runs/{run_id}", json={"name": "x"}, headers=viewer)
        assert (denied.status_code, denied.json()["error"]["code"]) == (403, "PERMISSION_DENIED")
        mlflow = http.post(
            "/api/2.0/mlflow/runs/update", json={"run_id": run_id, "run_name": "x"}, headers=viewer
        )
        assert mlflow.status_code == 403 and mlflow.json()["error_code"] == "PERMISSION_DENIED"
        mlflow_anonymous = http.get("/api/2.0/mlflow/experiments/search")
        assert mlflow_anonymous.status_code == 401
        assert mlflow_anonymous.json()["error_code"] == "UNAUTHENTICATED"
        assert http.get("/api/v1/health").status_code == 200  # public


def test_mutations_through_the_server_are_audited_as_the_caller(secured, monkeypatch):
    with httpx.Client(base_url=secured.url) as http:
        answer = http.post(
            "/api/v1/store/identity/grant_role",
            json={"args": ["otto", "churn", "viewer", 1]},
            headers={"Authorization": f"Bearer {secured.root}", "X-Request-ID": "req-42"},
        )
    assert answer.status_code == 200 and answer.headers["x-request-id"] == "req-42"
    engine = sa.create_engine(secured.store_uri)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT actor, action, object, source, request_id FROM audit_log "
                    "WHERE request_id = 'req-42'")
        ).all()  # fmt: skip
    engine.dispose()
    assert [tuple(r) for r in rows] == [("root", "role.grant", "user:otto", "127.0.0.1", "req-42")]


def test_failed_sign_ins_are_rate_limited_per_source(secured):
    with httpx.Client(base_url=secured.url) as http:
        codes = [
            http.get("/api/v1/projects", headers={"Authorization": f"Bearer shy_guess{i}"})
            for i in range(25)
        ]
        assert [c.status_code for c in codes[:20]] == [401] * 20
        assert codes[-1].status_code == 429
        assert codes[-1].json()["error"]["code"] == "TOO_MANY_REQUESTS"
        good = http.get("/api/v1/projects", headers={"Authorization": f"Bearer {secured.root}"})
        assert good.status_code == 429  # the source waits, whatever it sends


def test_models_and_their_files_load_only_for_users_who_may_read_them(secured, monkeypatch):
    """A model's pickle is code: a user without read rights on its project gets neither
    the version nor its bytes."""
    from sklearn.linear_model import LogisticRegression

    from shipyard.registry import load_model, register_model

    run_id = _editor_run(monkeypatch, secured)
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    version = register_model("churn-model", model, run_id=run_id)
    blob = version.record.blob_hash
    as_user(monkeypatch, secured.outsider)
    with pytest.raises(PermissionDenied, match="may not read on churn"):
        load_model(f"models:/churn-model/{version.version}")
    with httpx.Client(base_url=secured.url) as http:
        outsider = {"Authorization": f"Bearer {secured.outsider}"}
        assert http.get(f"/api/v1/blobs/{blob}", headers=outsider).status_code == 403
        viewer = {"Authorization": f"Bearer {secured.viewer}"}
        assert http.get(f"/api/v1/blobs/{blob}", headers=viewer).status_code == 200
    as_user(monkeypatch, secured.viewer)
    loaded = load_model(f"models:/churn-model/{version.version}")
    assert list(loaded.predict([[3.0]])) == [1]


def test_listings_show_a_project_viewer_what_they_may_read(secured, monkeypatch, cli):
    run_id = _editor_run(monkeypatch, secured)
    as_user(monkeypatch, secured.editor)
    with shipyard.start_run(project="fraud"):
        pass
    as_user(monkeypatch, secured.viewer)  # viewer on churn only
    assert [p.name for p in Client().list_projects()] == ["churn"]
    assert [r.id for r in Client().search_runs()] == [run_id]
    assert Client().store.count_runs() == 1  # fraud's run is not counted
    with pytest.raises(PermissionDenied):
        Client().store.count_runs(["fraud"])  # naming a project is asking for it
    code, out, err = cli("projects", "ls", "--json")
    assert code == 0 and '"churn"' in out and '"fraud"' not in out, err
    with httpx.Client(base_url=secured.url) as http:
        viewer = {"Authorization": f"Bearer {secured.viewer}"}
        listed = http.get("/api/v1/projects", headers=viewer).json()
        assert [p["name"] for p in listed] == ["churn"]
        found = http.post("/api/v1/runs/search", json={}, headers=viewer).json()
        assert [r["id"] for r in found["runs"]] == [run_id]
        named = http.post("/api/v1/runs/search", json={"projects": ["fraud"]}, headers=viewer)
        assert named.status_code == 403  # naming a project is asking for it


def test_lineage_is_read_on_the_project_it_starts_from(secured, monkeypatch):
    run_id = _editor_run(monkeypatch, secured)
    with httpx.Client(base_url=secured.url) as http:
        outsider = {"Authorization": f"Bearer {secured.outsider}"}
        assert http.get(f"/api/v1/lineage/run/{run_id}", headers=outsider).status_code == 403
        viewer = {"Authorization": f"Bearer {secured.viewer}"}
        answer = http.get(f"/api/v1/lineage/run/{run_id}", headers=viewer)
        assert answer.status_code == 200, answer.text


def test_the_audit_log_names_the_caller_and_only_admins_read_it(secured, monkeypatch, cli):
    run_id = _editor_run(monkeypatch, secured)
    code, _, err = cli("audit", "ls")  # eddie, an editor
    assert code == 1 and "may not manage" in err
    as_user(monkeypatch, secured.root)
    code, out, err = cli("audit", "ls", "--object", f"run:{run_id}", "--json")
    assert code == 0, err
    entries = json.loads(out)
    assert {e["action"] for e in entries} >= {"run.create", "run.log", "run.status"}
    assert {e["actor"] for e in entries} == {"eddie"}
    assert {e["source"] for e in entries} == {"127.0.0.1"}
