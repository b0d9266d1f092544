"""A small, fully linked scenario written through the store interfaces: a file source,
two feature views (one on-demand view over one of them), a feature service, a flow run
with a commit and a diff, its tasks, a dataset, model versions, an alias, predictions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shipyard.store.base import (
    ArtifactRecord,
    Materialization,
    NewFeatureObject,
    NewModelVersion,
    NewRun,
    PredictionCall,
    RunStatus,
    TaskRecord,
)
from shipyard.tracking import Client
from tests.cli.conftest import cli  # noqa: F401  (the in-process `shipyard` runner)
from tests.contract.conftest import store_uri  # noqa: F401  (SQLite, PostgreSQL, a server)

NOW = 1_800_000_000_000
COMMIT = "0123456789abcdef0123456789abcdef01234567"
FINGERPRINT = "f" * 64
PREDICTION = "0" * 26  # prediction 0 of the call below: id + "000000"


@dataclass
class Scenario:
    client: Client
    prediction_id: str
    flow_run_id: str
    task_id: str
    diff_hash: str


def _put(client: Client, data: bytes) -> str:
    return client.blobs.put_bytes(data).hash


def _objects(features_path: str) -> list[NewFeatureObject]:
    def obj(kind: str, name: str, spec: dict[str, Any]) -> NewFeatureObject:
        return NewFeatureObject(kind, name, spec, hashlib.sha256(repr(spec).encode()).hexdigest())

    schema = [{"name": "spend", "dtype": "float64"}, {"name": "orders", "dtype": "int64"}]
    return [
        obj("entity", "customer", {"name": "customer", "join_keys": ["customer_id"]}),
        obj("source", "tx", {"kind": "file", "name": "tx", "path": features_path,
                             "file_format": "parquet", "timestamp_field": "ts"}),
        obj("feature_view", "spend", {"name": "spend", "source": "tx", "entities": ["customer"],
                                      "schema": schema, "owner": "ana"}),
        obj("feature_view", "other", {"name": "other", "source": "tx", "entities": ["customer"],
                                      "schema": [{"name": "x", "dtype": "int64"}]}),
        obj("on_demand_feature_view", "ratio", {
            "name": "ratio", "sources": [{"view": "spend", "features": ["spend", "orders"]}],
            "schema": [{"name": "ratio", "dtype": "float64"}]}),
        obj("feature_service", "svc", {"name": "svc", "features": [
            {"view": "spend", "features": ["spend"]}, {"view": "ratio", "features": ["ratio"]}]}),
    ]  # fmt: skip


def _runs(client: Client) -> tuple[str, str, str]:
    store = client.store
    diff_hash = _put(client, b"--- a/train.py\n+++ b/train.py\n")
    flow = store.create_run(NewRun(
        id="a" * 32, project="TrainFlow", name="TrainFlow/1", start_ms=NOW, kind="flow",
        code_version=f"{COMMIT}-dirty", tags={"shipyard.git.repo": "/src/repo"},
        artifacts=(ArtifactRecord("a" * 32, "code/uncommitted.diff", diff_hash, 30, "file", NOW),),
    ))  # fmt: skip
    store.flows.create_flow_run(flow.id, "TrainFlow", "{}")
    task = store.create_run(NewRun(
        id="b" * 32, project="TrainFlow", name="train", start_ms=NOW + 1, kind="task",
        parent_id=flow.id, tags={"step": "train", "shipyard.dataset.training": "1"},
    ))  # fmt: skip
    store.flows.add_task(TaskRecord(task.id, flow.id, "train", "", 0, [], None, None, None,
                                    RunStatus.FINISHED, NOW + 1, NOW + 2))  # fmt: skip
    return flow.id, task.id, diff_hash


@pytest.fixture
def scenario(shipyard_client: Client, tmp_path: Path) -> Scenario:
    """The scenario in the test's SHIPYARD_HOME (SQLite), where the CLI and API look."""
    return build_scenario(shipyard_client, tmp_path)


def build_scenario(client: Client, tmp_path: Path) -> Scenario:
    store = client.store
    store.features.apply_feature_objects("shop", _objects(str(tmp_path / "tx.parquet")), "ana", NOW)
    flow_id, task_id, diff_hash = _runs(client)
    lineage = {
        "project": "shop", "feature_service": "svc",
        "feature_views": {"spend": {"version": 1, "features": ["spend", "orders"],
                                    "source": "tx", "source_fingerprint": FINGERPRINT}},
        "on_demand_feature_views": {"ratio": 1}, "entity_df_hash": "e" * 64,
    }  # fmt: skip
    store.features.create_dataset("shop", "training", "d" * 64, 10, 100, lineage, "ana", NOW + 5,
                                  run_id=task_id)  # fmt: skip
    new = NewModelVersion("sklearn", "m" * 64, run_id=task_id, dataset="dataset:shop/training/1",
                          feature_service="shop/svc")  # fmt: skip
    store.models.create_model_version("churn", new, "ana", NOW + 10)
    store.models.move_alias("churn", "production", 1, "ana", NOW + 11)
    store.models.create_model_version("unrelated", NewModelVersion("sklearn", "n" * 64), "bo", NOW)
    store.features.record_materialization(
        Materialization("shop", "spend", 1, "materialize", None, NOW + 15, 3, NOW + 15, 1)
    )
    store.predictions.append([PredictionCall(
        "0" * 26, "churn", 1, "production", False, NOW + 20, 1.0, 1,
        {"customer_id": [7]}, [0.3], {"spend": [10.0]},
    )])  # fmt: skip
    return Scenario(client, PREDICTION + "000000", flow_id, task_id, diff_hash)
