"""The web UI's artifact browser: a run's folders and files, previews, and downloads."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from shipyard.errors import NotFound
from shipyard.governance import Need
from shipyard.server.authz import rule
from shipyard.server.ui.render import page
from shipyard.server.ui.runs_common import (
    IMAGE_CSP,
    IMAGES,
    PREVIEW_BYTES,
    TABLE_BYTES,
    TABLE_ROWS,
    TEXT,
    _client,
    _head_bytes,
    _head_text,
    _part,
)
from shipyard.store.base import ArtifactRecord, RunRecord
from shipyard.tracking import validation as v

router = APIRouter(include_in_schema=False)


@dataclass
class Entry:
    name: str
    path: str
    folder: bool
    size: int = 0
    files: int = 0
    record: ArtifactRecord | None = None


@dataclass
class Preview:
    kind: str  # image | text | json | table | none
    text: str = ""
    truncated: bool = False
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    total_rows: int | None = None
    note: str = ""


def _listing(records: list[ArtifactRecord], folder: str) -> list[Entry]:
    prefix = folder + "/" if folder else ""
    entries: dict[str, Entry] = {}
    for record in records:
        if not record.path.startswith(prefix):
            continue
        rest = record.path[len(prefix) :]
        head, slash, _ = rest.partition("/")
        if slash:
            entry = entries.setdefault(head, Entry(head, prefix + head, True))
            entry.size += record.size
            entry.files += 1
        else:
            entries[head] = Entry(head, record.path, False, record.size, 1, record)
    return sorted(entries.values(), key=lambda e: (not e.folder, e.name))


def _extension(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"  # no float noise (0.30000000000000004)
    return str(value)


def _table_preview(header: list[Any], rows: list[list[Any]], total: int | None) -> Preview:
    return Preview(
        "table",
        header=[str(h) for h in header],
        rows=[[_cell(c) for c in row] for row in rows],
        total_rows=total,
    )


def _parquet_preview(data: bytes) -> Preview:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table_file = pq.ParquetFile(pa.BufferReader(data))
    batch = next(table_file.iter_batches(batch_size=TABLE_ROWS), None)
    header = list(table_file.schema_arrow.names)
    rows = [list(r.values()) for r in batch.to_pylist()] if batch is not None else []
    return _table_preview(header, rows, table_file.metadata.num_rows)


def _csv_preview(text: str, delimiter: str) -> Preview:
    lines = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not lines:
        return Preview("text", text="(empty)")
    return _table_preview(lines[0], lines[1 : TABLE_ROWS + 1], None)


def _preview(client: Any, record: ArtifactRecord) -> Preview:
    extension = _extension(record.path)
    if extension in IMAGES:
        return Preview("image")
    if record.serializer in ("pandas", "arrow") or extension == ".parquet":
        if record.size > TABLE_BYTES:
            return Preview("none", note=f"a table of {record.size:,} bytes: download it")
        return _parquet_preview(client.blobs.get_bytes(record.blob_hash))
    if extension in (".csv", ".tsv"):
        text = _head_text(client, record, PREVIEW_BYTES)
        return _csv_preview(text, "\t" if extension == ".tsv" else ",")
    textual = extension in TEXT or record.serializer == "text"
    if not textual and record.serializer not in ("file", "json"):
        return Preview("none", note=f"a {record.serializer} object: download it to load it")
    data = _head_bytes(client, record, PREVIEW_BYTES)
    if not textual and b"\x00" in data[:4096]:
        return Preview("none", note="binary file: download it")
    text = data.decode("utf-8", errors="replace")
    truncated = record.size > len(data)
    if extension == ".json" and not truncated:
        try:
            return Preview("json", text=json.dumps(json.loads(text), indent=2, ensure_ascii=False))
        except ValueError:
            pass
    return Preview("text", text=text, truncated=truncated)


@router.get("/ui/runs/{run_id}/artifacts")
@rule(Need.READ)
def artifacts_page(
    run_id: str, request: Request, path: Annotated[str, Query(max_length=1024)] = ""
) -> Response:
    client = _client(request)
    run: RunRecord = client.store.get_run(v.check_run_id(run_id))
    path = path.strip("/")
    records: list[ArtifactRecord] = client.store.list_artifacts(run.id)
    chosen = next((r for r in records if r.path == path), None) if path else None
    folder = (
        path.rsplit("/", 1)[0]
        if chosen is not None and "/" in path
        else ("" if chosen is not None else path)
    )
    entries = _listing(records, folder)
    if path and chosen is None and not entries:
        raise NotFound(f"run {run.id} has no artifact at {path!r}")
    preview, problem = (
        _part("preview", lambda: _preview(client, chosen), Preview("none"))
        if chosen is not None
        else (None, None)
    )
    name = run.name or run.id[:8]
    trail = []
    so_far = ""
    for piece in folder.split("/") if folder else []:
        so_far = f"{so_far}/{piece}" if so_far else piece
        trail.append((piece, so_far))
    return page(
        request,
        "runs_artifacts.html",
        section="runs",
        crumbs=[
            ("Projects", "/ui/projects"),
            (run.project, f"/ui/projects/{quote(run.project)}/runs"),
            (name, f"/ui/runs/{run.id}"),
            ("Artifacts", None),
        ],
        run=run,
        name=name,
        folder=folder,
        trail=trail,
        entries=entries,
        chosen=chosen,
        preview=preview,
        flash=problem,
        flash_kind="error",
        total=len(records),
        quote=quote,
    )


def _chunks(client: Any, record: ArtifactRecord) -> Iterator[bytes]:
    with client.blobs.open(record.blob_hash) as reader:
        while chunk := reader.read(1024 * 1024):
            yield chunk


@router.get("/ui/runs/{run_id}/artifact")
@rule(Need.READ)
def artifact_bytes(
    run_id: str, request: Request, path: Annotated[str, Query(min_length=1, max_length=1024)]
) -> Response:
    """An artifact's bytes: images as themselves (for <img>), anything else a download."""
    client = _client(request)
    record = client.store.get_artifact(v.check_run_id(run_id), v.artifact_path(path))
    if not client.blobs.exists(record.blob_hash):  # refuse before the headers go out
        raise NotFound(f"the blob of artifact {record.path!r} is missing: see `shipyard doctor`")
    kind = IMAGES.get(_extension(record.path))
    filename = record.path.rsplit("/", 1)[-1] or "artifact"
    headers = {"x-content-type-options": "nosniff", "content-length": str(record.size)}
    if kind:
        headers["content-security-policy"] = IMAGE_CSP
        headers["cache-control"] = "private, max-age=3600"
        headers["content-disposition"] = f"inline; filename*=UTF-8''{quote(filename)}"
    else:
        headers["content-disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return StreamingResponse(
        _chunks(client, record), media_type=kind or "application/octet-stream", headers=headers
    )


# -- /ui/compare -----------------------------------------------------------------------------
