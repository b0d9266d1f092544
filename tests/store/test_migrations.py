"""Schema migrations: automatic on first use, concurrent-safe, never losing data."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa

from shipyard.errors import SchemaOutOfDate
from shipyard.store.sql import SqlTrackingStore, migrate
from shipyard.store.sql.engine import Database


def test_head_constant_matches_the_migration_scripts():
    assert migrate.known_revisions()[0] == migrate.HEAD


def test_first_use_creates_the_schema(store_uri):
    store = SqlTrackingStore(store_uri)
    assert migrate.current_revision(store.db) == migrate.HEAD
    assert store.list_projects() == []
    store.close()


def test_upgrade_is_idempotent_and_keeps_data(store_uri):
    store = SqlTrackingStore(store_uri)
    store.create_project("keep-me")
    assert migrate.upgrade(store.db) == (migrate.HEAD, migrate.HEAD)
    store.close()
    reopened = SqlTrackingStore(store_uri)
    assert [p.name for p in reopened.list_projects()] == ["keep-me"]
    reopened.close()


def test_a_newer_schema_is_refused_not_touched(store_uri):
    store = SqlTrackingStore(store_uri)
    store.db.write(lambda c: c.execute(sa.text("UPDATE alembic_version SET version_num='9999'")))
    with pytest.raises(SchemaOutOfDate, match="newer than this Shipyard"):
        SqlTrackingStore(store_uri)
    store.db.write(
        lambda c: c.execute(sa.text(f"UPDATE alembic_version SET version_num='{migrate.HEAD}'"))
    )
    store.close()


@pytest.mark.slow
def test_concurrent_first_opens_migrate_once(tmp_path):
    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    code = (
        "import sys; from shipyard.store.sql import SqlTrackingStore; SqlTrackingStore(sys.argv[1])"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, uri], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    database = Database(uri)
    assert migrate.current_revision(database) == migrate.HEAD
    database.dispose()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    store = SqlTrackingStore(f"sqlite:///{tmp_path / 'x.db'}")
    with store.db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    store.close()
