"""Content-addressed, immutable, deduplicated blobs over fsspec (plain ``os`` calls for a
local folder: ``local_files``).

A blob lives at ``ROOT/ab/abcdef…`` (its sha256). Writes stream through a hashing
writer into ``ROOT/.tmp/`` and are renamed into place, so a reader never sees half a
blob and a crash leaves only a temp file that ``gc`` removes. Reads verify the hash as
the bytes go by. Everything moves in 8 MiB chunks: memory stays bounded for any size.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from shipyard.errors import Conflict, IntegrityError, InvalidArgument, NotFound, StoreUnavailable
from shipyard.store.local_files import LocalFiles, local_root

CHUNK = 8 * 1024 * 1024
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class BlobInfo:
    hash: str
    size: int


@dataclass(frozen=True, slots=True)
class StoredBlob:
    hash: str
    size: int
    modified: float  # epoch seconds


def check_hash(value: str) -> str:
    if not isinstance(value, str) or len(value) != 64 or not set(value) <= _HEX:
        raise InvalidArgument(f"{value!r} is not a sha256 blob hash (64 lowercase hex digits)")
    return value


class _HashingWriter(io.RawIOBase):
    """A write-only file object that hashes and counts what passes through.

    A real ``io`` object, so libraries that check ``closed``/``writable`` (pyarrow) take it;
    closing it does not close the target, which the blob store finalises itself.
    """

    def __init__(self, target: IO[bytes] | io.RawIOBase) -> None:
        super().__init__()
        self._target = target
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._sha.update(view)
        self._target.write(view)
        self.size += view.nbytes
        return view.nbytes

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        if not self.closed:
            self._target.flush()

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


class _Discard(io.RawIOBase):
    def write(self, data: Any) -> int:
        return memoryview(data).nbytes

    def writable(self) -> bool:
        return True


class VerifiedReader:
    """Reads a blob and raises IntegrityError at the end if the bytes do not hash right."""

    def __init__(self, source: IO[bytes], expected: str) -> None:
        self._source = source
        self._expected = expected
        self._sha = hashlib.sha256()
        self._done = False

    def read(self, n: int = -1) -> bytes:
        data = self._source.read(n)
        self._sha.update(data)
        if not data or n is None or n < 0:
            self._verify()
        return data

    def readline(self, limit: int = -1) -> bytes:  # pickle.load needs it
        data = self._source.readline(limit)
        self._sha.update(data)
        if not data:
            self._verify()
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def _verify(self) -> None:
        if not self._done:
            self._done = True
            actual = self._sha.hexdigest()
            if actual != self._expected:
                raise IntegrityError(
                    f"blob {self._expected} is corrupt (its bytes hash to {actual}); "
                    "restore it from a backup or log the artifact again"
                )

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> VerifiedReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # Readers such as numpy and pickle stop at the end of their data and never read to
        # EOF: read the rest so the hash is checked whenever the reader is used as a context.
        try:
            if not self._done and (exc_type is None or issubclass(exc_type, Exception)):
                try:
                    while self.read(CHUNK):
                        pass
                except IntegrityError:
                    raise  # corruption explains whatever the consumer raised, if anything
                except Exception:
                    if exc_type is None:
                        raise
        finally:
            self.close()


class BlobStore:
    def __init__(self, root: str | Path) -> None:
        self.uri = str(root)
        self.fs: Any
        local = local_root(self.uri)
        if local is not None:  # no fsspec import (asyncio, ~30 ms) for a local folder
            self.fs, path = LocalFiles(), local
        else:
            import fsspec  # imported here: it pulls in asyncio, too heavy for `import shipyard`
            from fsspec.implementations.local import LocalFileSystem

            try:
                self.fs, path = fsspec.core.url_to_fs(self.uri)
            except (ImportError, ValueError) as exc:
                raise InvalidArgument(f"cannot open blob store {self.uri!r}: {exc}") from exc
            if isinstance(self.fs, LocalFileSystem):  # local:// and the like
                self.fs = LocalFiles()
        self.local = isinstance(self.fs, LocalFiles)
        self.root = path.rstrip("/")
        self._tmp = f"{self.root}/.tmp"
        self.fs.makedirs(self._tmp, exist_ok=True)

    def path(self, blob_hash: str) -> str:
        check_hash(blob_hash)
        return f"{self.root}/{blob_hash[:2]}/{blob_hash}"

    def exists(self, blob_hash: str) -> bool:
        return bool(self.fs.exists(self.path(blob_hash)))

    def size(self, blob_hash: str) -> int:
        try:
            return int(self.fs.size(self.path(blob_hash)))
        except FileNotFoundError:
            raise self._missing(blob_hash) from None

    # -- writing ----------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> BlobInfo:
        blob_hash = hashlib.sha256(data).hexdigest()
        if not self.exists(blob_hash):
            self.write(lambda out: out.write(data))
        return BlobInfo(blob_hash, len(data))

    def put_file(self, path: str | Path) -> BlobInfo:
        """Store a local file. On a local store the copy runs in a thread while this one
        hashes (both read the same pages), which nearly halves the time for large files."""
        source = Path(path)
        if not source.is_file():
            raise NotFound(f"no file at {source}")
        if not self.local:
            blob_hash, size = _hash_file(source)
            if not self.exists(blob_hash):
                tmp = self._tmp_path()
                try:
                    self.fs.put_file(str(source), tmp)
                    self._publish(tmp, blob_hash)
                finally:
                    self._discard(tmp)
            return BlobInfo(blob_hash, size)
        tmp = self._tmp_path()
        try:
            before = source.stat()
            blob_hash, size = _hash_while_copying(source, Path(tmp))
            after = source.stat()
            if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
                raise Conflict(f"{source} changed while it was being stored; log it again")
            if not self.exists(blob_hash):
                self._publish(tmp, blob_hash)
        finally:
            self._discard(tmp)
        return BlobInfo(blob_hash, size)

    def write(self, produce: Callable[[Any], object]) -> BlobInfo:
        """Stream bytes in: ``produce`` gets a writable file object; returns the new blob."""
        tmp = self._tmp_path()
        try:
            with self.fs.open(tmp, "wb", block_size=CHUNK) as raw:
                writer = _HashingWriter(raw)
                produce(writer)
            blob_hash = writer.hexdigest()
            if not self.exists(blob_hash):
                self._publish(tmp, blob_hash)
            return BlobInfo(blob_hash, writer.size)
        except OSError as exc:
            raise StoreUnavailable(f"cannot write to blob store {self.uri}: {exc}") from exc
        finally:
            self._discard(tmp)

    def hash_of(self, produce: Callable[[Any], object]) -> BlobInfo:
        """The hash and size ``produce`` would write, without writing anything."""
        sink = _HashingWriter(_Discard())
        produce(sink)
        return BlobInfo(sink.hexdigest(), sink.size)

    def _tmp_path(self) -> str:
        return f"{self._tmp}/{uuid.uuid4().hex}"

    def _publish(self, tmp: str, blob_hash: str) -> None:
        final = self.path(blob_hash)
        self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        if self.local:
            os.replace(tmp, final)  # atomic; identical content if a racer got there first
        else:
            self.fs.mv(tmp, final)

    def _discard(self, tmp: str) -> None:
        try:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)
        except OSError:
            pass

    # -- reading ----------------------------------------------------------------------

    def open(self, blob_hash: str) -> VerifiedReader:
        try:
            return VerifiedReader(
                self.fs.open(self.path(blob_hash), "rb", block_size=CHUNK), blob_hash
            )
        except FileNotFoundError:
            raise self._missing(blob_hash) from None

    def get_bytes(self, blob_hash: str) -> bytes:
        with self.open(blob_hash) as reader:
            return reader.read()

    def get_to_path(self, blob_hash: str, destination: str | Path) -> Path:
        """Copy a blob to a local file, verified, atomically (temp file + rename)."""
        target = Path(destination)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            if self.local:
                source = Path(self.path(blob_hash))
                if not source.is_file():
                    raise self._missing(blob_hash)
                actual, _size = _hash_while_copying(source, tmp)
                if actual != blob_hash:
                    raise IntegrityError(
                        f"blob {blob_hash} is corrupt (its bytes hash to {actual}); "
                        "restore it from a backup or log the artifact again"
                    )
            else:
                with self.open(blob_hash) as reader, tmp.open("wb") as out:
                    copy_stream(reader, out)  # the reader verifies the hash at EOF
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def _missing(self, blob_hash: str) -> NotFound:
        return NotFound(f"blob {blob_hash} is not in the blob store {self.uri}")

    # -- maintenance ------------------------------------------------------------------

    def iter_blobs(self) -> Iterator[StoredBlob]:
        for info in self.fs.find(self.root, withdirs=False, detail=True).values():
            parts = info["name"].rstrip("/").split("/")
            name, folder = parts[-1], parts[-2] if len(parts) > 1 else ""
            # ROOT/ab/abcd…: temp files live in ROOT/.tmp/, which a blob's folder never is
            if len(name) == 64 and set(name) <= _HEX and folder == name[:2]:
                yield StoredBlob(name, int(info.get("size") or 0), _mtime(info))

    def iter_temp_files(self) -> Iterator[tuple[str, float]]:
        for info in self.fs.find(self._tmp, withdirs=False, detail=True).values():
            yield info["name"], _mtime(info)

    def digest(self, blob_hash: str) -> str | None:
        """The sha256 of the bytes stored under ``blob_hash`` (equal to it unless the blob
        is corrupt), or None when there is no such blob. Streams: memory stays bounded."""
        try:
            if self.local:
                with open(self.path(blob_hash), "rb") as handle:
                    return hashlib.file_digest(handle, "sha256").hexdigest()
            with self.fs.open(self.path(blob_hash), "rb", block_size=CHUNK) as handle:
                sha = hashlib.sha256()
                while chunk := handle.read(CHUNK):
                    sha.update(chunk)
                return sha.hexdigest()
        except FileNotFoundError:
            return None

    def delete(self, blob_hash: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self.path(blob_hash))

    def remove_file(self, path: str) -> None:
        self._discard(path)


def _hash_file(path: Path) -> tuple[str, int]:
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256")
    return digest.hexdigest(), path.stat().st_size


def _hash_while_copying(source: Path, target: Path) -> tuple[str, int]:
    """sha256 of ``source`` while a second thread copies it to ``target`` (both release
    the GIL: the copy uses the kernel's copy_file_range/sendfile, hashlib its C loop)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="shipyard-copy") as pool:
        copying = pool.submit(shutil.copyfile, source, target)
        try:
            result = _hash_file(source)
        finally:
            copying.result()
    return result


def copy_stream(source: Any, target: BinaryIO | Any) -> int:
    total = 0
    while chunk := source.read(CHUNK):
        target.write(chunk)
        total += len(chunk)
    return total


def _mtime(info: dict[str, Any]) -> float:
    value = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
    return value.timestamp() if hasattr(value, "timestamp") else float(value)
