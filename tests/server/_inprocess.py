"""The app over the test's client, called in process (no server, no port)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from shipyard.server import create_app
from shipyard.tracking import Client

with warnings.catch_warnings():  # starlette's test client warns about its httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

__all__ = ["TestClient", "inprocess_api"]


@pytest.fixture(name="api")
def inprocess_api(shipyard_client: Client) -> Iterator[TestClient]:
    """``api``: in the modules that import it, it stands for the live server's."""
    with TestClient(create_app(shipyard_client)) as http:
        yield http
