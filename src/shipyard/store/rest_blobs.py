"""``RemoteBlobStore``: the ``BlobStore`` interface over a ``shipyard server``'s blob routes.

Writes hash locally first and ask ``HEAD /api/v1/blobs/{sha256}``: a blob the server holds
is never sent again. Files up to 16 MiB go in one ``PUT`` (the server checks the hash);
larger ones in 8 MiB chunks through a resumable upload, which picks up at the offset the
server has after a dropped connection. Downloads are checked against the hash and resume
with ``Range`` where they broke off. Maintenance (``gc``, ``doctor``) runs on the server.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx

from shipyard.config import redact_uri
from shipyard.errors import IntegrityError, InvalidArgument, NotFound, StoreUnavailable
from shipyard.store.blobs import (
    CHUNK,
    BlobInfo,
    StoredBlob,
    VerifiedReader,
    _Discard,
    _HashingWriter,
    check_hash,
)
from shipyard.store.http import ATTEMPTS, Http

CHUNKED_OVER = 16 * 1024 * 1024


class RemoteBlobStore:
    """The blob store behind the server at ``uri`` (``http(s)://host:port``)."""

    local = False

    def __init__(self, uri: str, chunk_size: int = CHUNK) -> None:
        self.uri = uri.rstrip("/")
        self.root = f"{self.uri}/api/v1/blobs"
        self.http = Http(self.uri)
        self.chunk_size = chunk_size

    def close(self) -> None:
        self.http.close()

    def path(self, blob_hash: str) -> str:
        return f"{self.root}/{check_hash(blob_hash)}"

    def exists(self, blob_hash: str) -> bool:
        try:
            self.size(blob_hash)
        except NotFound:
            return False
        return True

    def size(self, blob_hash: str) -> int:
        path = f"/api/v1/blobs/{check_hash(blob_hash)}"
        response = self.http.send("HEAD", path, repeatable=True)
        return int(response.headers.get("content-length", 0))

    # -- writing --------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> BlobInfo:
        blob_hash = hashlib.sha256(data).hexdigest()
        if not self.exists(blob_hash):
            self.http.send("PUT", f"/api/v1/blobs/{blob_hash}", content=data, repeatable=True)
        return BlobInfo(blob_hash, len(data))

    def put_file(self, path: str | Path) -> BlobInfo:
        source = Path(path)
        if not source.is_file():
            raise NotFound(f"no file at {source}")
        with source.open("rb") as handle:
            blob_hash = hashlib.file_digest(handle, "sha256").hexdigest()
        size = source.stat().st_size
        if self.exists(blob_hash):
            return BlobInfo(blob_hash, size)
        if size > CHUNKED_OVER:
            self._upload_in_chunks(source, blob_hash, size)
        else:
            for attempt in range(ATTEMPTS):
                try:
                    with source.open("rb") as handle:
                        self.http.send("PUT", f"/api/v1/blobs/{blob_hash}", content=handle)
                    break
                except StoreUnavailable:
                    if attempt == ATTEMPTS - 1:
                        raise
                    time.sleep(0.1 * 2**attempt)
        return BlobInfo(blob_hash, size)

    def write(self, produce: Callable[[Any], object]) -> BlobInfo:
        """Stream bytes in: ``produce`` gets a writable file object; returns the new blob."""
        handle, tmp = tempfile.mkstemp(prefix="shipyard-upload-")
        try:
            with os.fdopen(handle, "wb") as raw:
                produce(_HashingWriter(raw))
            return self.put_file(tmp)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def hash_of(self, produce: Callable[[Any], object]) -> BlobInfo:
        sink = _HashingWriter(_Discard())
        produce(sink)
        return BlobInfo(sink.hexdigest(), sink.size)

    def _upload_in_chunks(self, source: Path, blob_hash: str, size: int) -> None:
        started = self.http.json(
            "POST", "/api/v1/uploads", {"sha256": blob_hash, "size": size}, repeatable=False
        )
        path = f"/api/v1/uploads/{started['id']}"
        offset, failures = 0, 0
        with source.open("rb") as handle:
            while offset < size:
                handle.seek(offset)
                chunk = handle.read(self.chunk_size)
                end = offset + len(chunk) - 1
                try:
                    self.http.send(
                        "PUT", path, content=chunk,
                        headers={"content-range": f"bytes {offset}-{end}/{size}"},
                    )  # fmt: skip
                    offset = end + 1
                    failures = 0
                except StoreUnavailable:
                    failures += 1
                    if failures >= ATTEMPTS:
                        raise
                    time.sleep(0.1 * 2**failures)
                    offset = int(self.http.json("GET", path, repeatable=True)["offset"])
        self.http.json("POST", f"{path}/finish", repeatable=True)

    # -- reading --------------------------------------------------------------------------

    def open(self, blob_hash: str) -> VerifiedReader:
        spool: IO[bytes] = tempfile.TemporaryFile(prefix="shipyard-blob-")  # noqa: SIM115
        try:
            self._download(blob_hash, spool)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return VerifiedReader(spool, blob_hash)

    def get_bytes(self, blob_hash: str) -> bytes:
        with self.open(blob_hash) as reader:
            return reader.read()

    def get_to_path(self, blob_hash: str, destination: str | Path) -> Path:
        target = Path(destination)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            with tmp.open("wb") as out:
                self._download(blob_hash, out)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def _download(self, blob_hash: str, out: IO[bytes] | _Discard, verify: bool = True) -> str:
        """Write the blob to ``out``, resuming with Range after a break; check its hash
        (unless not ``verify``); return the hash of the bytes received."""
        path = f"/api/v1/blobs/{check_hash(blob_hash)}"
        sha, got, failures = hashlib.sha256(), 0, 0
        while True:
            headers = {"range": f"bytes={got}-"} if got else {}
            try:
                with self.http.stream("GET", path, headers=headers) as response:
                    for chunk in response.iter_bytes(CHUNK):
                        sha.update(chunk)
                        out.write(chunk)
                        got += len(chunk)
                break
            except (StoreUnavailable, httpx.TransportError):
                failures += 1
                if failures >= ATTEMPTS:
                    raise
                time.sleep(0.1 * 2**failures)
        if verify and sha.hexdigest() != blob_hash:
            raise IntegrityError(
                f"blob {blob_hash} from {redact_uri(self.uri)} hashes to {sha.hexdigest()}; "
                "the server's copy is corrupt or the transfer was altered"
            )
        return sha.hexdigest()

    # -- maintenance runs on the server -----------------------------------------------------

    def _on_server(self, what: str) -> InvalidArgument:
        return InvalidArgument(
            f"{what} runs on the server: run it where {redact_uri(self.uri)} runs"
        )

    def iter_blobs(self) -> Iterator[StoredBlob]:
        raise self._on_server("listing blobs (shipyard gc, shipyard doctor)")

    def iter_temp_files(self) -> Iterator[tuple[str, float]]:
        raise self._on_server("cleaning temporary files (shipyard gc)")

    def digest(self, blob_hash: str) -> str | None:
        try:
            return self._download(blob_hash, _Discard(), verify=False)
        except NotFound:
            return None

    def delete(self, blob_hash: str) -> None:
        raise self._on_server("deleting blobs (shipyard gc)")

    def remove_file(self, path: str) -> None:
        raise self._on_server("removing temporary files (shipyard gc)")
