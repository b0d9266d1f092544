"""/api/v1 routes: content-addressed blobs, streamed both ways, and resumable uploads.

``PUT /blobs/{sha256}`` stores a body whose hash the server checks; ``HEAD`` says whether
a blob is there (so clients skip what the server holds); ``GET`` streams it and honours
``Range`` (206), so an interrupted download resumes. Large files go in chunks: ``POST
/uploads`` opens an upload, ``PUT /uploads/{id}`` appends the chunk its ``Content-Range``
places at the received offset, ``GET /uploads/{id}`` tells that offset after a break, and
``POST /uploads/{id}/finish`` checks the hash and stores the blob.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from shipyard.errors import Conflict, InvalidArgument, NotFound
from shipyard.governance import Need
from shipyard.server.authz import rule
from shipyard.server.deps import client_of
from shipyard.store.blobs import CHUNK, BlobStore, check_hash

router = APIRouter(prefix="/api/v1", tags=["blobs"])
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)$")
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_SPOOL = 1024 * 1024


class BlobOut(BaseModel):
    hash: str
    size: int


class UploadIn(BaseModel):
    sha256: Sha256
    size: Annotated[int, Field(ge=0, le=2**50)]


class UploadOut(BaseModel):
    id: str
    sha256: str
    size: int
    offset: int


def _blobs(request: Request) -> BlobStore:
    return client_of(request).blobs


# -- whole blobs -----------------------------------------------------------------------


@router.put("/blobs/{sha256}", response_model=BlobOut, status_code=201)
@rule(Need.WRITE, "any")
async def put_blob(sha256: str, request: Request) -> BlobOut:
    """Store the body as blob ``sha256``; refused (400) when the bytes hash otherwise."""
    check_hash(sha256)
    blobs = _blobs(request)
    if await run_in_threadpool(blobs.exists, sha256):
        async for _ in request.stream():  # read and drop: the blob is there already
            pass
        return BlobOut(hash=sha256, size=await run_in_threadpool(blobs.size, sha256))
    tmp = _uploads_dir(request) / f"put-{uuid.uuid4().hex}.part"
    try:
        sha, size = hashlib.sha256(), 0
        with tmp.open("wb") as out:
            pending: list[bytes] = []
            held = 0
            async for chunk in request.stream():
                sha.update(chunk)
                pending.append(chunk)
                size, held = size + len(chunk), held + len(chunk)
                if held >= _SPOOL:  # write off the event loop, 1 MiB at a time
                    await run_in_threadpool(out.write, b"".join(pending))
                    pending, held = [], 0
            await run_in_threadpool(out.write, b"".join(pending))
        _check_digest(sha256, sha.hexdigest())
        info = await run_in_threadpool(blobs.put_file, tmp)
        return BlobOut(hash=info.hash, size=info.size)
    finally:
        tmp.unlink(missing_ok=True)


@router.head("/blobs/{sha256}")
@rule(Need.READ, "any")  # existence only: a client checks before uploading
def head_blob(sha256: str, request: Request) -> Response:
    size = _blobs(request).size(check_hash(sha256))
    return Response(headers={"content-length": str(size), "accept-ranges": "bytes"})


@router.get(
    "/blobs/{sha256}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, 206: {}},
)
@rule(Need.READ, "blob")
def get_blob(sha256: str, request: Request) -> Response:
    """The blob's bytes; with ``Range: bytes=START-[END]`` only those (206)."""
    blobs = _blobs(request)
    size = blobs.size(check_hash(sha256))
    wanted = request.headers.get("range")
    headers = {"accept-ranges": "bytes", "etag": f'"{sha256}"'}
    if wanted is None:
        headers["content-length"] = str(size)
        return StreamingResponse(
            _read_all(blobs, sha256), media_type="application/octet-stream", headers=headers
        )
    start, end = _parse_range(wanted, size)
    if start >= size:
        headers["content-range"] = f"bytes */{size}"
        return _json(416, "RANGE_NOT_SATISFIABLE", f"blob {sha256} has {size} bytes", headers)
    headers["content-range"] = f"bytes {start}-{end}/{size}"
    headers["content-length"] = str(end - start + 1)
    return StreamingResponse(
        _read_range(blobs, sha256, start, end + 1),
        status_code=206,
        media_type="application/octet-stream",
        headers=headers,
    )


def _read_all(blobs: BlobStore, sha256: str) -> Iterator[bytes]:
    with blobs.open(sha256) as reader:  # verified: corrupt bytes end the stream early
        while chunk := reader.read(CHUNK):
            yield chunk


def _read_range(blobs: BlobStore, sha256: str, start: int, stop: int) -> Iterator[bytes]:
    with blobs.fs.open(blobs.path(sha256), "rb") as handle:
        handle.seek(start)
        left = stop - start
        while left > 0 and (chunk := handle.read(min(CHUNK, left))):
            left -= len(chunk)
            yield chunk


def _parse_range(header: str, size: int) -> tuple[int, int]:
    match = _RANGE.match(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        raise InvalidArgument(f"Range {header!r} is not of the form bytes=START-[END]")
    first, last = match.groups()
    if first == "":  # the last N bytes
        return max(0, size - int(last)), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if end < start and start < size:
        raise InvalidArgument(f"Range {header!r} ends before it starts")
    return start, end


def _check_digest(expected: str, actual: str) -> None:
    if actual != expected:
        raise IntegrityMismatch(f"the bytes sent hash to {actual}, not {expected}; send them again")


class IntegrityMismatch(InvalidArgument):
    """Bytes that do not hash to the name they were sent under: the sender's to fix."""


def _json(status: int, code: str, message: str, headers: dict[str, str]) -> Response:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    return Response(body, status, headers=headers, media_type="application/json")


# -- resumable uploads -----------------------------------------------------------------


def _uploads_dir(request: Request) -> Path:
    client = client_of(request)
    blobs = client.blobs
    folder = (
        Path(blobs.root, ".tmp", "uploads") if blobs.local else client.settings.home / "uploads"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _upload(request: Request, upload_id: str) -> tuple[Path, UploadOut]:
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise NotFound(f"no upload {upload_id!r}")
    folder = _uploads_dir(request)
    meta, data = folder / f"{upload_id}.json", folder / f"{upload_id}.part"
    if not meta.is_file():
        raise NotFound(f"no upload {upload_id!r}: it finished, or was never started")
    info = orjson.loads(meta.read_bytes())
    offset = data.stat().st_size if data.exists() else 0
    return data, UploadOut(id=upload_id, sha256=info["sha256"], size=info["size"], offset=offset)


@router.post("/uploads", response_model=UploadOut, status_code=201)
@rule(Need.WRITE, "any")
def start_upload(body: UploadIn, request: Request) -> UploadOut:
    upload_id = uuid.uuid4().hex
    folder = _uploads_dir(request)
    (folder / f"{upload_id}.part").touch()
    meta = {"sha256": body.sha256, "size": body.size}
    (folder / f"{upload_id}.json").write_bytes(orjson.dumps(meta))
    return UploadOut(id=upload_id, sha256=body.sha256, size=body.size, offset=0)


@router.get("/uploads/{upload_id}", response_model=UploadOut)
@rule(Need.WRITE, "any")
def upload_status(upload_id: str, request: Request) -> UploadOut:
    return _upload(request, upload_id)[1]


@router.put("/uploads/{upload_id}", response_model=UploadOut)
@rule(Need.WRITE, "any")
async def put_chunk(upload_id: str, request: Request) -> UploadOut:
    """Append the body at ``Content-Range: bytes START-END/TOTAL``; START must be the
    received offset (else 409: ask ``GET`` where to resume)."""
    data, state = await run_in_threadpool(_upload, request, upload_id)
    header = request.headers.get("content-range", "")
    match = _CONTENT_RANGE.match(header.strip())
    if match is None:
        raise InvalidArgument(f"Content-Range {header!r} is not of the form bytes START-END/TOTAL")
    start, end = int(match.group(1)), int(match.group(2))
    if start != state.offset:
        raise Conflict(f"upload {upload_id} has {state.offset} bytes; resume at that offset")
    if end < start or end >= state.size:
        raise InvalidArgument(f"Content-Range {header!r} is outside the {state.size} bytes")
    written = 0
    with data.open("ab") as out:
        async for chunk in request.stream():
            written += len(chunk)
            if written > end - start + 1:
                out.truncate(start)
                raise InvalidArgument("the chunk is longer than its Content-Range says")
            out.write(chunk)
        if written != end - start + 1:
            out.truncate(start)
            raise InvalidArgument(f"the chunk has {written} bytes; Content-Range says otherwise")
    return state.model_copy(update={"offset": start + written})


@router.post("/uploads/{upload_id}/finish", response_model=BlobOut)
@rule(Need.WRITE, "any")
def finish_upload(upload_id: str, request: Request) -> BlobOut:
    data, state = _upload(request, upload_id)
    if state.offset != state.size:
        raise Conflict(f"upload {upload_id} has {state.offset} of {state.size} bytes")
    with data.open("rb") as handle:
        actual = hashlib.file_digest(handle, "sha256").hexdigest()
    meta = data.with_suffix(".json")
    if actual != state.sha256:
        data.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
        raise IntegrityMismatch(
            f"upload {upload_id} hashes to {actual}, not {state.sha256}; upload it again"
        )
    info = _blobs(request).put_file(data)
    data.unlink(missing_ok=True)
    meta.unlink(missing_ok=True)
    return BlobOut(hash=info.hash, size=info.size)
