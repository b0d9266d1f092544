"""A local blob store works without importing fsspec, and finds the same files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import fsspec
import pytest

from shipyard.store.blobs import BlobStore
from shipyard.store.local_files import LocalFiles, local_root


@pytest.mark.parametrize(
    "uri", ["{tmp}/blobs", "{tmp}/blobs/", "file://{tmp}/blobs", "blobs", "./blobs", "."]
)
def test_the_root_is_the_one_fsspec_makes(uri: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    uri = uri.format(tmp=tmp_path)
    assert local_root(uri) == fsspec.core.url_to_fs(uri)[1].rstrip("/")
    assert local_root("~/blobs") == os.path.expanduser("~/blobs")
    for other in ("s3://bucket/x", "memory://x", "simplecache::s3://b/x"):
        assert local_root(other) is None


def test_local_files_behave_as_fsspec_for_what_the_store_calls(tmp_path: Path) -> None:
    files, reference = LocalFiles(), fsspec.filesystem("file")
    folder = f"{tmp_path}/a/b"
    files.makedirs(folder, exist_ok=True)
    files.makedirs(folder, exist_ok=True)
    with files.open(f"{folder}/f", "wb", block_size=1024) as out:
        out.write(b"data")
    assert files.exists(f"{folder}/f") == reference.exists(f"{folder}/f") is True
    assert files.size(f"{folder}/f") == reference.size(f"{folder}/f") == 4
    with files.open(f"{folder}/f", "rb") as handle:
        assert handle.read() == b"data"
    for fs in (files, reference):
        with pytest.raises(FileNotFoundError):
            fs.size(f"{folder}/missing")
        with pytest.raises(FileNotFoundError):
            fs.open(f"{folder}/missing", "rb")
    assert files.find(str(tmp_path)) == reference.find(str(tmp_path))  # fsspec's own
    files.rm(f"{folder}/f")
    assert not files.exists(f"{folder}/f")
    with pytest.raises(ValueError, match="binary"):
        files.open(f"{folder}/f", "w")


def test_a_local_store_writes_and_reads_without_fsspec(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from shipyard.store.blobs import BlobStore\n"
        "store = BlobStore(sys.argv[1])\n"
        "info = store.put_bytes(b'abc')\n"
        "assert store.get_bytes(info.hash) == b'abc' and store.exists(info.hash)\n"
        "assert store.size(info.hash) == 3 and store.local\n"
        "print('fsspec' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "blobs")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "False"
    store = BlobStore(tmp_path / "blobs")
    assert [b.size for b in store.iter_blobs()] == [3]  # fsspec's find, loaded now
