"""``/api/2.0/mlflow-artifacts/artifacts``: MLflow's proxied artifact store over Shipyard's.

MLflow's client addresses artifacts by path under the server's artifact root:
``{experiment}/{run id}/artifacts/{path}`` for a run's, and
``{experiment}/models/{model id}/artifacts/{path}`` for a logged model's (kept as the
artifacts of the model's hidden run). Files go into the content-addressed blob store and
become ordinary artifact records of the run, so Shipyard's API sees them too.
"""

from __future__ import annotations

import posixpath
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from shipyard.errors import NotFound
from shipyard.governance import Need
from shipyard.server.authz import rule
from shipyard.server.routes.mlflow.context import Context, JsonBody
from shipyard.server.routes.mlflow.errors import INVALID, NOT_FOUND, MlflowError, MlflowRoute
from shipyard.store.base import ArtifactRecord

CHUNK = 1 << 20


def model_run_id(model_id: str) -> str:
    """A logged model's hidden run: its id without the ``m-`` prefix."""
    return model_id[2:] if model_id.startswith("m-") else model_id


def locate(path: str) -> tuple[str, str]:
    """(run id, artifact path inside the run, "" for its root) for an artifact-root path."""
    parts = [p for p in path.strip("/").split("/") if p]
    if any(p in (".", "..") for p in parts) or "\\" in path:
        raise MlflowError(INVALID, f"Invalid path {path!r}")
    if len(parts) >= 4 and parts[1] == "models" and parts[3] == "artifacts":
        return model_run_id(parts[2]), "/".join(parts[4:])
    if len(parts) >= 3 and parts[2] == "artifacts":
        return parts[1], "/".join(parts[3:])
    raise MlflowError(NOT_FOUND, f"{path!r} is not a run's or a logged model's artifact path")


def list_entries(records: list[ArtifactRecord], folder: str) -> list[dict[str, Any]]:
    """The direct children of ``folder`` (MLflow's ``files``: base names, dirs sizeless)."""
    prefix = folder + "/" if folder else ""
    files: dict[str, dict[str, Any]] = {}
    for record in records:
        if folder and record.path == folder:
            name = posixpath.basename(folder)
            return [{"path": name, "is_dir": False, "file_size": record.size}]
        if not record.path.startswith(prefix):
            continue
        head, _, rest = record.path[len(prefix) :].partition("/")
        if rest:
            files[head] = {"path": head, "is_dir": True}
        else:
            files.setdefault(head, {"path": head, "is_dir": False, "file_size": record.size})
    return [files[k] for k in sorted(files)]


class Artifacts:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def run_of(self, run_id: str) -> str:
        try:
            return str(self.ctx.store.get_run(run_id).id)
        except (NotFound, ValueError):
            raise MlflowError(NOT_FOUND, f"Run with id={run_id} not found") from None

    def records(self, run_id: str, folder: str) -> list[ArtifactRecord]:
        found: list[ArtifactRecord] = self.ctx.store.list_artifacts(run_id, folder)
        return found

    def save(self, run_id: str, path: str, local: Path) -> None:
        folder = posixpath.dirname(path) or None
        target = local.parent / posixpath.basename(path)
        local.rename(target)
        self.ctx.client.log_artifact(run_id, target, artifact_path=folder)

    def open(self, run_id: str, path: str) -> Iterator[bytes]:
        try:
            record = self.ctx.store.get_artifact(run_id, path)
        except NotFound:
            raise MlflowError(NOT_FOUND, f"Artifact {path!r} of run {run_id} not found") from None
        reader = self.ctx.client.blobs.open(record.blob_hash)

        def chunks() -> Iterator[bytes]:
            with reader:
                while chunk := reader.read(CHUNK):
                    yield chunk

        return chunks()


def router(ctx: Context) -> APIRouter:
    api = APIRouter(
        prefix="/api/2.0/mlflow-artifacts/artifacts",
        route_class=MlflowRoute,
        include_in_schema=False,
    )
    store = Artifacts(ctx)

    @api.get("")
    @rule(Need.READ, "body", names="mlflow_artifact")
    def listing(body: JsonBody) -> dict[str, Any]:
        path = str(body.get("path") or "")
        try:
            run_id, folder = locate(path)
        except MlflowError:
            return {}
        files = list_entries(store.records(store.run_of(run_id), folder), folder)
        return {"files": files} if files else {}

    @api.put("/{path:path}")
    @rule(Need.WRITE, "request", names="mlflow_artifact")
    async def upload(path: str, request: Request) -> dict[str, Any]:
        run_id, inner = locate(path)
        if not inner:
            raise MlflowError(INVALID, f"{path!r} names no file")
        await run_in_threadpool(store.run_of, run_id)
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp, "upload")
            with local.open("wb") as out:
                async for chunk in request.stream():
                    out.write(chunk)
            await run_in_threadpool(store.save, run_id, inner, local)
        return {}

    @api.get("/{path:path}")
    @rule(Need.READ, "request", names="mlflow_artifact")
    def download(path: str) -> Response:
        run_id, inner = locate(path)
        chunks = store.open(store.run_of(run_id), inner)
        return StreamingResponse(chunks, media_type="application/octet-stream")

    return api
