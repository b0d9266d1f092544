"""Test helpers for MLflow compatibility: a throwaway venv with the real ``mlflow`` client
(never a Shipyard dependency), Shipyard's server on a loopback port, ``mlflow server`` on
another, and the scenario run against either.

The venv is built once (``tests/peer_venv.py``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.peer_venv import PeerVenv

MLFLOW_VERSION = "3.17.2"
PACKAGES = [f"mlflow=={MLFLOW_VERSION}", "scikit-learn"]
SCENARIO = Path(__file__).with_name("mlflow_client_scenario.py")


VENV = PeerVenv("mlflow", MLFLOW_VERSION, tuple(PACKAGES))
python_or_skip = VENV.python_or_skip
venv_python = VENV.python


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
