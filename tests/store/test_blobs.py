"""The content-addressed blob store: round trips, dedup, layout, atomicity, verification."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from shipyard.errors import IntegrityError, InvalidArgument, NotFound
from shipyard.store.blobs import CHUNK, BlobStore, check_hash


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _clear_memory_fs() -> None:
    MemoryFileSystem.store.clear()
    MemoryFileSystem.pseudo_dirs[:] = [""]


@pytest.fixture
def memory_fs() -> Iterator[None]:
    _clear_memory_fs()
    yield
    _clear_memory_fs()


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """The same store code over the local filesystem and over a non-local fsspec one."""
    if request.param == "local":
        return BlobStore(tmp_path / "blobs")
    request.getfixturevalue("memory_fs")
    return BlobStore("memory://shipyard-test/blobs")


@pytest.fixture
def local_store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def stored_files(store: BlobStore) -> list[str]:
    """Every file under the store root, temp files included."""
    return sorted(store.fs.find(store.root, withdirs=False))


def temp_files(store: BlobStore) -> list[str]:
    return [path for path, _ in store.iter_temp_files()]


def corrupt(store: BlobStore, blob_hash: str, data: bytes) -> None:
    """Overwrite a stored blob's bytes behind the store's back."""
    store.fs.pipe_file(store.path(blob_hash), data)


# -- writing and reading back ----------------------------------------------------------


@pytest.mark.parametrize(
    "data", [b"", b"hello", bytes(range(256)) * 1000], ids=["empty", "small", "256k"]
)
def test_put_bytes_round_trips(store: BlobStore, data: bytes) -> None:
    info = store.put_bytes(data)

    assert info.hash == sha(data)
    assert info.size == len(data)
    assert store.exists(info.hash)
    assert store.size(info.hash) == len(data)
    assert store.get_bytes(info.hash) == data
    with store.open(info.hash) as reader:
        assert reader.read() == data


def test_put_file_round_trips(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    data = b"weights" * 5000
    source.write_bytes(data)

    info = store.put_file(source)

    assert (info.hash, info.size) == (sha(data), len(data))
    assert store.get_bytes(info.hash) == data
    destination = store.get_to_path(info.hash, tmp_path / "out" / "nested" / "copy.bin")
    assert destination == tmp_path / "out" / "nested" / "copy.bin"
    assert destination.read_bytes() == data
    assert source.read_bytes() == data  # the source is copied, not moved


def test_put_file_accepts_a_str_path(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_bytes(b"abc")

    assert store.put_file(str(source)).hash == sha(b"abc")


def test_write_streams_chunks_of_any_buffer_type(store: BlobStore) -> None:
    numbers = np.arange(10, dtype=np.int64)  # a memoryview of 8-byte items: 80 bytes

    def produce(out: object) -> None:
        out.write(b"head-")  # type: ignore[attr-defined]
        out.write(bytearray(b"middle-"))  # type: ignore[attr-defined]
        out.write(memoryview(numbers))  # type: ignore[attr-defined]

    info = store.write(produce)

    expected = b"head-middle-" + numbers.tobytes()
    assert (info.hash, info.size) == (sha(expected), len(expected))
    assert store.get_bytes(info.hash) == expected


def test_put_file_of_a_missing_path_or_a_folder_is_not_found(
    store: BlobStore, tmp_path: Path
) -> None:
    with pytest.raises(NotFound, match="no file"):
        store.put_file(tmp_path / "missing.bin")
    with pytest.raises(NotFound, match="no file"):
        store.put_file(tmp_path)
    assert list(store.iter_blobs()) == []


# -- content addressing -----------------------------------------------------------------


def test_same_content_is_stored_once_whichever_way_it_arrives(
    store: BlobStore, tmp_path: Path
) -> None:
    data = b"the same bytes" * 100
    source = tmp_path / "same.bin"
    source.write_bytes(data)

    hashes = {
        store.put_bytes(data).hash,
        store.put_bytes(data).hash,
        store.put_file(source).hash,
        store.write(lambda out: out.write(data)).hash,
    }

    assert hashes == {sha(data)}
    assert [blob.hash for blob in store.iter_blobs()] == [sha(data)]
    assert stored_files(store) == [store.path(sha(data))]  # one file, no temp leftovers


def test_different_content_gets_different_blobs(store: BlobStore) -> None:
    first, second = store.put_bytes(b"one"), store.put_bytes(b"two")

    assert first.hash != second.hash
    assert {b.hash for b in store.iter_blobs()} == {first.hash, second.hash}
    assert store.get_bytes(first.hash) == b"one"
    assert store.get_bytes(second.hash) == b"two"


def test_blobs_live_at_root_slash_first_two_hex_digits_slash_hash(
    local_store: BlobStore, tmp_path: Path
) -> None:
    info = local_store.put_bytes(b"layout")

    on_disk = tmp_path / "blobs" / info.hash[:2] / info.hash
    assert local_store.path(info.hash) == on_disk.as_posix()
    assert on_disk.read_bytes() == b"layout"


def test_memory_store_uses_the_same_layout(memory_fs: None) -> None:
    store = BlobStore("memory://bucket/prefix")
    info = store.put_bytes(b"layout")

    assert store.fs.cat_file(f"/bucket/prefix/{info.hash[:2]}/{info.hash}") == b"layout"


# -- atomic writes ----------------------------------------------------------------------


def test_successful_writes_leave_no_temp_files(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "f.bin"
    source.write_bytes(b"from a file")

    store.put_bytes(b"from bytes")
    store.put_file(source)
    store.write(lambda out: out.write(b"streamed"))

    assert temp_files(store) == []
    assert len(stored_files(store)) == 3


def test_a_producer_that_fails_midway_publishes_nothing(store: BlobStore) -> None:
    def produce(out: object) -> None:
        out.write(b"x" * 1000)  # type: ignore[attr-defined]
        raise RuntimeError("producer died")

    with pytest.raises(RuntimeError, match="producer died"):
        store.write(produce)

    assert list(store.iter_blobs()) == []
    assert temp_files(store) == []
    assert stored_files(store) == []
    assert not store.exists(sha(b"x" * 1000))


def test_a_failed_write_of_existing_content_keeps_the_existing_blob(store: BlobStore) -> None:
    info = store.put_bytes(b"keep me")

    def produce(out: object) -> None:
        out.write(b"keep me")  # type: ignore[attr-defined]
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.write(produce)

    assert store.get_bytes(info.hash) == b"keep me"
    assert temp_files(store) == []


# -- verification -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-1] + bytes([data[-1] ^ 0xFF]),  # same size, one byte flipped
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: data + b"extra",  # grown
    ],
    ids=["flipped", "truncated", "grown"],
)
def test_a_corrupt_blob_raises_integrity_error_on_read(store: BlobStore, damage: object) -> None:
    data = b"precious model bytes" * 50
    info = store.put_bytes(data)
    corrupt(store, info.hash, damage(data))  # type: ignore[operator]

    with pytest.raises(IntegrityError, match=info.hash):
        store.get_bytes(info.hash)


def test_get_to_path_of_a_corrupt_blob_leaves_no_destination(
    store: BlobStore, tmp_path: Path
) -> None:
    info = store.put_bytes(b"precious" * 100)
    corrupt(store, info.hash, b"tampered" * 100)
    out_dir = tmp_path / "download"

    with pytest.raises(IntegrityError, match=info.hash):
        store.get_to_path(info.hash, out_dir / "model.bin")

    assert list(out_dir.iterdir()) == []  # neither the file nor a partial temp file


def test_get_to_path_of_a_corrupt_blob_keeps_an_existing_destination(
    store: BlobStore, tmp_path: Path
) -> None:
    info = store.put_bytes(b"new version")
    corrupt(store, info.hash, b"new versioN")
    destination = tmp_path / "work" / "model.bin"
    destination.parent.mkdir()
    destination.write_bytes(b"old version")

    with pytest.raises(IntegrityError):
        store.get_to_path(info.hash, destination)

    assert destination.read_bytes() == b"old version"
    assert [p.name for p in destination.parent.iterdir()] == ["model.bin"]


def test_a_reader_that_stops_early_is_still_verified_when_closed(store: BlobStore) -> None:
    """Formats such as .npy and pickle stop reading at the end of their data."""
    data = b"header" + b"\x00" * 10_000
    info = store.put_bytes(data)

    with store.open(info.hash) as reader:
        assert reader.read(6) == b"header"  # an intact blob closes quietly

    corrupt(store, info.hash, b"header" + b"\x01" * 10_000)
    with pytest.raises(IntegrityError, match=info.hash), store.open(info.hash) as reader:
        assert reader.read(6) == b"header"


def test_corruption_explains_a_consumer_failure(store: BlobStore) -> None:
    info = store.put_bytes(b"valid")
    corrupt(store, info.hash, b"bogus")

    with pytest.raises(IntegrityError) as caught, store.open(info.hash) as reader:
        reader.read(2)
        raise ValueError("cannot parse")

    assert isinstance(caught.value.__context__, ValueError)


def test_a_consumer_failure_on_an_intact_blob_propagates_unchanged(store: BlobStore) -> None:
    info = store.put_bytes(b"valid")

    with pytest.raises(ValueError, match="cannot parse"), store.open(info.hash) as reader:
        reader.read(2)
        raise ValueError("cannot parse")


# -- missing and malformed hashes -------------------------------------------------------


def test_a_missing_blob_is_not_found(store: BlobStore, tmp_path: Path) -> None:
    missing = sha(b"never stored")

    assert not store.exists(missing)
    with pytest.raises(NotFound, match=missing):
        store.get_bytes(missing)
    with pytest.raises(NotFound, match=missing):
        store.open(missing)
    with pytest.raises(NotFound, match=missing):
        store.size(missing)
    with pytest.raises(NotFound, match=missing):
        store.get_to_path(missing, tmp_path / "dl" / "x.bin")
    assert list((tmp_path / "dl").iterdir()) == []


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        "a" * 63,
        "a" * 65,
        "A" * 64,  # uppercase
        "g" * 64,  # not hex
        "../" + "a" * 61,  # path tricks
        " " + "a" * 63,
        None,
        123,
    ],
)
def test_a_malformed_hash_is_invalid_argument(
    store: BlobStore, tmp_path: Path, bad: object
) -> None:
    for call in (
        lambda: check_hash(bad),  # type: ignore[arg-type]
        lambda: store.path(bad),  # type: ignore[arg-type]
        lambda: store.exists(bad),  # type: ignore[arg-type]
        lambda: store.get_bytes(bad),  # type: ignore[arg-type]
        lambda: store.open(bad),  # type: ignore[arg-type]
        lambda: store.delete(bad),  # type: ignore[arg-type]
        lambda: store.get_to_path(bad, tmp_path / "x"),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidArgument, match="sha256"):
            call()


def test_check_hash_returns_a_valid_hash() -> None:
    value = sha(b"x")
    assert check_hash(value) == value


def test_an_unknown_protocol_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match="cannot open blob store"):
        BlobStore("no-such-protocol://bucket/blobs")


# -- large blobs ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_data() -> bytes:
    data = random.Random(7).randbytes(20 * 1000 * 1000)
    assert len(data) > 2 * CHUNK  # spans several read/write chunks
    return data


@pytest.mark.slow
def test_a_file_larger_than_a_chunk_round_trips(
    local_store: BlobStore, tmp_path: Path, big_data: bytes
) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(big_data)

    info = local_store.put_file(source)
    destination = local_store.get_to_path(info.hash, tmp_path / "copy.bin")

    assert (info.hash, info.size) == (sha(big_data), len(big_data))
    assert destination.stat().st_size == len(big_data)
    assert destination.read_bytes() == big_data


@pytest.mark.slow
def test_a_large_stream_round_trips(local_store: BlobStore, big_data: bytes) -> None:
    def produce(out: object) -> None:
        for start in range(0, len(big_data), 3_000_000):
            out.write(big_data[start : start + 3_000_000])  # type: ignore[attr-defined]

    info = local_store.write(produce)

    assert (info.hash, info.size) == (sha(big_data), len(big_data))
    assert local_store.get_bytes(info.hash) == big_data


@pytest.mark.slow
def test_corruption_in_the_last_chunk_leaves_no_partial_download(
    local_store: BlobStore, tmp_path: Path, big_data: bytes
) -> None:
    info = local_store.put_bytes(big_data)
    corrupt(local_store, info.hash, big_data[:-1] + bytes([big_data[-1] ^ 0xFF]))
    out_dir = tmp_path / "dl"

    with pytest.raises(IntegrityError):
        local_store.get_to_path(info.hash, out_dir / "big.bin")

    assert list(out_dir.iterdir()) == []


# -- listing and deleting ---------------------------------------------------------------


def test_iter_blobs_lists_only_blobs(store: BlobStore) -> None:
    a, b = store.put_bytes(b"a" * 10), store.put_bytes(b"b" * 20)
    # leftovers of a crashed writer, one even named like a blob, and an unrelated file
    store.fs.pipe_file(f"{store.root}/.tmp/{'c' * 32}", b"partial")
    store.fs.pipe_file(f"{store.root}/.tmp/{sha(b'partial')}", b"partial")
    store.fs.pipe_file(f"{store.root}/README", b"not a blob")

    blobs = {blob.hash: blob.size for blob in store.iter_blobs()}

    assert blobs == {a.hash: 10, b.hash: 20}
    assert len(temp_files(store)) == 2


def test_iter_blobs_reports_a_modification_time(store: BlobStore) -> None:
    store.put_bytes(b"timed")

    (blob,) = store.iter_blobs()

    assert blob.modified > 0


def test_iter_blobs_works_under_a_folder_named_tmp(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / ".tmp" / "blobs")
    info = store.put_bytes(b"inside .tmp")

    assert [blob.hash for blob in store.iter_blobs()] == [info.hash]


def test_delete_removes_a_blob_and_it_can_be_stored_again(store: BlobStore) -> None:
    keep, drop = store.put_bytes(b"keep"), store.put_bytes(b"drop")

    store.delete(drop.hash)

    assert not store.exists(drop.hash)
    with pytest.raises(NotFound):
        store.get_bytes(drop.hash)
    assert [blob.hash for blob in store.iter_blobs()] == [keep.hash]
    store.delete(drop.hash)  # deleting again is a no-op
    assert store.put_bytes(b"drop") == drop
    assert store.get_bytes(drop.hash) == b"drop"


def test_remove_file_deletes_a_temp_file(store: BlobStore) -> None:
    leftover = f"{store.root}/.tmp/{'d' * 32}"
    store.fs.pipe_file(leftover, b"partial")

    store.remove_file(leftover)
    store.remove_file(leftover)  # already gone: quietly nothing

    assert temp_files(store) == []


def test_two_store_objects_on_one_root_share_blobs(tmp_path: Path) -> None:
    writer, reader = BlobStore(tmp_path / "shared"), BlobStore(str(tmp_path / "shared"))

    info = writer.put_bytes(b"shared")

    assert reader.get_bytes(info.hash) == b"shared"
    assert [blob.hash for blob in reader.iter_blobs()] == [info.hash]
