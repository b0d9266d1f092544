"""The contract suites run on a third backend too: ``server``, a live ``shipyard server``
on loopback backed by PostgreSQL, reached through a ``RestStore``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import backend_uri


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.services),
        pytest.param("server", marks=pytest.mark.services),
    ]
)
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from backend_uri(request, tmp_path)
