"""A run records its code version (commit and uncommitted diff) and command line."""

from __future__ import annotations

import subprocess
import sys

import shipyard
from shipyard.tracking import environment


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_commit_and_uncommitted_diff_are_recorded(shipyard_home, tmp_path):
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(
        repo,
        "-c",
        "user.email=a@b",
        "-c",
        "user.name=a",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "init",
    )
    (repo / "train.py").write_text(
        "import shipyard\nwith shipyard.start_run(project='p') as run:\n    print(run.id)\n"
    )
    _git(repo, "add", "train.py")  # staged, not committed: part of the diff
    done = subprocess.run(
        [sys.executable, "train.py"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        env={"SHIPYARD_HOME": str(shipyard_home), "PATH": "/usr/bin:/bin"},
    )
    run = shipyard.get_run(done.stdout.strip())
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert run.code_version == f"{head}-dirty"
    assert "train.py" in run.command
    diff = shipyard.load_artifact(run.id, "code/uncommitted.diff")
    assert b"+import shipyard" in diff


def test_outside_git_the_code_version_is_empty(tmp_path):
    environment.code_version.cache_clear()
    assert environment.code_version(tmp_path).commit == ""
    assert environment.code_version(tmp_path).label == ""
