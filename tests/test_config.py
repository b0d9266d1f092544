"""Settings: environment > shipyard.toml > defaults, each with its source."""

from __future__ import annotations

import pytest

from shipyard.config import load_settings
from shipyard.errors import InvalidArgument


def test_defaults_follow_home(tmp_path):
    settings = load_settings(env={"SHIPYARD_HOME": str(tmp_path)}, cwd=tmp_path)
    assert settings.uri == f"sqlite:///{tmp_path / 'shipyard.db'}"
    assert settings.artifact_uri == str(tmp_path / "blobs")
    assert settings.source("home") == "env SHIPYARD_HOME"
    assert settings.source("uri") == "default"


def test_toml_in_a_parent_folder_and_env_precedence(tmp_path):
    (tmp_path / "shipyard.toml").write_text(
        'project = "churn"\nartifact_uri = "artifacts"\nheartbeat_timeout = 30\n'
    )
    nested = tmp_path / "src" / "pkg"
    nested.mkdir(parents=True)
    settings = load_settings(env={"SHIPYARD_PROJECT": "from-env"}, cwd=nested)
    assert settings.project == "from-env" and settings.source("project") == "env SHIPYARD_PROJECT"
    assert settings.artifact_uri == str(tmp_path / "artifacts")  # relative to the toml
    assert settings.heartbeat_timeout == 30.0
    assert settings.source("heartbeat_timeout") == str(tmp_path / "shipyard.toml")


def test_explicit_arguments_win(tmp_path):
    settings = load_settings(
        {"uri": "postgresql://x@h/db"}, env={"SHIPYARD_URI": "sqlite:///a"}, cwd=tmp_path
    )
    assert settings.uri == "postgresql://x@h/db" and settings.source("uri") == "argument"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("colour = 'blue'", "unknown setting"),
        ("heartbeat_interval = -1", "positive"),
        ("nonfinite_metrics = 'maybe'", "allow, skip, error"),
        ("project = ", "cannot read"),
    ],
)
def test_bad_toml_is_explained(tmp_path, content, message):
    (tmp_path / "shipyard.toml").write_text(content)
    with pytest.raises(InvalidArgument, match=message):
        load_settings(env={}, cwd=tmp_path)
