"""Registering, aliasing and loading models through the public API."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.errors import InvalidArgument, NotFound
from shipyard.registry import ModelRegistry, PythonModel
from shipyard.tracking import Client


@pytest.fixture
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"age": rng.integers(18, 80, 200), "spend": rng.random(200) * 100})
    y = (X["spend"] > 50).astype(int).to_numpy()
    return X, y


@pytest.fixture
def registry(shipyard_client: Client) -> ModelRegistry:
    return ModelRegistry(shipyard_client)


def test_register_load_and_versions(registry: ModelRegistry, data: tuple) -> None:  # type: ignore[type-arg]
    X, y = data
    model = LogisticRegression().fit(X, y)
    v1 = registry.register_model("churn", model, input_example=X.head(3), tags={"team": "growth"})
    assert (v1.name, v1.version, v1.flavor) == ("churn", 1, "sklearn")
    assert v1.signature["inputs"] == [
        {"name": "age", "type": "long"},
        {"name": "spend", "type": "double"},
    ]
    assert v1.signature["outputs"] == [{"name": "prediction", "type": "long"}]
    assert any(r.startswith("scikit-learn==") for r in v1.requirements)
    v2 = registry.register_model("churn", LogisticRegression(C=0.1).fit(X, y))
    assert v2.version == 2
    loaded = registry.load_model("models:/churn/1")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert [v.version for v in registry.versions("churn")] == [2, 1]
    assert registry.get_model("churn").latest_version == 2


def test_aliases_move_and_every_move_is_kept(registry: ModelRegistry, data: tuple) -> None:  # type: ignore[type-arg]
    X, y = data
    for c in (1.0, 0.1):
        registry.register_model("churn", LogisticRegression(C=c).fit(X, y))
    registry.set_alias("churn", "production", 1)
    assert registry.load_model("models:/churn@production").version == 1
    registry.set_alias("churn", "production", 2)
    assert registry.get_version("models:/churn@production").version == 2
    moves = registry.alias_history("churn", "production")
    assert [(m.from_version, m.to_version) for m in moves] == [(1, 2), (None, 1)]
    assert all(m.moved_by for m in moves)
    with pytest.raises(NotFound, match="production"):
        registry.load_model("models:/churn@staging")


def test_inside_a_run_the_version_links_the_run_and_its_metrics(
    registry: ModelRegistry,
    data: tuple,  # type: ignore[type-arg]
) -> None:
    X, y = data
    with shipyard.start_run(project="p", client=registry.client) as run:
        model = LogisticRegression().fit(X, y)
        shipyard.log_metric("auc", 0.91)
        shipyard.log_object(model, "model.pkl")
        version = registry.register_model("churn", model)
    assert version.run_id == run.id
    assert version.metrics == {"auc": 0.91}
    from_artifact = registry.register_model("churn", run_id=run.id, artifact="model.pkl")
    assert from_artifact.run_id == run.id
    np.testing.assert_array_equal(
        registry.load_model(from_artifact.uri).predict(X), model.predict(X)
    )


class Doubler(PythonModel):
    def load_context(self, context):  # type: ignore[no-untyped-def]
        self.factor = 2

    def predict(self, context, model_input):  # type: ignore[no-untyped-def]
        return np.asarray(model_input["x"]) * self.factor


def test_python_model_loads_in_another_process(
    registry: ModelRegistry, shipyard_home: Path, tmp_path: Path
) -> None:
    version = registry.register_model(
        "doubler", Doubler(), input_example=pd.DataFrame({"x": [1.0, 2.0]})
    )
    assert version.flavor == "python_model"
    script = textwrap.dedent(
        f"""
        import pandas as pd, shipyard
        model = shipyard.load_model({version.uri!r})
        print(model.predict(pd.DataFrame({{"x": [3.0, 4.0]}})).tolist())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, cwd=tmp_path
    )
    assert out.stdout.strip() == "[6.0, 8.0]", out.stderr[-800:]


def test_bad_input_is_refused_with_a_reason(registry: ModelRegistry, data: tuple) -> None:  # type: ignore[type-arg]
    X, y = data
    with pytest.raises(InvalidArgument, match="models:/NAME/VERSION or models:/NAME@ALIAS"):
        registry.load_model("churn@production")
    with pytest.raises(InvalidArgument, match="cannot tell the flavor"):
        registry.register_model("odd", object())
    with pytest.raises(InvalidArgument, match="failed to predict on its input_example"):
        registry.register_model(
            "churn", LogisticRegression().fit(X, y), input_example=pd.DataFrame({"other": [1]})
        )
    with pytest.raises(InvalidArgument, match="give a model"):
        registry.register_model("churn")
    with pytest.raises(NotFound):
        registry.load_model("models:/nothing/1")
    assert registry.list_models() == []  # nothing half-registered


def test_metrics_just_logged_in_the_active_run_are_recorded(shipyard_client, data) -> None:
    X, y = data
    with shipyard.start_run(project="p"):  # the run has its own client and metric buffer
        shipyard.log_metric("auc", 0.91)
        version = shipyard.register_model("churn", LogisticRegression().fit(X, y))
    assert version.metrics == {"auc": 0.91}
