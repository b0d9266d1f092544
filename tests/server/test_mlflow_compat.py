"""The unmodified ``mlflow`` client against Shipyard's server, compared with ``mlflow server``.

The scenario (``mlflow_client_scenario.py``, MLflow user code) runs in a venv of its own
with the real ``mlflow`` package; see ``mlflow_venv.py``. It skips when that venv cannot
be built (no network), except with SHIPYARD_TEST_SERVICES=1 (CI), where it fails.
"""

from __future__ import annotations

import importlib.util
import io
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.errors import ShipyardError
from shipyard.registry import ModelRegistry
from shipyard.tracking import Client
from tests.server import mlflow_venv

# building the venv (first run only) and two servers' scenarios take longer than the default
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

EDGES = Path(__file__).parent / "mlflow_scenarios" / "edges.py"


@pytest.fixture(scope="module")
def mlflow_python() -> Path:
    return mlflow_venv.python_or_skip()


@pytest.fixture(scope="module")
def shipyard_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    home = tmp_path_factory.mktemp("shipyard-home")
    client = Client(uri=f"sqlite:///{home / 'shipyard.db'}", artifact_uri=str(home / "blobs"))
    yield client
    client.close()


@pytest.fixture(scope="module")
def shipyard_url(shipyard_client: Client) -> Iterator[str]:
    with mlflow_venv.shipyard_server(shipyard_client) as url:
        yield url


@pytest.fixture(scope="module")
def shipyard_answers(
    mlflow_python: Path, shipyard_url: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("scenario-shipyard")
    return mlflow_venv.run_scenario(mlflow_python, shipyard_url, workdir)


@pytest.fixture(scope="module")
def shipyard_edges(
    mlflow_python: Path, shipyard_url: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("edges-shipyard")
    return mlflow_venv.run_scenario(mlflow_python, shipyard_url, workdir, EDGES)


@pytest.fixture(scope="module")
def mlflow_answers(
    mlflow_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """Both scenarios' answers from one ``mlflow server``."""
    workdir = tmp_path_factory.mktemp("scenario-mlflow")
    with mlflow_venv.mlflow_server(mlflow_python, workdir) as url:
        return {
            script.stem: mlflow_venv.run_scenario(mlflow_python, url, workdir, script)
            for script in (mlflow_venv.SCENARIO, EDGES)
        }


def test_the_mlflow_client_works_against_shipyard(shipyard_answers: dict[str, Any]) -> None:
    a = shipyard_answers
    assert a["duplicate experiment"] == "RESOURCE_ALREADY_EXISTS"
    assert a["experiment by name"]["tags"] == {"team": "risk"}
    assert a["search experiments"] == ["compat-experiment"]
    parent = a["parent run"]
    assert parent["status"] == "FINISHED" and parent["run_name"] == "parent"
    assert parent["params"] == {"alpha": "0.5", "max_iter": "200", "solver": "lbfgs"}
    assert parent["metrics"] == {"accuracy": 0.91, "f1": 0.88, "loss": 0.35}
    assert parent["tags"] == {"data": "iris", "owner": "ana", "stage": "baseline"}
    assert a["changing a param"] == "INVALID_PARAMETER_VALUE"
    assert a["loss history"] == [[0, 0.9], [1, 0.6], [2, 0.4], [3, 0.35]]
    assert a["artifact folders"] == [["meta", True], ["notes", True], ["tables", True]]
    assert a["artifacts under tables"] == ["tables/table.csv"]
    assert a["logged dict"] == {"classes": [0, 1, 2]}
    assert a["logged text"] == "hello from the scenario\n"
    assert a["batch history length"] == 50
    assert a["search: filtered, ordered"] == ["child-2", "child-1"]
    assert a["search: by tag"] == ["parent"]
    assert a["search: by name"] == ["child-2", "child-1", "child-0"]
    assert a["search: pages of 2"] == [["batch", "child-0"], ["child-1", "child-2"], ["parent"]]
    assert (a["deleted run stage"], a["restored run stage"]) == ("deleted", "active")
    assert a["active runs after delete"] == 4
    assert a["missing run"] == a["missing experiment"] == "RESOURCE_DOES_NOT_EXIST"
    assert a["bad filter"] == a["missing alias"] == "INVALID_PARAMETER_VALUE"
    assert a["registered version"] == "1"
    assert a["alias"]["aliases"] == ["champion"]
    assert a["train run is the version's run"] is True
    assert a["loaded model predicts as trained"] is True
    assert a["registered models"] == ["compat-model"]


def test_mlflow_runs_and_models_are_shipyard_runs_and_models(
    shipyard_answers: dict[str, Any], shipyard_client: Client
) -> None:
    runs = shipyard_client.search_runs("compat-experiment", "kind = 'run'", limit=100)
    assert {"parent", "child-0", "child-1", "child-2", "batch", "train"} <= {r.name for r in runs}
    parent = next(r for r in runs if r.name == "parent")
    children = [r for r in runs if r.parent_id == parent.id]
    assert sorted(r.name for r in children) == ["child-0", "child-1", "child-2"]
    paths = {r.path for r in shipyard_client.list_artifacts(parent.id)}
    assert {"meta/classes.json", "notes/readme.txt", "tables/table.csv"} <= paths
    assert shipyard_client.load_artifact(parent.id, "meta/classes.json") == {"classes": [0, 1, 2]}
    version = shipyard_client.store.models.get_model_version("compat-model", 1)
    train = next(r for r in runs if r.name == "train")
    assert (version.flavor, version.run_id) == ("mlflow", train.id)
    assert shipyard_client.store.models.resolve_alias("compat-model", "champion") == 1


def test_a_version_registered_by_mlflow_is_an_mlflow_model_in_one_blob(
    shipyard_answers: dict[str, Any],
    shipyard_client: Client,
    mlflow_python: Path,
    tmp_path: Path,
) -> None:
    """The version's blob unpacks to a folder that mlflow.pyfunc loads; Shipyard itself
    says which package loading it needs."""
    version = shipyard_client.store.models.get_model_version("compat-model", 1)
    with zipfile.ZipFile(io.BytesIO(shipyard_client.blobs.get_bytes(version.blob_hash))) as z:
        z.extractall(tmp_path)
    assert (tmp_path / "MLmodel").is_file()
    check = "import sys, mlflow.pyfunc; print(type(mlflow.pyfunc.load_model(sys.argv[1])).__name__)"
    done = subprocess.run(
        [str(mlflow_python), "-c", check, str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=mlflow_venv.clean_env(),
    )  # fmt: skip
    assert done.stdout.strip() == "PyFuncModel", done.stderr[-2000:]
    if importlib.util.find_spec("mlflow") is None:
        with pytest.raises(ShipyardError, match="pip install mlflow"):
            ModelRegistry(shipyard_client).load_model("models:/compat-model@champion")


def test_shipyard_runs_are_visible_to_mlflow(shipyard_client: Client, shipyard_url: str) -> None:
    run = shipyard_client.create_run("made-by-shipyard", "native", params={"lr": 0.1})
    shipyard_client.log_metric(run.id, "acc", 0.75)
    shipyard_client.end_run(run.id)
    api = f"{shipyard_url}/api/2.0/mlflow"
    with httpx.Client(timeout=30) as http:
        experiment = http.get(
            f"{api}/experiments/get-by-name", params={"experiment_name": "made-by-shipyard"}
        ).json()["experiment"]
        found = http.post(
            f"{api}/runs/search",
            json={"experiment_ids": [experiment["experiment_id"]], "filter": "metrics.acc > 0.5"},
        ).json()["runs"]
    assert [r["info"]["run_name"] for r in found] == ["native"]
    assert found[0]["info"]["status"] == "FINISHED"
    assert found[0]["data"]["params"] == [{"key": "lr", "value": "0.1"}]


def test_registry_edits_through_mlflow_routes(
    shipyard_answers: dict[str, Any], shipyard_url: str, shipyard_client: Client
) -> None:
    api = f"{shipyard_url}/api/2.0/mlflow"
    name = {"name": "compat-model"}
    with httpx.Client(timeout=30) as http:
        http.post(f"{api}/registered-models/set-tag", json={**name, "key": "team", "value": "x"})
        http.patch(f"{api}/registered-models/update", json={**name, "description": "iris"})
        latest = http.post(f"{api}/registered-models/get-latest-versions", json=name).json()
        staging = http.post(
            f"{api}/model-versions/transition-stage",
            json={**name, "version": 1, "stage": "Staging"},
        )
        immutable = http.patch(f"{api}/model-versions/update", json={**name, "version": 1})
        alias = http.delete(f"{api}/registered-models/alias", params={**name, "alias": "nope"})
    model = shipyard_client.store.models.get_model("compat-model")
    assert (model.tags, model.description) == ({"team": "x"}, "iris")
    assert [v["version"] for v in latest["model_versions"]] == ["1"]
    assert (
        staging.json()["error_code"] == immutable.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    )
    assert alias.status_code < 500


def test_errors_have_mlflow_codes_and_statuses(shipyard_url: str) -> None:
    api = f"{shipyard_url}/api/2.0/mlflow"
    with httpx.Client(timeout=30) as http:
        missing = http.get(f"{api}/runs/get", params={"run_id": "0" * 32})
        bad = http.post(f"{api}/runs/search", json={"filter": "metrics.x <<< 1"})
        no_name = http.post(f"{api}/experiments/create", json={})
        http.post(f"{api}/experiments/create", json={"name": "twice"})
        twice = http.post(f"{api}/experiments/create", json={"name": "twice"})
    assert (missing.status_code, missing.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert (bad.status_code, bad.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert no_name.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert (twice.status_code, twice.json()["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")
    assert set(missing.json()) == {"error_code", "message"}


BAD_REQUESTS = [
    ("POST", "runs/create", {"json": {"experiment_id": "0", "tags": [{"key": "a#b"}]}}),
    ("POST", "runs/create", {"json": {"experiment_id": "0", "start_time": "soon"}}),
    ("POST", "runs/search", {"content": b"{not json"}),
    ("POST", "runs/search", {"json": {"max_results": 10**6}}),
    ("POST", "runs/search", {"json": {"page_token": "garbage"}}),
    ("POST", "runs/search", {"json": {"run_view_type": "SOME"}}),
    ("POST", "runs/log-batch", {"json": {"run_id": "RUN", "metrics": [{"key": "m"}]}}),
    ("POST", "runs/log-batch", {"json": {"run_id": "RUN", "metrics": {"key": "m"}}}),
    ("POST", "runs/log-batch", {"json": {"run_id": "RUN", "params": [{"value": "v"}]}}),
    ("POST", "runs/log-metric", {"json": {"run_id": "RUN", "key": "m", "value": "high"}}),
    ("POST", "experiments/create", {"json": {"name": "e", "tags": "not a list"}}),
    ("POST", "experiments/create", {"json": {"name": "has space"}}),
    ("GET", "experiments/get", {"params": {"experiment_id": "nope"}}),
    ("GET", "model-versions/get", {"params": {"name": "m", "version": "one"}}),
    ("GET", "registered-models/alias", {"params": {"name": "nope", "alias": "a"}}),
    ("GET", "logged-models/m-nope", {}),
    ("POST", "model-versions/create", {"json": {"name": "m", "source": "s3://elsewhere"}}),
    ("GET", "not-a-route", {}),
]


@pytest.fixture(scope="module")
def run_id(shipyard_url: str) -> str:
    """A run to send bad input about (``"RUN"`` in a request body)."""
    created = httpx.post(
        f"{shipyard_url}/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}, timeout=30
    )
    return str(created.json()["run"]["info"]["run_id"])


@pytest.mark.parametrize(("method", "route", "request_args"), BAD_REQUESTS)
def test_bad_input_is_a_4xx_in_mlflow_shape(
    shipyard_url: str, run_id: str, method: str, route: str, request_args: dict[str, Any]
) -> None:
    if "json" in request_args and request_args["json"].get("run_id") == "RUN":
        request_args = {"json": {**request_args["json"], "run_id": run_id}}
    answer = httpx.request(
        method, f"{shipyard_url}/api/2.0/mlflow/{route}", timeout=30, **request_args
    )
    assert 400 <= answer.status_code < 500, answer.text
    assert set(answer.json()) == {"error_code", "message"}


def test_edge_cases_against_shipyard(shipyard_edges: dict[str, Any]) -> None:
    a = shipyard_edges
    assert a["default experiment search"] == ["in-default"]
    assert a["renamed, failed run"]["nan is nan"] == "nan"
    assert a["renamed, failed run"]["status"] == "FAILED"
    assert a["downloaded folder"] == ["a.txt", "inner/b.txt"]
    assert a["missing tag delete"] == a["log to missing run"] == "RESOURCE_DOES_NOT_EXIST"
    assert (a["deleted only"], a["active only"], a["all"]) == (["renamed"], 0, 1)


@pytest.mark.parametrize("scenario", [mlflow_venv.SCENARIO.stem, EDGES.stem])
def test_same_answers_as_mlflow_server(
    scenario: str,
    shipyard_answers: dict[str, Any],
    shipyard_edges: dict[str, Any],
    mlflow_answers: dict[str, dict[str, Any]],
) -> None:
    """Section by section (ids are normalized by the scenarios, times dropped)."""
    ours = shipyard_answers if scenario == mlflow_venv.SCENARIO.stem else shipyard_edges
    theirs = mlflow_answers[scenario]
    assert sorted(ours) == sorted(theirs)
    differing = {
        section: {"shipyard": ours[section], "mlflow": theirs[section]}
        for section in theirs
        if ours[section] != theirs[section]
    }
    assert not differing
