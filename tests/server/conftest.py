"""A live server on loopback for the /api/v1 tests: uvicorn in a thread of the test
process over a temporary SQLite store, and an httpx client for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipyard.server import create_app
from shipyard.server.run import ServerThread
from shipyard.tracking import Client


@pytest.fixture
def backing(tmp_path: Path) -> Iterator[Client]:
    """The server's own client: a temporary SQLite store and blob folder."""
    client = Client(
        uri=f"sqlite:///{tmp_path / 'server' / 'shipyard.db'}",
        artifact_uri=str(tmp_path / "server" / "blobs"),
    )
    yield client
    client.close()


@pytest.fixture
def live_server(backing: Client) -> Iterator[ServerThread]:
    server = ServerThread(create_app(backing)).start()
    yield server
    server.stop()


@pytest.fixture
def api(live_server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{live_server.url}/api/v1", timeout=30) as http:
        yield http
