"""The real ``mlflow`` client against a server with auth on: it signs in with
MLFLOW_TRACKING_TOKEN (or username and password), an editor logs, a viewer reads and is
refused a write with MLflow's PERMISSION_DENIED, no token is UNAUTHENTICATED."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from shipyard import governance
from shipyard.server import create_app
from shipyard.server.auth import AuthConfig
from shipyard.server.run import ServerThread
from tests.server import mlflow_venv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SCRIPT = """
import json, sys, mlflow
from mlflow.exceptions import MlflowException
answers = {}
mode = sys.argv[2]
try:
    if mode == "write":
        mlflow.set_experiment("auth-exp")
        with mlflow.start_run(run_name="signed-in") as run:
            mlflow.log_param("depth", 3)
            mlflow.log_metric("auc", 0.9)
        answers["run"] = run.info.run_id
    else:
        found = mlflow.search_runs(experiment_names=["auth-exp"], output_format="list")
        answers["seen"] = [r.info.run_name for r in found]
        exp = mlflow.get_experiment_by_name("auth-exp").experiment_id
        mlflow.MlflowClient().create_run(exp)
        answers["wrote"] = True
except MlflowException as exc:
    answers["error"] = exc.error_code
json.dump(answers, open(sys.argv[1], "w"))
"""


@pytest.fixture(scope="module")
def mlflow_python() -> Path:
    return mlflow_venv.python_or_skip()


def _run(python: Path, tmp_path: Path, url: str, mode: str, **auth: str) -> dict:
    script, out = tmp_path / "client.py", tmp_path / f"{mode}.json"
    script.write_text(SCRIPT)
    env = mlflow_venv.clean_env(MLFLOW_TRACKING_URI=url, GIT_PYTHON_REFRESH="quiet", **auth)
    done = subprocess.run(
        [str(python), str(script), str(out), mode],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def test_the_mlflow_client_signs_in_with_a_token(mlflow_python, shipyard_client, tmp_path):
    governance.create_user("ed")
    governance.grant_role("ed", "*", "editor")
    governance.create_user("vi")
    governance.grant_role("vi", "*", "viewer")
    editor, _ = governance.create_token("ed")
    viewer, _ = governance.create_token("vi")
    server = ServerThread(create_app(shipyard_client, AuthConfig(enabled=True))).start()
    try:
        wrote = _run(mlflow_python, tmp_path, server.url, "write", MLFLOW_TRACKING_TOKEN=editor)
        assert "run" in wrote, wrote
        assert shipyard_client.get_run(wrote["run"]).params == {"depth": "3"}
        read = _run(
            mlflow_python, tmp_path, server.url, "read",
            MLFLOW_TRACKING_USERNAME="vi", MLFLOW_TRACKING_PASSWORD=viewer,
        )  # fmt: skip
        assert read == {"seen": ["signed-in"], "error": "PERMISSION_DENIED"}
        anonymous = _run(mlflow_python, tmp_path, server.url, "read")
        assert anonymous == {"error": "UNAUTHENTICATED"}
    finally:
        server.stop()
