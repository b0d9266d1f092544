"""Lineage on the built scenario: the upstream chain, impact, CLI, API and `features plan`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shipyard.errors import InvalidArgument, NotFound
from shipyard.lineage import dependents, impact, upstream
from shipyard.store.base import NewFeatureObject
from tests.lineage.conftest import COMMIT, FINGERPRINT, NOW, Scenario
from tests.server._inprocess import TestClient, inprocess_api

api = inprocess_api


def keys(graph: Any) -> set[str]:
    return set(graph.nodes)


def test_a_prediction_leads_to_sources_fingerprints_and_the_commit(scenario: Scenario) -> None:
    graph = upstream(scenario.client.store, "prediction", scenario.prediction_id)
    assert graph.root == f"prediction:{scenario.prediction_id}"
    assert {
        "model_version:churn/1",
        f"run:{scenario.task_id}",
        f"flow_run:{scenario.flow_run_id}",
        f"code:{COMMIT}-dirty",
        "dataset:shop/training/1",
        "feature_view:shop/spend/1",
        "on_demand_feature_view:shop/ratio/1",
        "feature_service:shop/svc/1",
        "source:shop/tx/1",
    } <= keys(graph)
    assert "feature_view:shop/other/1" not in keys(graph)  # not in the dataset
    source = graph.nodes["source:shop/tx/1"]
    assert source.attrs["path"].endswith("tx.parquet")
    (reads,) = [e for e in graph.edges if e.target == source.key]
    assert reads.source == "feature_view:shop/spend/1"
    assert reads.attrs == {"data_fingerprint": FINGERPRINT}
    code = graph.nodes[f"code:{COMMIT}-dirty"]
    assert code.attrs["commit"] == COMMIT and code.attrs["dirty"] is True
    assert code.attrs["repo"] == "/src/repo"
    assert code.attrs["diff"]["blob_hash"] == scenario.diff_hash
    assert graph.nodes["model_version:churn/1"].attrs["aliases"] == ["production"]
    edges = {(e.source, e.relation, e.target) for e in graph.edges}
    assert ("model_version:churn/1", "trained on", "dataset:shop/training/1") in edges
    assert (f"run:{scenario.task_id}", "task of", f"flow_run:{scenario.flow_run_id}") in edges
    assert (f"flow_run:{scenario.flow_run_id}", "code", f"code:{COMMIT}-dirty") in edges
    (online,) = [e for e in graph.edges if e.relation == "online features from"]
    assert online.target == "feature_view:shop/spend/1"
    assert (online.attrs["features"], online.attrs["write"]) == (["spend"], "materialize")
    assert graph.notes == []


@pytest.mark.parametrize(
    ("kind", "ident", "root"),
    [
        ("model", "churn/1", "model_version:churn/1"),
        ("model", "churn@production", "model_version:churn/1"),
        ("model", "churn", "model_version:churn/1"),
        ("dataset", "shop/training/1", "dataset:shop/training/1"),
        ("dataset", "training", "dataset:shop/training/1"),
        ("feature-view", "spend", "feature_view:shop/spend/1"),
        ("feature-view", "spend/1", "feature_view:shop/spend/1"),
        ("feature-view", "ratio", "on_demand_feature_view:shop/ratio/1"),
    ],
)
def test_every_kind_is_a_root(scenario: Scenario, kind: str, ident: str, root: str) -> None:
    graph = upstream(scenario.client.store, kind, ident, project="shop")
    assert graph.root == root
    assert "source:shop/tx/1" in graph.nodes


def test_a_run_leads_to_its_flow_run_and_code(scenario: Scenario) -> None:
    graph = upstream(scenario.client.store, "run", scenario.task_id)
    assert {f"code:{COMMIT}-dirty", f"flow_run:{scenario.flow_run_id}"} <= set(graph.nodes)
    assert "dataset:shop/training/1" not in graph.nodes  # its output, not its input


def test_missing_links_are_notes_not_guesses(scenario: Scenario) -> None:
    graph = upstream(scenario.client.store, "model", "unrelated/1")
    assert set(graph.nodes) == {"model_version:unrelated/1"}
    assert any("without the run" in n for n in graph.notes)
    assert any("without its training dataset" in n for n in graph.notes)


@pytest.mark.parametrize(
    ("kind", "ident", "error"),
    [
        ("prediction", "f" * 32, NotFound),
        ("model", "churn/9", NotFound),
        ("model", "nobody@production", NotFound),
        ("run", "c" * 32, NotFound),
        ("dataset", "shop/nothing/1", NotFound),
        ("feature-view", "nothing", NotFound),
        ("model", "churn/99999999999", InvalidArgument),
        ("dataset", "a/b/c/1", InvalidArgument),
        ("run", "x\x00", InvalidArgument),
        ("model", "", InvalidArgument),
    ],
)
def test_unknown_references_raise(
    scenario: Scenario, kind: str, ident: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        upstream(scenario.client.store, kind, ident, project="shop")


def test_impact_of_a_view_reaches_models_aliases_and_traffic(scenario: Scenario) -> None:
    graph = impact(scenario.client.store, "feature-view", "spend", "shop")
    assert graph.root == "feature_view:shop/spend/1"
    assert {
        "on_demand_feature_view:shop/ratio/1",
        "feature_service:shop/svc/1",
        "dataset:shop/training/1",
        "model_version:churn/1",
        "alias:churn@production",
        "served:churn/1",
    } <= keys(graph)
    assert "model_version:unrelated/1" not in keys(graph)
    assert dependents(graph) == [
        "dataset shop/training/1",
        "model churn/1",
        "alias churn@production",
        "served: 1 call(s) of churn/1 logged",
    ]
    other = impact(scenario.client.store, "feature-view", "other", "shop")
    assert dependents(other) == []
    with pytest.raises(NotFound, match="not in project 'shop'"):
        impact(scenario.client.store, "feature-view", "nothing", "shop")


def test_the_cli_prints_a_tree_and_json(scenario: Scenario, cli: Any) -> None:
    code, out, _ = cli("lineage", "prediction", scenario.prediction_id)
    assert code == 0
    assert "model churn/1" in out and "tx.parquet" in out and COMMIT in out
    assert FINGERPRINT in out
    code, out, _ = cli("lineage", "run", scenario.task_id[:8], "--json")
    assert code == 0 and json.loads(out)["root"] == f"run:{scenario.task_id}"
    code, out, _ = cli("lineage", "model", "churn@production", "--json")
    assert code == 0 and json.loads(out)["root"] == "model_version:churn/1"
    code, out, _ = cli("lineage", "impact", "feature-view", "spend", "--project", "shop")
    assert code == 0 and "churn@production" in out and "unrelated" not in out
    code, out, _ = cli("lineage", "impact", "feature-view", "spend", "--project", "shop", "--json")
    assert "model churn/1" in json.loads(out)["dependents"]


def test_the_cli_says_what_is_unknown_in_one_line(scenario: Scenario, cli: Any) -> None:
    code, out, err = cli("lineage", "prediction", "f" * 32)
    assert code == 1 and out == ""
    assert err.strip().count("\n") == 0 and "not in the prediction log" in err
    code, _, err = cli("lineage", "impact", "feature-view", "nothing", "--project", "shop")
    assert code == 1 and "not in project 'shop'" in err


def test_the_api_answers_what_the_cli_prints(scenario: Scenario, cli: Any, api: TestClient) -> None:
    _, out, _ = cli("lineage", "prediction", scenario.prediction_id, "--json")
    answer = api.get(f"/api/v1/lineage/prediction/{scenario.prediction_id}")
    assert answer.status_code == 200 and answer.json() == json.loads(out)
    _, out, _ = cli("lineage", "dataset", "shop/training/1", "--json")
    assert api.get("/api/v1/lineage/dataset/shop/training/1").json() == json.loads(out)
    _, out, _ = cli("lineage", "impact", "feature-view", "spend", "--project", "shop", "--json")
    answer = api.get("/api/v1/lineage/impact/feature-view/spend", params={"project": "shop"})
    assert answer.status_code == 200 and answer.json() == json.loads(out)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/api/v1/lineage/prediction/{'f' * 32}", 404),
        ("/api/v1/lineage/model/churn/9", 404),
        ("/api/v1/lineage/impact/feature-view/nothing?project=shop", 404),
        ("/api/v1/lineage/model/churn/99999999999", 400),
        ("/api/v1/lineage/nonsense/x", 422),  # as every route answers a bad path value
    ],
)
def test_the_api_answers_bad_references_with_json_4xx(
    scenario: Scenario, api: TestClient, path: str, status: int
) -> None:
    answer = api.get(path)
    assert answer.status_code == status
    assert set(answer.json()["error"]) >= {"code", "message"}


def test_the_source_version_is_the_recorded_one_else_the_one_in_effect(
    scenario: Scenario,
) -> None:
    store = scenario.client.store
    spec = {"kind": "file", "name": "tx", "path": "/elsewhere.parquet", "timestamp_field": "ts"}
    later = NewFeatureObject("source", "tx", spec, "9" * 64, base_version=1)
    store.features.apply_feature_objects("shop", [later], "ana", NOW + 100)
    old = upstream(store, "dataset", "shop/training/1")  # saved before v2, no version recorded
    assert "source:shop/tx/1" in old.nodes and "source:shop/tx/2" not in old.nodes
    lineage = {"feature_views": {"spend": {"version": 1, "source": "tx", "source_version": 2}}}
    store.features.create_dataset("shop", "training", "d" * 64, 1, 1, lineage, "ana", NOW + 50)
    new = upstream(store, "dataset", "shop/training/2")  # saved "before" v2, but it says 2
    assert new.nodes["source:shop/tx/2"].attrs["path"] == "/elsewhere.parquet"
