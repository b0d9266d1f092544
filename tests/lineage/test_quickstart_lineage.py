"""Lineage on the quickstart's real data: a served prediction reaches the source files
with their fingerprints and the commit; customer_spend's impact lists the churn model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server._inprocess import TestClient

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quickstart_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("quickstart")
    done = subprocess.run(
        [sys.executable, "-m", "shipyard.cli", "quickstart", "--max-workers", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "SHIPYARD_HOME": str(home), "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    return home


@pytest.fixture
def home(quickstart_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SHIPYARD_HOME", str(quickstart_home))
    monkeypatch.delenv("SHIPYARD_URI", raising=False)
    yield quickstart_home


def _a_prediction(cli: Any) -> str:
    code, out, _ = cli("predictions", "ls", "churn", "--since", "3650d", "--limit", "1", "--json")
    assert code == 0
    return str(json.loads(out)[0]["id"])


def test_a_prediction_reaches_source_files_fingerprints_and_the_commit(
    home: Path, cli: Any
) -> None:
    prediction = _a_prediction(cli)
    code, out, _ = cli("lineage", "prediction", prediction, "--json")
    assert code == 0
    graph = json.loads(out)
    nodes = {n["key"]: n for n in graph["nodes"]}
    assert "model_version:churn/1" in nodes
    assert "dataset:quickstart/churn_training/1" in nodes
    flows = [n for n in nodes.values() if n["kind"] == "flow_run"]
    assert [n["label"] for n in flows] == ["flow run QuickstartFlow/1"]
    sources = {n["id"]: n["attrs"]["path"] for n in nodes.values() if n["kind"] == "source"}
    assert sources == {
        "quickstart/customers/1": str(home / "quickstart" / "data" / "customers.parquet"),
        "quickstart/transactions/1": str(home / "quickstart" / "data" / "transactions.parquet"),
    }
    fingerprints = [
        e["attrs"].get("data_fingerprint") for e in graph["edges"] if e["relation"] == "reads"
    ]
    assert len(fingerprints) == 2 and all(len(f or "") == 64 for f in fingerprints)
    online = {e["target"] for e in graph["edges"] if e["relation"] == "online features from"}
    assert online == {
        "feature_view:quickstart/customer_profile/1",
        "feature_view:quickstart/customer_spend/1",
    }
    (code_node,) = [n for n in nodes.values() if n["kind"] == "code"]
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert code_node["attrs"]["commit"] == head
    assert code_node["attrs"]["repo"] == str(ROOT)
    code, out, _ = cli("lineage", "prediction", prediction)
    assert code == 0 and "transactions.parquet" in out and head in out


def test_customer_spend_impact_lists_the_churn_model(home: Path, cli: Any) -> None:
    args = ("lineage", "impact", "feature-view", "customer_spend", "--project", "quickstart")
    code, out, _ = cli(*args, "--json")
    assert code == 0
    found = json.loads(out)["dependents"]
    assert "model churn/1" in found and "alias churn@production" in found
    assert "dataset quickstart/churn_training/1" in found
    assert "served: 600 call(s) of churn/1 logged" in found
    code, out, _ = cli(*args)
    assert code == 0 and "model churn/1" in out and "churn@production" in out


def test_the_api_answers_the_same_on_the_quickstart(home: Path, cli: Any) -> None:
    from shipyard.server import create_app
    from shipyard.tracking import Client

    prediction = _a_prediction(cli)
    _, out, _ = cli("lineage", "prediction", prediction, "--json")
    client = Client()
    try:
        with TestClient(create_app(client)) as api:
            answer = api.get(f"/api/v1/lineage/prediction/{prediction}")
    finally:
        client.close()
    assert answer.status_code == 200 and answer.json() == json.loads(out)
