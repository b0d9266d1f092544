"""pytest plugin, registered through the ``pytest11`` entry point."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard._clock import FakeClock
from shipyard.config import SETTINGS
from shipyard.tracking import Client


@pytest.fixture
def shipyard_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh embedded store for one test; every SHIPYARD_* setting back to its default."""
    home = tmp_path / "shipyard-home"
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env_var, raising=False)
    monkeypatch.setenv("SHIPYARD_HOME", str(home))
    monkeypatch.chdir(tmp_path)  # no stray shipyard.toml from the caller's folder
    return home


@pytest.fixture
def shipyard_client(shipyard_home: Path) -> Iterator[Client]:
    client = Client()
    yield client
    client.close()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()
