"""Shared fixtures: the same store tests run on SQLite and on a real PostgreSQL (and the
contract suites, tests/contract, also through a live ``shipyard server`` on loopback
backed by that PostgreSQL: ``server`` mode, where the client's store is a ``RestStore``).

PostgreSQL tests skip when no server answers, except with SHIPYARD_TEST_SERVICES=1 (CI),
where an unreachable server fails them. Each test session gets its own database.

Four kinds of test may skip for want of something outside the code, and CI must not pass
on such a skip: ``services`` tests (PostgreSQL, Redis), ``flavors`` tests (a model
framework; torch is not in the ``dev`` extra for its size, see ``heavy-flavors``), the
``docs`` test (MkDocs, in the ``docs`` extra) and ``ray`` tests (the ``ray`` extra, not in
``dev`` either). With the kind's variable set to 1 (``GATES``: SHIPYARD_TEST_SERVICES,
SHIPYARD_TEST_FLAVORS, SHIPYARD_TEST_DOCS for the ``docs`` test that builds the site with
MkDocs, SHIPYARD_TEST_RAY),
the run fails if any test of that kind was skipped or deselected (``RequiredGate``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

PG_ADMIN_URI = os.environ.get(
    "SHIPYARD_TEST_PG_URI", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SERVICES_REQUIRED = os.environ.get("SHIPYARD_TEST_SERVICES") == "1"

pytest_plugins = ["pytester"]  # tests/test_gates.py runs pytest inside pytest

# marker -> (the variable that makes its tests mandatory, what running them all needs)
GATES = {
    "services": (
        "SHIPYARD_TEST_SERVICES",
        "PostgreSQL and Redis running, initdb and pg_ctl installed",
    ),
    "flavors": (
        "SHIPYARD_TEST_FLAVORS",
        "every framework installed: pip install -e '.[dev,heavy-flavors]'",
    ),
    "docs": (
        "SHIPYARD_TEST_DOCS",
        "MkDocs and its plugins installed: pip install -e '.[docs]'",
    ),
    "ray": ("SHIPYARD_TEST_RAY", "Ray installed: pip install -e '.[dev,ray]'"),
}


class RequiredGate:
    """With its variable set to 1, a test carrying ``marker`` that did not run fails the
    run: CI must not pass on tests that skipped because a server or a framework was
    missing, or that a ``-m`` or ``-k`` left out."""

    def __init__(self, marker: str, variable: str, needs: str) -> None:
        self.marker, self.variable, self.needs = marker, variable, needs
        self.missed: dict[str, str] = {}  # node id -> why it did not run

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            if item.get_closest_marker(self.marker) is not None:
                self.missed.setdefault(item.nodeid, "deselected")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and self.marker in report.keywords and not hasattr(report, "wasxfail"):
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
            reason = str(reason).removeprefix("Skipped: ")
            self.missed.setdefault(report.nodeid, f"skipped: {reason}")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.missed and session.exitstatus in (pytest.ExitCode.OK, 5):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.missed:
            return
        terminalreporter.section(f"{self.marker} tests that did not run", sep="=", red=True)
        for nodeid, why in self.missed.items():
            terminalreporter.line(f"{nodeid}: {why}")
        terminalreporter.line(
            f"error: {self.variable}=1 but {len(self.missed)} test(s) marked "
            f"'{self.marker}' did not run: run them all (no -m, -k or --deselect leaving "
            f"them out; {self.needs}), or unset {self.variable}",
            red=True,
            bold=True,
        )


def pytest_configure(config: pytest.Config) -> None:
    for marker, (variable, needs) in GATES.items():
        if os.environ.get(variable) == "1":
            gate = RequiredGate(marker, variable, needs)
            config.pluginmanager.register(gate, f"shipyard-{marker}-gate")


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
    """A metadata store URI for each backend; PostgreSQL is emptied after each test.
    (tests/contract adds a third backend, ``server``: see ``backend_uri``.)"""
    yield from backend_uri(request, tmp_path)


def backend_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The store URI for ``request.param``: ``sqlite``, ``postgresql`` (emptied after the
    test) or ``server``: the URL of a server (in a thread) over a fresh PostgreSQL store,
    whose blobs live where the ``client`` fixture puts them."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'meta' / 'shipyard.db'}"
        return
    uri = request.getfixturevalue("postgres_database")
    if request.param == "postgresql":
        yield uri
        _truncate_all(uri)
        return
    from shipyard.server import create_app
    from shipyard.server.run import ServerThread
    from shipyard.tracking import Client

    backing = Client(uri=uri, artifact_uri=str(tmp_path / "shipyard-home" / "blobs"))
    server = ServerThread(create_app(backing)).start()
    yield server.url
    server.stop()
    backing.close()
    _truncate_all(uri)


def open_store(uri: str) -> Any:
    """The contract suites' store for ``uri``: the SQLAlchemy store, or a ``RestStore``
    for a server's URL."""
    if uri.startswith(("http://", "https://")):
        from shipyard.store.rest import RestStore

        return RestStore(uri)
    from shipyard.store.sql import SqlTrackingStore

    return SqlTrackingStore(uri)


@pytest.fixture
def client(store_uri: str, shipyard_home: Path) -> Iterator[Client]:  # noqa: F821
    """A tracking client on each backend, with blobs in the temporary home."""
    from shipyard.tracking import Client

    client = Client(uri=store_uri, artifact_uri=str(shipyard_home / "blobs"))
    yield client
    client.close()


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """A local Ray (2 CPUs, no dashboard) for one module's ``ray`` tests; the ray module.
    Skips without Ray (``ray`` tests must run with SHIPYARD_TEST_RAY=1, as in CI)."""
    ray = pytest.importorskip("ray", reason="needs Ray: pip install 'shipyard[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        yield ray
    finally:
        ray.shutdown()
