"""Schema migrations: automatic on first use, concurrent-safe, never losing data."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa

from shipyard.errors import SchemaOutOfDate
from shipyard.store.base import NewFeatureObject
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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def empty_database_uri(request, tmp_path):
    """A database with no schema at all, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    import uuid

    from tests.conftest import PG_ADMIN_URI

    request.getfixturevalue("postgres_database")  # skips (or fails in CI) when unreachable
    name = f"shipyard_mig_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URI, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.engine.make_url(PG_ADMIN_URI).set(database=name).render_as_string(False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_every_upgrade_step_keeps_existing_data(empty_database_uri):
    """Data written at the first revision is intact after upgrading to head."""
    database = Database(empty_database_uri)
    first = migrate.known_revisions()[-1]
    migrate.upgrade(database, first)
    assert migrate.current_revision(database) == first
    database.write(
        lambda c: c.execute(
            sa.text(
                "INSERT INTO projects (name, description, created_ms, created_by) "
                "VALUES ('old', 'from rev 1', 1, 'me')"
            )
        )
    )
    project_id = database.read(lambda c: c.execute(sa.text("SELECT id FROM projects")).scalar())
    insert_run = sa.text(
        'INSERT INTO runs (id, project_id, name, kind, status, start_ms, heartbeat_ms, "user", '
        "host, pid, command, code_version) VALUES (:id, :p, 'r', 'run', 'FINISHED', 1, 1, "
        "'me', 'h', 1, 'c', '')"
    )
    database.write(lambda c: c.execute(insert_run, {"id": "a" + "0" * 31, "p": project_id}))
    before, after = migrate.upgrade(database)
    assert (before, after) == (first, migrate.HEAD)
    database.dispose()
    store = SqlTrackingStore(empty_database_uri)
    assert [(p.name, p.description) for p in store.list_projects()] == [("old", "from rev 1")]
    run = store.get_run("a" + "0" * 31)
    assert (run.name, run.status.value, run.project) == ("r", "FINISHED", "old")
    store.close()


def test_the_migrations_create_exactly_the_declared_tables(empty_database_uri):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from shipyard.store.sql.tables import metadata

    assert {"feature_objects", "feature_object_blobs", "datasets"} <= set(metadata.tables)
    database = Database(empty_database_uri)
    migrate.upgrade(database)
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
    database.dispose()


def test_data_from_revision_0002_survives_the_feature_tables(empty_database_uri):
    database = Database(empty_database_uri)
    migrate.upgrade(database, "0002")
    database.write(
        lambda c: c.execute(
            sa.text(
                "INSERT INTO projects (name, description, created_ms, created_by) "
                "VALUES ('old', 'from rev 2', 1, 'me')"
            )
        )
    )
    project_id = database.read(lambda c: c.execute(sa.text("SELECT id FROM projects")).scalar())
    insert_run = sa.text(
        'INSERT INTO runs (id, project_id, name, kind, status, start_ms, heartbeat_ms, "user", '
        "host, pid, command, code_version) VALUES (:id, :p, 'r', 'flow', 'FINISHED', 1, 1, "
        "'me', 'h', 1, 'c', '')"
    )
    database.write(lambda c: c.execute(insert_run, {"id": "b" * 32, "p": project_id}))
    database.write(
        lambda c: c.execute(
            sa.text(
                "INSERT INTO flow_runs (run_id, flow_name, number, graph) "
                "VALUES (:id, 'TrainFlow', 1, '{}')"
            ),
            {"id": "b" * 32},
        )
    )
    assert migrate.upgrade(database) == ("0002", migrate.HEAD)
    database.dispose()

    store = SqlTrackingStore(empty_database_uri)
    assert [(p.name, p.description) for p in store.list_projects()] == [("old", "from rev 2")]
    assert store.flows.get_flow_run("TrainFlow", 1).run_id == "b" * 32
    [applied] = store.features.apply_feature_objects(
        "old", [NewFeatureObject("feature_view", "stats", {"v": 1}, "f" * 64)], "me", 2
    )
    assert applied.version == 1
    dataset = store.features.create_dataset("old", "train", "1" * 64, 1, 1, {}, "me", 3, "b" * 32)
    assert dataset.run_id == "b" * 32
    assert [p.name for p in store.list_projects()] == ["old"]  # the same project, reused
    store.close()


def test_data_from_revision_0003_survives_the_registry_tables(empty_database_uri):
    from shipyard.store.base import NewModelVersion

    database = Database(empty_database_uri)
    migrate.upgrade(database, "0003")
    database.write(
        lambda c: c.execute(
            sa.text(
                "INSERT INTO projects (name, description, created_ms, created_by) "
                "VALUES ('old', 'from rev 3', 1, 'me')"
            )
        )
    )
    project_id = database.read(lambda c: c.execute(sa.text("SELECT id FROM projects")).scalar())
    insert_run = sa.text(
        'INSERT INTO runs (id, project_id, name, kind, status, start_ms, heartbeat_ms, "user", '
        "host, pid, command, code_version) VALUES (:id, :p, 'train', 'run', 'FINISHED', 1, 1, "
        "'me', 'h', 1, 'c', '')"
    )
    database.write(lambda c: c.execute(insert_run, {"id": "c" * 32, "p": project_id}))
    database.write(
        lambda c: c.execute(
            sa.text(
                "INSERT INTO datasets (project_id, name, version, blob_hash, row_count, "
                "size_bytes, lineage, created_by, created_ms, run_id) "
                "VALUES (:p, 'train', 1, :h, 10, 100, '{}', 'me', 2, :r)"
            ),
            {"p": project_id, "h": "d" * 64, "r": "c" * 32},
        )
    )
    assert migrate.upgrade(database) == ("0003", migrate.HEAD)
    database.dispose()

    store = SqlTrackingStore(empty_database_uri)
    assert [(p.name, p.description) for p in store.list_projects()] == [("old", "from rev 3")]
    assert store.get_run("c" * 32).name == "train"
    assert store.features.get_dataset("old", "train").blob_hash == "d" * 64
    new = NewModelVersion("sklearn", "e" * 64, run_id="c" * 32, dataset="old/train/1")
    registered = store.models.create_model_version("fraud", new, "me", 3)
    assert (registered.version, registered.run_id) == (1, "c" * 32)
    store.models.move_alias("fraud", "champion", 1, "me", 4)
    assert store.models.resolve_alias("fraud", "champion") == 1
    assert {"d" * 64, "e" * 64} <= store.referenced_blobs()
    store.close()
