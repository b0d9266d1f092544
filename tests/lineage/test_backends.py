"""The walks read only the store interfaces: the same graphs on SQLite, on PostgreSQL and
through a server (a RestStore client, as with SHIPYARD_URI=http://...)."""

from __future__ import annotations

from pathlib import Path

from shipyard.lineage import dependents, impact, upstream
from shipyard.tracking import Client
from tests.lineage.conftest import COMMIT, build_scenario


def test_the_same_lineage_on_every_backend(client: Client, tmp_path: Path) -> None:
    scenario = build_scenario(client, tmp_path)
    graph = upstream(client.store, "prediction", scenario.prediction_id)
    assert {f"code:{COMMIT}-dirty", "source:shop/tx/1", "dataset:shop/training/1"} <= set(
        graph.nodes
    )
    assert graph.notes == []
    found = dependents(impact(client.store, "feature-view", "spend", "shop"))
    assert found == [
        "dataset shop/training/1",
        "model churn/1",
        "alias churn@production",
        "served: 1 call(s) of churn/1 logged",
    ]
