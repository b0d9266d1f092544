"""A registered MLflow model version's files: packed from their source into one blob.

Sources, as the MLflow client sends them: ``models:/m-ID`` (a logged model, MLflow 3),
``mlflow-artifacts:/EXP/RUN/artifacts/PATH`` or ``.../models/m-ID/artifacts`` and
``runs:/RUN/PATH``. The zip is deterministic (sorted names, fixed times), so the same
files make the same blob.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from shipyard.errors import NotFound
from shipyard.server.routes.mlflow.artifacts import locate, model_run_id
from shipyard.server.routes.mlflow.context import MODEL_KIND, Context
from shipyard.server.routes.mlflow.errors import INVALID, NOT_FOUND, MlflowError
from shipyard.store.base import ModelVersionRecord

SOURCE_TAG = "shipyard.mlflow.source"
MODEL_ID_TAG = "shipyard.mlflow.model_id"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def parse_source(source: str) -> tuple[str, str]:
    """(run id, folder inside the run) of a model version's source."""
    if source.startswith("models:/m-"):
        return model_run_id(source[len("models:/") :].strip("/")), ""
    if source.startswith("mlflow-artifacts:"):
        return locate(source[len("mlflow-artifacts:") :].lstrip("/"))
    if source.startswith("runs:/"):
        run_id, _, path = source[len("runs:/") :].partition("/")
        return run_id, path.strip("/")
    raise MlflowError(INVALID, f"Unsupported model version source {source!r}")


class Packer:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def pack(self, source: str, model_id: Any, run_id: Any) -> tuple[str, str | None, str | None]:
        """(blob hash, source run id, logged model id) for a new version."""
        if model_id:
            owner, folder = model_run_id(str(model_id)), ""
        else:
            owner, folder = parse_source(source)
        try:
            run = self.ctx.store.get_run(owner)
        except (NotFound, ValueError):
            raise MlflowError(NOT_FOUND, f"Model source {source!r} not found") from None
        if run.kind == MODEL_KIND:
            model_id = model_id or f"m-{run.id}"
            run_id = run_id or run.parent_id
        else:
            run_id = run_id or run.id
        prefix = f"{folder}/" if folder else ""
        records = [
            r for r in self.ctx.store.list_artifacts(owner, folder) if r.path.startswith(prefix)
        ]
        if not records:
            raise MlflowError(INVALID, f"Model source {source!r} has no files")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for record in sorted(records, key=lambda r: r.path):
                info = zipfile.ZipInfo(record.path[len(prefix) :], _EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, self.ctx.client.blobs.get_bytes(record.blob_hash))
        blob = self.ctx.client.blobs.put_bytes(buffer.getvalue())
        return blob.hash, str(run_id) if run_id else None, str(model_id) if model_id else None

    def metrics(self, run_id: str | None) -> dict[str, float]:
        if not run_id:
            return {}
        try:
            return dict(self.ctx.store.get_run(run_id).metrics)
        except NotFound:
            return {}

    def download_uri(self, record: ModelVersionRecord) -> str:
        model_id = record.tags.get(MODEL_ID_TAG)
        if model_id:
            run = self.ctx.store.get_run(model_run_id(model_id))
            experiment = self.ctx.experiment_id(run.project)
            return f"mlflow-artifacts:/{experiment}/models/{model_id}/artifacts"
        source = record.tags.get(SOURCE_TAG, "")
        if source.startswith("mlflow-artifacts:"):
            return source
        if source.startswith("runs:/"):
            run_id, folder = parse_source(source)
            experiment = self.ctx.experiment_id(self.ctx.store.get_run(run_id).project)
            return f"mlflow-artifacts:/{experiment}/{run_id}/artifacts/{folder}".rstrip("/")
        raise MlflowError(
            INVALID,
            f"version {record.version} of {record.name!r} was registered by Shipyard "
            f"({record.flavor} flavor), not in MLflow's format; load it with shipyard.load_model",
        )
