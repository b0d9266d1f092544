"""The remote client: ``SHIPYARD_URI=http://127.0.0.1:PORT`` gives the same answers as the
embedded store, for the tracking API and for a flow run; a server killed mid-logging loses
no point the client buffered; an unreachable server is one line from the CLI."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.errors import NotFound, StoreUnavailable
from shipyard.flows import Flow
from shipyard.server.run import ServerThread, free_port
from shipyard.store.rest import RestStore
from shipyard.store.rest_blobs import RemoteBlobStore
from shipyard.tracking import Client

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "tests" / "flows" / "examples"


@pytest.fixture
def remote(live_server: ServerThread) -> Any:
    client = Client(uri=live_server.url, artifact_uri=live_server.url)
    yield client
    client.close()


@pytest.fixture
def embedded(tmp_path: Path) -> Any:
    client = Client(uri=f"sqlite:///{tmp_path / 'e' / 'db'}", artifact_uri=str(tmp_path / "eb"))
    yield client
    client.close()


def exercise(client: Client, workdir: Path) -> list[Any]:
    """A tour of the tracking API; what it reads back, with ids and times left out."""
    seen: list[Any] = []
    parent = client.create_run("alpha", "parent", params={"lr": 0.1}, tags={"team": "fraud"})
    child = client.create_run("alpha", "child", parent_id=parent.id)
    for step in range(50):
        client.log_metric(parent.id, "loss", 1 / (step + 1), step=step)
    client.log_metric(parent.id, "odd", math.nan)
    client.log_metrics(child.id, {"acc": 0.9, "f1": 0.8})
    client.log_params(child.id, {"depth": 3})
    client.set_tag(child.id, "stage", "a")
    client.delete_tag(child.id, "stage")
    (workdir / "notes.txt").write_text("hello")
    client.log_artifact(parent.id, str(workdir / "notes.txt"))
    client.log_dict(parent.id, {"a": [1, 2]}, "config.json")
    client.log_object(parent.id, {"weights": [0.5, 1.5]}, "model/obj.pkl")
    client.end_run(child.id, "FAILED")
    client.end_run(parent.id)
    client.delete_run(child.id)
    client.restore_run(child.id)
    for run in (client.get_run(parent.id), client.get_run(child.id)):
        view = run.to_dict()
        for key in ("id", "start_time", "end_time", "pid", "parent_id", "environment_hash"):
            view.pop(key)
        view["metrics"] = {k: repr(v) for k, v in view["metrics"].items()}
        seen.append(view)
    seen.append([(m.step, m.value) for m in client.get_metric_history(parent.id, "loss")])
    seen.append([(a.path, a.size, a.serializer) for a in client.list_artifacts(parent.id)])
    seen.append(client.load_artifact(parent.id, "config.json"))
    seen.append(client.load_artifact(parent.id, "model/obj.pkl"))
    out = client.download_artifacts(parent.id, "notes.txt", workdir / "down")
    seen.append(out.read_text() if out.is_file() else (out / "notes.txt").read_text())
    found = client.search_runs(["alpha"], filter="metrics.loss < 1", order_by=["name"])
    seen.append([r.name for r in found])
    seen.append([p.name for p in client.list_projects()])
    with pytest.raises(NotFound):
        client.get_run("0" * 32)
    return seen


def test_the_tracking_api_gives_the_same_answers_remotely(remote, embedded, tmp_path):
    assert isinstance(remote.store, RestStore) and isinstance(remote.blobs, RemoteBlobStore)
    (tmp_path / "r").mkdir()
    (tmp_path / "e").mkdir(exist_ok=True)
    assert exercise(remote, tmp_path / "r") == exercise(embedded, tmp_path / "e")


def test_log_metric_is_buffered_and_sent_in_batches(remote):
    run = remote.create_run("p", "fast")
    started = time.perf_counter()
    for step in range(20_000):
        remote.log_metric(run.id, "x", float(step), step=step)
    per_call = (time.perf_counter() - started) / 20_000
    assert per_call < 0.001  # buffered, never one request per point
    remote.flush()
    assert len(remote.get_metric_history(run.id, "x")) == 20_000


def test_large_artifacts_go_in_resumable_chunks_and_come_back_verified(live_server, tmp_path):
    blobs = RemoteBlobStore(live_server.url, chunk_size=256 * 1024)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(17 * 1024 * 1024))  # over the 16 MiB single-PUT limit
    info = blobs.put_file(big)
    assert blobs.exists(info.hash) and blobs.size(info.hash) == big.stat().st_size
    copy = blobs.get_to_path(info.hash, tmp_path / "copy.bin")
    assert copy.read_bytes() == big.read_bytes()
    with blobs.open(info.hash) as reader:
        assert reader.read(10) == big.read_bytes()[:10]
    with pytest.raises(NotFound):
        blobs.get_bytes("0" * 64)


def test_a_broken_upload_resumes_at_the_servers_offset(live_server, tmp_path, monkeypatch):
    blobs = RemoteBlobStore(live_server.url, chunk_size=1024 * 1024)
    monkeypatch.setattr("shipyard.store.rest_blobs.CHUNKED_OVER", 1024)  # chunk small files
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    real_send, chunks = blobs.http.send, []

    def flaky(method, path, **kw):
        if method == "PUT" and "/uploads/" in path:
            chunks.append(kw["headers"]["content-range"])
            if len(chunks) == 2:  # the second chunk arrives, but its answer is lost
                real_send(method, path, **kw)
                raise StoreUnavailable("connection dropped")
        return real_send(method, path, **kw)

    monkeypatch.setattr(blobs.http, "send", flaky)
    info = blobs.put_file(source)
    assert len(chunks) == 4  # the third chunk went next: nothing was sent twice
    assert blobs.get_bytes(info.hash) == source.read_bytes()


def test_a_broken_download_resumes_with_range(live_server, tmp_path, monkeypatch):
    blobs = RemoteBlobStore(live_server.url)
    data = os.urandom(2 * 1024 * 1024)
    info = blobs.put_bytes(data)
    real_stream, ranges = blobs.http.stream, []

    @contextlib.contextmanager
    def flaky(method, path, headers=None, **kw):
        ranges.append((headers or {}).get("range"))
        with real_stream(method, path, headers=headers, **kw) as response:
            if len(ranges) == 1:
                first = next(response.iter_bytes(100_000))

                class Broken:
                    def iter_bytes(self, size):
                        yield first
                        raise httpx.ReadError("connection reset")

                yield Broken()
                return
            yield response

    monkeypatch.setattr(blobs.http, "stream", flaky)
    assert blobs.get_bytes(info.hash) == data
    assert ranges[0] is None and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"


# -- flows -------------------------------------------------------------------------------


def run_flow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **env}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "foreach_flow.py"), "run", *args],
        capture_output=True, text=True, env=full, timeout=180,
    )  # fmt: skip


def flow_view(client: Client) -> list[Any]:
    run = Flow("ForeachFlow", client=client).latest_run
    view: list[Any] = [run.number, run.successful, run.data.sums]
    for step in run:
        view.append((step.name, sorted(str(t.data.__dict__.get("value", "")) for t in step)))
    return view


@pytest.mark.slow
def test_a_flow_run_against_the_server_matches_the_embedded_one(live_server, tmp_path):
    remote_env = {"SHIPYARD_URI": live_server.url, "SHIPYARD_ARTIFACT_URI": live_server.url}
    remote_env["SHIPYARD_HOME"] = str(tmp_path / "unused-home")
    done = run_flow(remote_env, "--max-workers", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    home = tmp_path / "embedded-home"
    local = run_flow({"SHIPYARD_HOME": str(home)}, "--max-workers", "2")
    assert local.returncode == 0, local.stderr[-3000:]
    remote_client = Client(uri=live_server.url, artifact_uri=live_server.url)
    local_client = Client(uri=f"sqlite:///{home / 'shipyard.db'}", artifact_uri=str(home / "blobs"))
    assert flow_view(remote_client) == flow_view(local_client)
    assert flow_view(remote_client)[:3] == [1, True, {"a": 3.0, "b": 3.0}]
    assert not (tmp_path / "unused-home").exists()  # nothing went to a local store


# -- a server that goes away --------------------------------------------------------------------


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SHIPYARD_HOME": str(home)}
    for name in ("SHIPYARD_URI", "SHIPYARD_ARTIFACT_URI"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "shipyard.cli", "server", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the server did not start")


@pytest.mark.slow
def test_a_server_killed_mid_logging_loses_no_buffered_point(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIPYARD_METRIC_FLUSH_INTERVAL", "0.05")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(tmp_path / "home", port)
    client = Client(uri=url, artifact_uri=url)
    try:
        run = client.create_run("p", "crash")
        for step in range(3000):
            client.log_metric(run.id, "x", float(step), step=step)
            if step == 1000:
                time.sleep(0.3)  # let the writer send some batches
                server.send_signal(signal.SIGKILL)
                server.wait(10)
        with pytest.raises(StoreUnavailable, match=f"cannot reach the Shipyard server at {url}"):
            client.flush()
        assert client.writer.pending() > 0  # kept for later, not dropped
        server = start_server(tmp_path / "home", port)
        client.flush()
        steps = {m.step for m in client.get_metric_history(run.id, "x")}
        assert steps == set(range(3000))
    finally:
        client.close() if server.poll() is None else None
        server.kill()
        server.wait(10)


def test_an_unreachable_server_is_one_line_from_the_cli(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SHIPYARD_URI": url}
    env["SHIPYARD_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "shipyard.cli", "runs", "ls"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: cannot reach the Shipyard server at {url}")


def test_a_model_registered_remotely_loads_back_by_alias(live_server, tmp_path, monkeypatch):
    np = pytest.importorskip("numpy")
    linear = pytest.importorskip("sklearn.linear_model")
    monkeypatch.setenv("SHIPYARD_URI", live_server.url)
    monkeypatch.setenv("SHIPYARD_ARTIFACT_URI", live_server.url)
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "unused-home"))
    import shipyard

    features = np.random.default_rng(0).random((40, 3))
    model = linear.LogisticRegression().fit(features, features[:, 0] > 0.5)
    with shipyard.start_run(project="p"):
        version = shipyard.register_model("churn", model)
    shipyard.set_model_alias("churn", "production", version.record.version)
    loaded = shipyard.load_model("models:/churn@production")
    assert (loaded.predict(features) == model.predict(features)).all()
    home = tmp_path / "unused-home"
    assert not (home / "shipyard.db").exists() and not (home / "blobs").exists()  # only caches


def test_blobs_default_to_the_server_when_no_artifact_uri_is_set(tmp_path):
    from shipyard.config import load_settings
    from shipyard.store.registry import artifact_uri_of

    remote = {"SHIPYARD_URI": "http://team:8080", "SHIPYARD_HOME": str(tmp_path)}
    assert artifact_uri_of(load_settings(env=remote, cwd=tmp_path)) == "http://team:8080"
    chosen = {**remote, "SHIPYARD_ARTIFACT_URI": "s3://bucket/shipyard"}
    assert artifact_uri_of(load_settings(env=chosen, cwd=tmp_path)) == "s3://bucket/shipyard"
    local = {"SHIPYARD_HOME": str(tmp_path)}
    assert artifact_uri_of(load_settings(env=local, cwd=tmp_path)) == str(tmp_path / "blobs")


@pytest.mark.slow
def test_the_quickstart_runs_against_the_server(tmp_path):
    """Flows, features, registry, serving and monitoring, all through the server."""
    port = free_port()
    server = start_server(tmp_path / "server-home", port)
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update(
        PYTHONPATH=str(ROOT / "src"),
        SHIPYARD_URI=url,
        SHIPYARD_ARTIFACT_URI=url,
        SHIPYARD_HOME=str(tmp_path / "client-home"),
    )
    (tmp_path / "work").mkdir()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "shipyard.cli", "quickstart", "--max-workers", "2"],
            capture_output=True, text=True, env=env, cwd=tmp_path / "work", timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert "promoted: churn@production" in done.stdout
        assert "monitor churn-drift: FIRED" in done.stdout
        client = Client(uri=url, artifact_uri=url)
        assert Flow("QuickstartFlow", client=client).latest_run.successful
        client.close()
        assert not (tmp_path / "client-home" / "shipyard.db").exists()
    finally:
        server.kill()
        server.wait(10)
