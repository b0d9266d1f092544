"""The tracking contract (tests/contract/test_tracking.py) once more, on the sqlite3 fast
path: a client whose SQLite database is already at the schema head gets a
``LiteTrackingStore``, which makes the hot calls itself and hands the rest to SQLAlchemy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.store.sql import SqlTrackingStore
from shipyard.store.sql.lite import LiteTrackingStore
from shipyard.tracking import Client
from tests.contract.test_tracking import *  # noqa: F403


@pytest.fixture
def client(tmp_path: Path, shipyard_home: Path) -> Iterator[Client]:
    uri = f"sqlite:///{tmp_path / 'meta' / 'shipyard.db'}"
    SqlTrackingStore(uri).close()  # at the head revision: clients open the fast path
    client = Client(uri=uri, artifact_uri=str(shipyard_home / "blobs"))
    assert isinstance(client.store, LiteTrackingStore)
    yield client
    client.close()
