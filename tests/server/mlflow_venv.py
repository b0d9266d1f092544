"""Test helpers for MLflow compatibility: a throwaway venv with the real ``mlflow`` client
(never a Shipyard dependency), Shipyard's server on a loopback port, ``mlflow server`` on
another, and the scenario run against either.

The venv is built once under ``~/.cache/shipyard-test-venvs/mlflow-VERSION`` (in a
``.partial`` folder renamed when complete, so an interrupted build is never reused).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MLFLOW_VERSION = "3.17.2"
PACKAGES = [f"mlflow=={MLFLOW_VERSION}", "scikit-learn"]
SCENARIO = Path(__file__).with_name("mlflow_client_scenario.py")
BUILD_TIMEOUT = 600


class VenvUnavailable(Exception):
    """The venv could not be built (no network, no index): the reason, for a skip."""


def python_or_skip() -> Path:
    """The venv's interpreter for a test; a skip when it cannot be built, a failure when
    SHIPYARD_TEST_SERVICES=1 says it must be."""
    import pytest

    try:
        return venv_python()
    except VenvUnavailable as exc:
        if os.environ.get("SHIPYARD_TEST_SERVICES") == "1":
            pytest.fail(f"SHIPYARD_TEST_SERVICES=1 but {exc}")
        pytest.skip(str(exc))


def venv_dir() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return root / "shipyard-test-venvs" / f"mlflow-{MLFLOW_VERSION}"


def venv_python() -> Path:
    """The venv's interpreter, building the venv first if it is not there."""
    target = venv_dir()
    python = target / "bin" / "python"
    if python.exists():
        return python
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.with_name(target.name + ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers build it once, in turn
        if not python.exists():
            _build(target)
    return python


def _build(target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", str(partial)],
        [str(partial / "bin" / "python"), "-m", "pip", "install", "-q", *PACKAGES],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise VenvUnavailable(f"{' '.join(step[:4])} took over {BUILD_TIMEOUT} s") from None
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            tail = [line for line in lines if not line.startswith("WARNING")][-2:]
            raise VenvUnavailable(f"cannot build the mlflow venv: {' | '.join(tail)}")
    partial.rename(target)  # scripts are run as `python -m`, so the move is harmless


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@contextmanager
def shipyard_server(client: Any) -> Iterator[str]:
    """Shipyard's app over ``client``, served by uvicorn in a thread; yields its URL."""
    import uvicorn

    from shipyard.server.app import create_app

    port = free_port()
    config = uvicorn.Config(
        create_app(client), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for_port(port, 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MLFLOW_"))}
    env.update(extra)
    return env


@contextmanager
def mlflow_server(python: Path, workdir: Path) -> Iterator[str]:
    """The real ``mlflow server`` (SQLite backend, proxied artifacts) on loopback."""
    port = free_port()
    log = (workdir / "mlflow-server.log").open("w")
    command = [
        str(python), "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1",
        "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
        "--artifacts-destination", str(workdir / "artifacts"),
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=workdir, stdout=log, stderr=log, env=clean_env())
    try:
        wait_for_port(port, 120, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def run_scenario(python: Path, url: str, workdir: Path, script: Path = SCENARIO) -> dict[str, Any]:
    """A scenario's answers against the server at ``url``."""
    out = workdir / f"answers-{script.stem}.json"
    env = clean_env(MLFLOW_TRACKING_URI=url, GIT_PYTHON_REFRESH="quiet")
    done = subprocess.run(
        [str(python), str(script), str(out)],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"the scenario failed against {url}:\n{done.stderr[-4000:]}")
    answers: dict[str, Any] = json.loads(out.read_text())
    return answers
