"""shipyard.store.doctor: each check finds what it is about, on SQLite and PostgreSQL, and
leaves the stores as they were."""

from __future__ import annotations

import os
import sqlite3
import time
import uuid

import pytest
import sqlalchemy as sa

from shipyard.store.base import NewRun
from shipyard.store.doctor import diagnose
from shipyard.store.sql import migrate

HOUR_AGO = time.time() - 7200


def _diagnose(client, **kwargs):
    return diagnose(client.settings.uri, client.settings.artifact_uri, **kwargs)


def _messages(report):
    return [p.message for p in report.problems]


def test_a_store_with_runs_artifacts_and_models_is_healthy(client):
    run = client.create_run(project="doc", run_name="ok")
    client.log_text(run.id, "hello", "notes.txt")
    client.end_run(run.id)
    report = _diagnose(client, min_age_s=0)
    assert report.ok, _messages(report)
    assert report.checked["referenced_blobs"] >= 2  # the artifact and the environment


def test_missing_and_corrupt_blobs_are_named_by_what_refers_to_them(client):
    run = client.create_run(project="doc", run_name="damaged")
    gone = client.log_text(run.id, "soon gone", "gone.txt")
    bad = client.log_text(run.id, "soon altered", "altered.txt")
    client.end_run(run.id)
    os.remove(client.blobs.path(gone.blob_hash))
    with open(client.blobs.path(bad.blob_hash), "ab") as handle:
        handle.write(b"!")

    report = _diagnose(client)
    missing, corrupt = sorted(report.problems, key=lambda p: "corrupt" in p.message)
    assert missing.items[0] == gone.blob_hash and corrupt.items[0] == bad.blob_hash
    assert f"run {run.id[:8]} artifact 'gone.txt'" in missing.message
    assert "is missing: log the artifact again" in missing.message
    assert f"run {run.id[:8]} artifact 'altered.txt'" in corrupt.message
    assert "is corrupt" in corrupt.message and client.blobs.path(bad.blob_hash) in corrupt.message
    # --quick only looks for the files: the altered one is there
    assert [p.items[0] for p in _diagnose(client, quick=True).problems] == [gone.blob_hash]


def test_a_stuck_running_run_is_named_with_the_command_that_reaps_it(client):
    now_ms = int(time.time() * 1000)
    stuck = uuid.uuid4().hex
    client.store.create_run(NewRun(stuck, "doc", "stuck", start_ms=now_ms - 3_600_000))
    alive = uuid.uuid4().hex
    client.store.create_run(NewRun(alive, "doc", "alive", start_ms=now_ms - 3_600_000))
    client.store.heartbeat([alive], now_ms - 5_000)

    report = _diagnose(client, now_ms=now_ms, heartbeat_timeout_s=120)
    assert [p.items for p in report.problems] == [(stuck,)]
    assert f"run {stuck[:8]} (doc/stuck) is RUNNING" in report.problems[0].message
    assert "1.0 h ago" in report.problems[0].message
    assert "`shipyard runs reap`" in report.problems[0].message
    assert report.checked["running_runs"] == 2


def test_orphaned_blobs_and_temp_files_older_than_the_min_age_are_reported(client):
    run = client.create_run(project="doc")
    client.log_text(run.id, "kept", "kept.txt")
    client.end_run(run.id)
    old = client.blobs.put_bytes(b"nothing refers to me")
    young = client.blobs.put_bytes(b"a writer is about to refer to me")
    os.utime(client.blobs.path(old.hash), (HOUR_AGO, HOUR_AGO))
    temp = os.path.join(client.blobs.root, ".tmp", "interrupted")
    with open(temp, "wb") as handle:
        handle.write(b"half a blob")
    os.utime(temp, (HOUR_AGO, HOUR_AGO))

    report = _diagnose(client)
    orphans, temps = report.problems
    assert orphans.items == (old.hash,) and young.hash not in orphans.items
    assert "1 orphaned blob(s)" in orphans.message and "`shipyard gc --yes`" in orphans.message
    assert temps.items == (temp,) and "temp file" in temps.message
    assert client.blobs.exists(old.hash) and os.path.exists(temp)  # reported, not deleted


def test_a_schema_behind_head_says_to_upgrade(client, store_uri):
    client.create_run(project="doc")
    engine = sa.create_engine(store_uri.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '0004'"))
        report = _diagnose(client)
        assert "is at schema revision 0004: run `shipyard db upgrade`" in report.problems[0].message
        assert report.skipped  # not opened: opening would migrate it
    finally:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE alembic_version SET version_num = :v"), {"v": migrate.HEAD}
            )
        engine.dispose()


def test_an_unreachable_postgresql_server_is_a_problem_not_a_crash(tmp_path):
    report = diagnose("postgresql://nobody@127.0.0.1:1/shipyard", str(tmp_path / "blobs"))
    (problem,) = report.problems
    assert problem.check == "database" and "check that the server runs" in problem.message


def test_an_empty_database_file_beside_blobs_is_a_problem(shipyard_client):
    blob = shipyard_client.blobs.put_bytes(b"the runs that named me are gone")
    path = shipyard_client.settings.home / "shipyard.db"
    path.touch()
    report = _diagnose(shipyard_client)
    assert "is empty but the blob store holds 1 blob(s)" in report.problems[0].message
    assert path.stat().st_size == 0 and shipyard_client.blobs.exists(blob.hash)


def test_a_fresh_home_is_healthy_and_no_database_is_created(shipyard_client):
    report = _diagnose(shipyard_client)
    assert report.ok and not (shipyard_client.settings.home / "shipyard.db").exists()


@pytest.mark.parametrize(
    ("damage", "error"),
    [("header", "file is not a database"), ("pages", "database disk image is malformed")],
)
def test_a_damaged_sqlite_file_is_reported_read_only(shipyard_client, damage, error):
    run = shipyard_client.create_run(project="doc")
    for i in range(200):
        shipyard_client.log_param(run.id, f"p{i}", "x" * 200)
    shipyard_client.close()
    path = shipyard_client.settings.home / "shipyard.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with open(path, "r+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        start, end = (0, 100) if damage == "header" else (4096, size)
        handle.seek(start)
        handle.write(b"\xff" * (end - start))
    before = path.read_bytes()

    report = _diagnose(shipyard_client)
    (problem,) = report.problems
    assert f"is damaged ({error}" in problem.message and ".recover" in problem.message
    assert path.read_bytes() == before
