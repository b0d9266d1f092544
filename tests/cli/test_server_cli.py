"""`shipyard server`: options, the store it prints (password redacted), several workers
answering over one store, and a refusal to serve another server's store."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from shipyard.server.run import free_port
from shipyard.tracking import Client

ROOT = Path(__file__).parents[2]


def test_help_lists_the_options(cli):
    code, out, _ = cli("server", "--help")
    assert code == 0
    for option in ("--host", "--port", "--workers", "--log-level", "SHIPYARD_URI"):
        assert option in out


def test_a_server_cannot_serve_another_servers_store(cli, shipyard_home, monkeypatch):
    monkeypatch.setenv("SHIPYARD_URI", "http://127.0.0.1:9")
    code, _, err = cli("server", "--port", "0")
    assert code == 1
    assert err.startswith("error: SHIPYARD_URI is http://127.0.0.1:9, another server")
    assert len(err.strip().splitlines()) == 1


def serve(env: dict[str, str], port: int, *args: str) -> tuple[subprocess.Popen[str], str]:
    """Start `shipyard server` (`shipyard ui` with ``--ui`` first in ``args``); the
    process and what it printed before answering."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    full.update(PYTHONPATH=str(ROOT / "src"), **env)
    command = ["ui", *args[1:]] if args[:1] == ("--ui",) else ["server", *args]
    process = subprocess.Popen(
        [sys.executable, "-m", "shipyard.cli", *command[:1], "--port", str(port), *command[1:]],
        env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stdout.read() if process.stdout else "exited")
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).raise_for_status()
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        raise AssertionError("the server did not answer")
    lines = []
    assert process.stdout is not None
    while len(lines) < 6:  # store, blobs, online store, auth, listening, web UI
        lines.append(process.stdout.readline())
    return process, "".join(lines)


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
    if process.stdout is not None:
        process.stdout.close()


def use_both_workers(url: str) -> None:
    client = Client(uri=url, artifact_uri=url)
    try:
        ids = [client.create_run("p", f"r{i}", capture_code=False).id for i in range(12)]
        for run_id in ids:
            client.log_metric(run_id, "x", 1.0)
        client.flush()
        found = client.search_runs(["p"], filter="metrics.x = 1")
        assert sorted(r.id for r in found) == sorted(ids)
    finally:
        client.close()


@pytest.mark.slow
def test_two_workers_serve_one_sqlite_store(tmp_path):
    port = free_port()
    process, printed = serve({"SHIPYARD_HOME": str(tmp_path / "home")}, port, "--workers", "2")
    try:
        assert f"store: sqlite:///{tmp_path / 'home' / 'shipyard.db'}" in printed
        assert f"online store: sqlite:///{tmp_path / 'home' / 'online.db'}" in printed
        assert f"listening on http://127.0.0.1:{port} (2 worker(s))" in printed
        assert "auth: off (loopback only" in printed
        use_both_workers(f"http://127.0.0.1:{port}")
    finally:
        stop(process)


@pytest.mark.slow
@pytest.mark.services
def test_a_postgresql_store_is_printed_without_its_password(postgres_database, tmp_path):
    url = sa.engine.make_url(postgres_database).set(password="s3cret-pw")
    uri = url.render_as_string(hide_password=False)
    port = free_port()
    env = {"SHIPYARD_URI": uri, "SHIPYARD_HOME": str(tmp_path / "home")}
    process, printed = serve(env, port, "--workers", "2")
    try:
        assert "s3cret-pw" not in printed and "***" in printed
        use_both_workers(f"http://127.0.0.1:{port}")
    finally:
        stop(process)


@pytest.mark.slow
def test_auth_on_reaches_every_worker(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("SHIPYARD_HOME", str(home))
    from shipyard import governance

    governance.create_user("ana")
    governance.grant_role("ana", "*", "editor")
    secret, _ = governance.create_token("ana")
    port = free_port()
    process, printed = serve({"SHIPYARD_HOME": str(home)}, port, "--workers", "2", "--auth", "on")
    try:
        assert "auth: on, API tokens required" in printed
        url = f"http://127.0.0.1:{port}/api/v1/projects"
        for _ in range(6):  # answered by either worker: each refuses, each lets ana in
            assert httpx.get(url).status_code == 401
            ok = httpx.get(url, headers={"Authorization": f"Bearer {secret}"})
            assert ok.status_code == 200
    finally:
        stop(process)
