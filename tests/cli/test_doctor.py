"""`shipyard doctor` on the quickstart's home: healthy, then with damage of each kind; and
`runs show` / `models show` marking what lost its blob."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def quickstart_home(tmp_path_factory):
    """A home the quickstart filled, once per session; tests work on copies of it."""
    home = tmp_path_factory.mktemp("quickstart") / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    done = subprocess.run(
        [sys.executable, "-m", "shipyard.cli", "quickstart", "--max-workers", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=home.parent,
        env={**env, "SHIPYARD_HOME": str(home), "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    return home


@pytest.fixture
def home(quickstart_home, shipyard_home):
    """A copy of the quickstart's home as this test's SHIPYARD_HOME."""
    shutil.copytree(quickstart_home, shipyard_home)
    return shipyard_home


def _references():
    """(model version, an artifact of the flow's end task) with their blob hashes."""
    from shipyard.registry import ModelRegistry
    from shipyard.tracking import Client

    version = ModelRegistry().get_version("models:/churn/1")
    client = Client()
    artifacts = client.list_artifacts(version.run_id)
    artifact = next(a for a in artifacts if a.blob_hash != version.blob_hash)
    client.close()
    return version, artifact


def test_a_healthy_quickstart_home_passes(cli, home):
    code, out, err = cli("doctor")
    assert code == 0, out + err
    assert out.startswith("doctor: no problems in sqlite:///") and "2 online views" in out
    code, out, _ = cli("doctor", "--json", "--quick")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["problems"] == []
    assert report["checked"]["referenced_blobs"] == report["checked"]["stored_blobs"] > 10


def test_a_deleted_and_an_altered_blob_are_each_named(cli, home):
    version, artifact = _references()
    blobs = home / "blobs"
    (blobs / version.blob_hash[:2] / version.blob_hash).unlink()
    with open(blobs / artifact.blob_hash[:2] / artifact.blob_hash, "r+b") as handle:
        handle.write(b"\0")

    code, out, err = cli("doctor")
    assert code == 1 and err == ""
    lines = out.splitlines()
    assert len(lines) == 3 and lines[-1].startswith("doctor: 2 problem(s)")
    assert any(
        f"blob {version.blob_hash[:12]}… of model churn v1 files" in line
        and "is missing: register the model again" in line
        for line in lines
    ), out
    assert any(
        f"blob {artifact.blob_hash[:12]}… of run " in line and "is corrupt" in line
        for line in lines
    ), out
    code, out, _ = cli("doctor", "--json")
    corrupt = next(p for p in json.loads(out)["problems"] if "corrupt" in p["message"])
    assert corrupt["check"] == "blobs" and corrupt["items"][0] == artifact.blob_hash
    assert f"run {artifact.run_id[:8]} artifact {artifact.path!r}" in corrupt["items"]
    code, out, _ = cli("doctor", "--quick", "--json")
    problems = json.loads(out)["problems"]
    assert code == 1 and [p["items"][0] for p in problems] == [version.blob_hash]

    code, out, err = cli("models", "show", "churn/1")
    assert code == 0 and json.loads(out)["missing_blob"] is True and "(missing blob)" in err
    os.remove(blobs / artifact.blob_hash[:2] / artifact.blob_hash)
    code, out, err = cli("runs", "show", artifact.run_id)
    assert code == 0 and re.search(rf"{re.escape(artifact.path)} +\(missing blob\)", out)
    assert "1 artifact blob(s) are missing" in err


@pytest.mark.parametrize(
    ("offset", "error"),
    [(0, "file is not a database"), (4096, "database disk image is malformed")],
)
def test_a_damaged_database_file_is_a_problem_not_a_traceback(cli, home, offset, error):
    db = home / "shipyard.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the quickstart left its pages in the WAL
    conn.close()
    with open(db, "r+b") as handle:
        handle.seek(offset)
        handle.write(b"\xff" * (100 if offset == 0 else db.stat().st_size - offset))

    code, out, err = cli("doctor")
    assert code == 1 and err == ""
    assert f"the metadata store {db} is damaged ({error}" in out
    assert f"`sqlite3 {db} .recover" in out and "restore it from a backup" in out
    assert "skipped:" in out and out.splitlines()[-1].startswith("doctor: 1 problem(s)")
    code, out, _ = cli("doctor", "--json")
    assert code == 1 and json.loads(out)["problems"][0]["check"] == "database"


def test_an_online_store_behind_its_watermark_is_named_with_the_command_that_reloads_it(cli, home):
    (home / "online.db").unlink()  # lost: the watermarks still say everything was loaded
    code, out, _ = cli("doctor")
    assert code == 1
    behind = [line for line in out.splitlines() if "is behind its watermark" in line]
    assert len(behind) == 2, out
    assert {"'customer_profile'", "'customer_spend'"} <= set(re.findall(r"'customer_\w+'", out))
    for line in behind:
        command = re.search(r"`shipyard (features materialize [^`]+)`", line).group(1)
        code, _, err = cli(*command.split())
        assert code == 0, err
    code, out, _ = cli("doctor")
    assert code == 0, out


def _state(home):
    """Every file but the metadata store's, byte for byte, and the store's rows (its file
    may change when SQLite checkpoints its WAL on close)."""
    files = {
        p: p.read_bytes() for p in home.rglob("*") if p.is_file() and "shipyard.db" not in p.name
    }
    conn = sqlite3.connect(f"file:{home / 'shipyard.db'}?mode=ro", uri=True)
    rows = list(conn.iterdump())
    conn.close()
    return files, rows


def test_doctor_changes_nothing(cli, home):
    before = _state(home)
    assert cli("doctor")[0] == 0
    assert _state(home) == before
