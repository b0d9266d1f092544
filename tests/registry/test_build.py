"""`build_model`: a self-contained folder that loads without the store, written whole or
not at all, never over someone's files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard.registry.build as build_module
from shipyard.errors import AlreadyExists, Conflict, NotFound
from shipyard.registry import ModelRegistry, build_model, load_model_dir
from shipyard.registry.build import ShipyardSource, requirements_txt, shipyard_source
from shipyard.tracking import Client


@pytest.fixture
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"age": rng.integers(18, 80, 100), "spend": rng.random(100) * 100})
    return X, (X["spend"] > 50).astype(int).to_numpy()


@pytest.fixture
def registry(shipyard_client: Client, data: tuple[pd.DataFrame, np.ndarray]) -> ModelRegistry:
    X, y = data
    registry = ModelRegistry(shipyard_client)
    for c in (1.0, 0.01):
        registry.register_model(
            "churn", LogisticRegression(C=c).fit(X, y), input_example=X.head(3),
            feature_service="shop/churn", metrics={"auc": 0.9},
        )  # fmt: skip
    registry.set_alias("churn", "production", 2)
    return registry


@pytest.fixture
def pinned_shipyard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip the (slow) wheel build: Shipyard as if installed from an index."""
    monkeypatch.setattr(
        build_module, "shipyard_source", lambda wheels: ShipyardSource("shipyard==9")
    )


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


@pytest.mark.usefixtures("pinned_shipyard")
def test_the_folder_loads_without_the_store_and_predicts_like_the_original(
    registry: ModelRegistry, data: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    X, _ = data
    folder = build_model(registry, "churn@production", tmp_path / "out")
    assert folder == tmp_path / "out"
    record = json.loads((folder / "model" / "shipyard-version.json").read_text())
    assert (record["name"], record["version"], record["flavor"]) == ("churn", 2, "sklearn")
    assert record["uri"] == "models:/churn/2" and record["feature_service"] == "shop/churn"
    assert record["signature"]["inputs"][0] == {"name": "age", "type": "long"}
    original = registry.load_model("models:/churn/2")
    for path in (folder, folder / "model"):
        loaded = load_model_dir(path)
        assert loaded.record == original.record
        np.testing.assert_array_equal(loaded.predict(X), original.predict(X))
    requirements = (folder / "requirements.txt").read_text().splitlines()
    lines = [r for r in requirements if not r.startswith("#")]
    assert lines[0].startswith("scikit-learn==") and lines[1] == "shipyard==9"
    assert all("==" in r for r in lines) and not any(
        r.startswith("scikit-learn") for r in lines[1:]
    )
    assert any(r.startswith("fastapi==") for r in lines)
    docker = (folder / "Dockerfile").read_text()
    assert docker.splitlines()[1].startswith("FROM python:3.")
    assert "EXPOSE 8080" in docker and "/health" in docker and "HEALTHCHECK" in docker
    assert 'CMD ["shipyard", "serve", "/model", "--host", "0.0.0.0", "--port", "8080"]' in docker
    assert "COPY wheels/" not in docker
    readme = (folder / "README.md").read_text()
    assert "docker build -t churn:2 ." in readme and "Before you build" not in readme
    assert _leftovers(tmp_path) == []


@pytest.mark.usefixtures("pinned_shipyard")
def test_a_non_empty_folder_is_refused_and_force_replaces_only_a_previous_build(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(AlreadyExists, match="not empty"):
        build_model(registry, "churn/1", mine)
    with pytest.raises(Conflict, match="only replaces a previous build"):
        build_model(registry, "churn/1", mine, force=True)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    build_model(registry, "churn/1", empty)  # an empty folder is fine
    with pytest.raises(AlreadyExists, match="--force"):
        build_model(registry, "churn@production", empty)
    build_model(registry, "churn@production", empty, force=True)
    assert load_model_dir(empty).version == 2
    assert _leftovers(tmp_path) == []


@pytest.mark.usefixtures("pinned_shipyard")
def test_a_failed_build_leaves_nothing_and_keeps_the_previous_one(
    registry: ModelRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("disk full")

    builds = tmp_path / "builds"
    monkeypatch.setattr(build_module, "dockerfile", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        build_model(registry, "churn/1", builds / "out")
    assert list(builds.iterdir()) == []
    monkeypatch.undo()
    monkeypatch.setattr(build_module, "shipyard_source", lambda wheels: ShipyardSource("x==1"))
    build_model(registry, "churn/1", builds / "out")
    monkeypatch.setattr(build_module, "dockerfile", broken)
    with pytest.raises(RuntimeError):
        build_model(registry, "churn/2", builds / "out", force=True)
    assert load_model_dir(builds / "out").version == 1
    assert [p.name for p in builds.iterdir()] == ["out"]


def test_load_model_dir_says_what_a_built_folder_is(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="shipyard models build"):
        load_model_dir(tmp_path)


class _Dist:
    version = "0.1.0"

    def __init__(self, direct_url: dict[str, Any] | None) -> None:
        self.direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        return None if self.direct_url is None else json.dumps(self.direct_url)


@pytest.mark.parametrize(
    ("direct_url", "requirement"),
    [
        (None, "shipyard==0.1.0"),
        (
            {"url": "https://github.com/o/shipyard", "vcs_info": {"vcs": "git", "commit_id": "ab"}},
            "shipyard @ git+https://github.com/o/shipyard@ab",
        ),
        ({"url": "file:///nowhere/at/all", "dir_info": {}}, "shipyard==0.1.0"),
    ],
)
def test_how_shipyard_gets_into_the_image(
    direct_url: dict[str, Any] | None,
    requirement: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(build_module.metadata, "distribution", lambda name: _Dist(direct_url))
    source = shipyard_source(tmp_path / "wheels")
    assert source.requirement == requirement
    assert ("no wheel of it could be made" in source.note) == (direct_url is not None and (
        "vcs_info" not in direct_url
    ))  # fmt: skip


def test_the_models_own_pins_win(registry: ModelRegistry) -> None:
    record = registry.get_version("churn", 1).record
    pinned = record.__class__(**{**record.__dict__, "requirements": ("NumPy==1.0", "extra-lib")})
    lines = requirements_txt(pinned, ShipyardSource("shipyard==9")).splitlines()
    assert [x for x in lines if x.lower().startswith("numpy")] == ["NumPy==1.0"]
    assert "extra-lib" in lines and not any("extra ==" in x for x in lines)


@pytest.mark.slow
def test_an_editable_install_ships_a_wheel_of_itself(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    direct = build_module.metadata.distribution("shipyard").read_text("direct_url.json")
    if direct is None or not json.loads(direct).get("url", "").startswith("file:"):
        pytest.skip("shipyard is installed from an index here: no wheel to build")
    folder = build_model(registry, "churn@production", tmp_path / "out")
    wheels = sorted((folder / "wheels").glob("shipyard-*.whl"))
    assert len(wheels) == 1, (folder / "README.md").read_text()
    with zipfile.ZipFile(wheels[0]) as wheel:
        assert "shipyard/registry/build.py" in wheel.namelist()
    assert f"./wheels/{wheels[0].name}" in (folder / "requirements.txt").read_text()
    assert "COPY wheels/ ./wheels/" in (folder / "Dockerfile").read_text()
