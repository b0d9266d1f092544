"""Every failure a user can provoke from the shell is one line on stderr, exit code 1:
out-of-range versions, a damaged or emptied metadata file, a filter that does not parse."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from shipyard.registry import ModelRegistry
from shipyard.session import close_current

HUGE = str(2**63)  # one past the largest version both backends can hold


def _one_line_error(result: tuple[int, str, str], *words: str) -> str:
    code, _, err = result
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ") and "Traceback" not in err
    for word in words:
        assert word in err, err
    return err


@pytest.fixture
def churn(shipyard_client) -> Path:  # type: ignore[no-untyped-def]
    """A home with one run (with a metric and an artifact) and a registered model."""
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 2)), rng.integers(0, 2, 40)
    run = shipyard_client.create_run("p", capture_code=False)
    shipyard_client.log_metric(run.id, "auc", 0.9)
    shipyard_client.log_text(run.id, "hello", "notes.txt")
    shipyard_client.end_run(run.id)
    ModelRegistry(shipyard_client).register_model("churn", LogisticRegression().fit(X, y))
    home = shipyard_client.settings.home
    close_current()  # the writing process ends: its engine lets go of the file
    with sqlite3.connect(home / "shipyard.db") as conn:  # everything into the main file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Path(home)


def test_a_version_past_int64_is_one_line_everywhere(cli, churn, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows, scores = tmp_path / "rows.csv", tmp_path / "scores.parquet"
    rows.write_text("a,b\n0.1,0.2\n")
    for args in (
        ("models", "show", f"churn/{HUGE}"),
        ("models", "show", f"models:/churn/{HUGE}"),
        ("models", "alias", "churn", "production", HUGE),
        ("models", "promote", "churn", HUGE, "--to", "production"),
        ("models", "card", f"churn/{HUGE}"),
        ("predict", f"models:/churn/{HUGE}", "--input", str(rows), "--output", str(scores)),
        ("predictions", "ls", "churn", "--version", HUGE),
    ):
        _one_line_error(cli(*args), HUGE, "out of range")
    code, out, _ = cli("models", "show", "churn/1")
    assert code == 0 and '"version": 1' in out  # the store is untouched


def _damage(db: Path, how: str) -> None:
    data = bytearray(db.read_bytes())
    if how == "not a database":
        data[:16] = b"definitely not!\x00"  # the header SQLite checks first
    else:  # keep page 1 (header and schema), overwrite every table page
        data[4096:] = b"\x5a" * (len(data) - 4096)
    db.write_bytes(bytes(data))


COMMANDS = (
    ("runs", "ls"),
    ("projects", "ls"),
    ("models", "ls"),
    ("models", "show", "churn/1"),
    ("models", "versions", "churn"),
    ("predictions", "ls", "churn"),
    ("features", "ls"),
    ("db", "current"),
    ("gc",),
)


@pytest.mark.parametrize("how", ["not a database", "malformed"])
def test_a_damaged_database_is_one_line_in_every_command(cli, churn, how) -> None:  # type: ignore[no-untyped-def]
    _damage(churn / "shipyard.db", how)
    for args in COMMANDS:
        err = _one_line_error(cli(*args), "damaged", "shipyard doctor")
        assert "is not a database" in err or "malformed" in err


def test_a_zero_byte_metadata_file_beside_blobs_is_refused_until_deleted(cli, churn) -> None:  # type: ignore[no-untyped-def]
    db = churn / "shipyard.db"
    db.write_bytes(b"")
    for args in (("runs", "ls"), ("models", "ls")):
        _one_line_error(cli(*args), "empty (zero-byte)", "backup", "delete the empty file")
    assert db.stat().st_size == 0  # refused without touching it
    db.unlink()  # the user asks for a new store over the old blobs
    code, out, _ = cli("runs", "ls")
    assert code == 0 and "no runs yet" in out


def test_a_zero_byte_metadata_file_without_blobs_is_a_new_store(cli, shipyard_home) -> None:  # type: ignore[no-untyped-def]
    shipyard_home.mkdir(parents=True)
    (shipyard_home / "shipyard.db").write_bytes(b"")
    code, out, _ = cli("runs", "ls")
    assert code == 0 and "no runs yet" in out


def test_filter_errors_point_into_the_filter_as_typed(cli, churn) -> None:  # type: ignore[no-untyped-def]
    err = _one_line_error(cli("runs", "ls", "--filter", "metrics.auc >> 1"))
    assert "at position 13 in filter 'metrics.auc >> 1'" in err
    err = _one_line_error(cli("runs", "ls", "--filter", "params.C = 1.0"))
    assert "quote the value: '1.0'" in err
