"""Shared fixtures: the same store tests run on SQLite and on a real PostgreSQL.

PostgreSQL tests skip when no server answers, except with SHIPYARD_TEST_SERVICES=1 (CI),
where an unreachable server fails them. Each test session gets its own database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_ADMIN_URI = os.environ.get(
    "SHIPYARD_TEST_PG_URI", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SERVICES_REQUIRED = os.environ.get("SHIPYARD_TEST_SERVICES") == "1"


def _pg_reachable() -> str | None:
    try:
        engine = sa.create_engine(PG_ADMIN_URI, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure means "not reachable" here
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this session; dropped at the end."""
    problem = _pg_reachable()
    if problem:
        if SERVICES_REQUIRED:
            pytest.fail(f"SHIPYARD_TEST_SERVICES=1 but PostgreSQL is unreachable: {problem}")
        pytest.skip(f"PostgreSQL not reachable: {problem}")
    name = f"shipyard_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URI, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_ADMIN_URI).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(uri: str) -> None:
    from shipyard.store.sql.tables import metadata

    engine = sa.create_engine(uri)
    with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A metadata store URI for each backend; PostgreSQL is emptied after each test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'meta' / 'shipyard.db'}"
        return
    uri = request.getfixturevalue("postgres_database")
    yield uri
    _truncate_all(uri)


@pytest.fixture
def client(store_uri: str, shipyard_home: Path) -> Iterator[Client]:  # noqa: F821
    """A tracking client on each backend, with blobs in the temporary home."""
    from shipyard.tracking import Client

    client = Client(uri=store_uri, artifact_uri=str(shipyard_home / "blobs"))
    yield client
    client.close()
