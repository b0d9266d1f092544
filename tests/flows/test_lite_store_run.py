"""``python flow.py run`` on the embedded store records through the sqlite3 fast path
(``shipyard.store.sql.lite``): once the schema exists, neither the runner nor its worker
imports SQLAlchemy (nor fsspec, for a local blob store). The first run of a fresh home
creates the schema through SQLAlchemy.

Which modules a process imports is read from ``python -X importtime`` (its stderr, which
the forked worker shares), so that no hook in Shipyard's code is needed for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.flows import Flow
from shipyard.store.sql import SqlTrackingStore
from shipyard.store.sql.lite import LiteTrackingStore
from shipyard.tracking import Client

EXAMPLES = Path(__file__).parent / "examples"
ROOT = Path(__file__).parents[2]

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux")


def run_file(
    home: Path, name: str, *args: str
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``python -X importtime EXAMPLE args``; (the process, the modules it imported)."""
    env = {**os.environ, "SHIPYARD_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("SHIPYARD_URI", None)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    return done, imported


def heavy(imported: set[str]) -> list[str]:
    return sorted(m for m in imported if m.split(".")[0] in ("sqlalchemy", "alembic"))


@linux_only
@pytest.mark.slow
def test_a_run_on_the_embedded_store_never_imports_sqlalchemy(shipyard_home: Path) -> None:
    first, imported = run_file(shipyard_home, "imports_flow.py", "run", "--max-workers", "1")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "alembic" in heavy(imported)  # a fresh home: SQLAlchemy created the schema

    second, imported = run_file(shipyard_home, "imports_flow.py", "run", "--max-workers", "1")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "shipyard.store.sql.lite.tracking" in imported  # it took the fast path
    assert heavy(imported) == []  # neither in the runner nor in its (forked) worker
    assert "fsspec" not in imported  # nor fsspec: the blob store is a local folder
    run = Flow("ImportsFlow").latest_run
    assert run.number == 2 and run.successful and run.data.x == 2
    assert run.data.sqlalchemy_in_worker is False  # and the worker says so itself
    assert [s.name for s in run] == ["end", "middle", "start"]  # newest first, as Metaflow


@linux_only
@pytest.mark.slow
def test_resume_after_a_failure_on_the_fast_path(shipyard_home: Path, tmp_path: Path) -> None:
    marker = tmp_path / "broken"
    marker.touch()
    failed, _ = run_file(
        shipyard_home, "resumable_flow.py", "run", "--max-workers", "1", "--marker", str(marker)
    )
    assert failed.returncode == 1 and "item 4 is broken" in failed.stderr
    marker.unlink()
    resumed, imported = run_file(shipyard_home, "resumable_flow.py", "resume", "--max-workers", "1")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert heavy(imported) == []
    run = Flow("ResumableFlow").latest_run
    assert run.successful and run.origin is not None and run.origin.number == 1
    assert run.data.total == sum(100 + i for i in range(6))


def test_a_client_on_an_embedded_store_at_head_uses_the_fast_path(shipyard_home: Path) -> None:
    client = Client()
    SqlTrackingStore(client.settings.uri).close()
    assert isinstance(client.store, LiteTrackingStore)
    client.close()
