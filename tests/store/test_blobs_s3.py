"""The blob store over S3, through the same fsspec code path, against a local S3 server.

moto's standalone server speaks the S3 protocol on a loopback port; s3fs talks to it as it
would to AWS. Nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from shipyard.errors import IntegrityError
from shipyard.store.blobs import BlobStore

moto_server = pytest.importorskip("moto.server")
s3fs = pytest.importorskip("s3fs")


@pytest.fixture(scope="module")
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_store(s3_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint})
    bucket = f"shipyard-{os.urandom(4).hex()}"
    fs.mkdir(bucket)
    return BlobStore(f"s3://{bucket}/artifacts")


def test_put_get_dedup_and_listing_over_s3(s3_store, tmp_path):
    data = os.urandom(3 * 1024 * 1024)
    first = s3_store.put_bytes(data)
    assert first.hash == hashlib.sha256(data).hexdigest()
    assert s3_store.put_bytes(data) == first  # deduplicated
    source = tmp_path / "model.bin"
    source.write_bytes(data[:1000])
    second = s3_store.put_file(source)
    assert s3_store.get_bytes(first.hash) == data
    out = s3_store.get_to_path(second.hash, tmp_path / "back" / "model.bin")
    assert out.read_bytes() == data[:1000]
    assert {b.hash for b in s3_store.iter_blobs()} == {first.hash, second.hash}
    assert list(s3_store.iter_temp_files()) == []  # temp objects were moved into place


def test_corruption_is_detected_over_s3(s3_store):
    info = s3_store.put_bytes(b"the real bytes")
    s3_store.fs.pipe_file(s3_store.path(info.hash), b"tampered bytes")
    s3_store.fs.invalidate_cache()
    with pytest.raises(IntegrityError):
        s3_store.get_bytes(info.hash)


def test_tracking_client_logs_artifacts_to_s3(s3_store, tmp_path):
    import numpy as np

    from shipyard.tracking import Client

    client = Client(uri=f"sqlite:///{tmp_path / 'meta.db'}", artifact_uri=s3_store.uri)
    run = client.create_run("p", "s3", capture_code=False)
    client.log_object(run.id, np.arange(1000), "weights")
    client.log_dict(run.id, {"lr": 0.1}, "config.json")
    client.end_run(run.id)
    assert client.load_artifact(run.id, "weights").sum() == 499500
    assert client.load_artifact(run.id, "config.json") == {"lr": 0.1}
    client.close()
