"""A throwaway venv holding a peer tool (``mlflow``, ``metaflow``: never a Shipyard
dependency), built once under ``~/.cache/shipyard-test-venvs/NAME-VERSION`` in a
``.partial`` folder renamed when complete, so an interrupted build is never reused."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BUILD_TIMEOUT = 600


class VenvUnavailable(Exception):
    """The venv could not be built (no network, no index): the reason, for a skip."""


@dataclass(frozen=True)
class PeerVenv:
    name: str  # mlflow, metaflow
    version: str
    packages: tuple[str, ...]

    def python_or_skip(self) -> Path:
        """The venv's interpreter for a test; a skip when it cannot be built, a failure
        when SHIPYARD_TEST_SERVICES=1 says it must be."""
        import pytest

        try:
            return self.python()
        except VenvUnavailable as exc:
            if os.environ.get("SHIPYARD_TEST_SERVICES") == "1":
                pytest.fail(f"SHIPYARD_TEST_SERVICES=1 but {exc}")
            pytest.skip(str(exc))

    def folder(self) -> Path:
        root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        return root / "shipyard-test-venvs" / f"{self.name}-{self.version}"

    def python(self) -> Path:
        """The venv's interpreter, building the venv first if it is not there."""
        target = self.folder()
        python = target / "bin" / "python"
        if python.exists():
            return python
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.with_name(target.name + ".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers build it once, in turn
            if not python.exists():
                self._build(target)
        return python

    def _build(self, target: Path) -> None:
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        steps = [
            [sys.executable, "-m", "venv", str(partial)],
            [str(partial / "bin" / "python"), "-m", "pip", "install", "-q", *self.packages],
        ]
        for step in steps:
            try:
                done = subprocess.run(step, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise VenvUnavailable(f"{' '.join(step[:4])} took over {BUILD_TIMEOUT} s") from None
            if done.returncode != 0:
                lines = (done.stderr or done.stdout).strip().splitlines()
                tail = [line for line in lines if not line.startswith("WARNING")][-2:]
                raise VenvUnavailable(f"cannot build the {self.name} venv: {' | '.join(tail)}")
        # the venv's scripts name its folder in their #! line: the interpreter is called by
        # path (bin/python), which stays valid after the move
        partial.rename(target)
