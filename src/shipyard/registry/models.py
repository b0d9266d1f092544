"""The model registry: register a model (or a run's artifact) as the next immutable version,
move aliases, and load any version back by URI in any process.

    v = shipyard.register_model("churn", model, input_example=X[:5])
    shipyard.set_model_alias("churn", "staging", v.version)
    model = shipyard.load_model("models:/churn@staging")
    ModelRegistry().promote("churn", 3, to="production", require=["tests passed"])
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from shipyard._clock import to_millis
from shipyard._names import parse_model_ref
from shipyard.errors import Conflict, GateFailed, InvalidArgument, NotFound
from shipyard.registry.archives import unpack
from shipyard.registry.flavors import flavor_for, load_flavor
from shipyard.registry.gates import evaluate_gates, parse_gates
from shipyard.registry.reference import profile_bytes, reference_frame
from shipyard.registry.signature import infer_signature
from shipyard.store.actor import current_actor
from shipyard.store.base import (
    UNCHECKED,
    AliasMove,
    ModelRegistryStore,
    ModelVersionRecord,
    NewModelVersion,
    RegisteredModel,
)
from shipyard.tracking import Client, active_run, current_user

META_FILE = "shipyard-model.json"
VERSION_FILE = "shipyard-version.json"  # a built folder's version record (load_model_dir)


@dataclass(frozen=True)
class ModelVersion:
    """A registered version; ``uri`` loads it anywhere."""

    record: ModelVersionRecord

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def version(self) -> int:
        return self.record.version

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.record, attr)


class LoadedModel:
    """A loaded version: ``predict`` plus what the registry knows about it."""

    def __init__(self, record: ModelVersionRecord, model: Any) -> None:
        self.record = record
        self.model = model

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def version(self) -> int:
        return self.record.version

    @property
    def signature(self) -> dict[str, Any]:
        return self.record.signature

    def predict(self, model_input: Any) -> Any:
        return self.model.predict(model_input)

    def __repr__(self) -> str:
        return f"<LoadedModel models:/{self.name}/{self.version} ({self.record.flavor})>"


class ModelRegistry:
    def __init__(self, client: Client | None = None) -> None:
        self.client = client or Client()

    @property
    def store(self) -> ModelRegistryStore:
        return self.client.store.models

    def register_model(
        self,
        name: str,
        model: Any = None,
        *,
        run_id: str | None = None,
        artifact: str | None = None,
        input_example: Any = None,
        flavor: str | None = None,
        dataset: Any = None,
        feature_service: str | None = None,
        metrics: dict[str, float] | None = None,
        requirements: list[str] | None = None,
        owner: str = "",
        description: str = "",
        tags: dict[str, str] | None = None,
        reference: Any = None,
        label: str | None = None,
    ) -> ModelVersion:
        """Register ``model`` (or the object logged as ``artifact`` in ``run_id``) as the
        next version of ``name``. The run defaults to the active run, the metrics to the
        run's, the signature is inferred from ``input_example``. The training rows
        (``reference``, else the ``dataset``'s) are profiled for monitoring: the inputs,
        the model's predictions on them and, when ``label`` names its column, the labels."""
        run = active_run()
        run_id = run_id or (run.id if run is not None else None)
        if model is None:
            if not (run_id and artifact):
                raise InvalidArgument("give a model, or run_id= and artifact= to register")
            model = self.client.load_artifact(run_id, artifact)
        chosen = flavor_for(model, flavor)
        packed = _pack(chosen.name, model)
        # signature and profile come from the model as it will be served: loaded back
        rows = reference_frame(self.client, reference, dataset)
        served = (
            _load_packed(chosen.name, packed)
            if input_example is not None or (rows is not None)
            else None
        )
        signature = infer_signature(served, input_example) if input_example is not None else {}
        profile = profile_bytes(served, signature, rows, label) if rows is not None else None
        if metrics is None and run_id is not None:
            self.client.flush()  # metrics logged a moment ago may still be buffered,
            if run is not None and run.id == run_id:
                run.client.flush()  # in this client or in the active run's
            metrics = dict(self.client.get_run(run_id).metrics)
        blob = self.client.blobs.put_bytes(packed)
        profiled = self.client.blobs.put_bytes(profile) if profile is not None else None
        new = NewModelVersion(
            flavor=chosen.name,
            blob_hash=blob.hash,
            run_id=run_id,
            dataset=_dataset_ref(dataset),
            feature_service=feature_service,
            signature=signature,
            requirements=tuple(requirements if requirements is not None else chosen.requirements()),
            metrics={k: float(v) for k, v in (metrics or {}).items()},
            owner=owner or _user(),
            description=description,
            tags={str(k): str(v) for k, v in (tags or {}).items()},
            profile_hash=profiled.hash if profiled is not None else None,
        )
        now = to_millis(self.client.clock.now())
        record = self.store.create_model_version(name, new, _user(), now)
        return ModelVersion(record)

    def reference_profile(self, ref: str) -> Any:
        """The version's reference profile (a ``shipyard.monitoring.Profile``), or None
        when it was registered without reference rows or a dataset."""
        from shipyard.monitoring import Profile

        record = self.find_version(ref).record
        if record.profile_hash is None:
            return None
        return Profile.from_json(json.loads(self.client.blobs.get_bytes(record.profile_hash)))

    def get_model(self, name: str) -> RegisteredModel:
        return self.store.get_model(name)

    def list_models(self) -> list[RegisteredModel]:
        return self.store.list_models()

    def versions(self, name: str) -> list[ModelVersion]:
        return [ModelVersion(r) for r in self.store.list_model_versions(name)]

    def get_version(self, uri_or_name: str, version: int | None = None) -> ModelVersion:
        """``get_version("churn", 3)``, ``get_version("models:/churn@production")``."""
        if version is not None:
            return ModelVersion(self.store.get_model_version(uri_or_name, version))
        return ModelVersion(self._resolve(uri_or_name))

    def set_alias(
        self, name: str, alias: str, version: int | None, *, expected_from: int | None = UNCHECKED
    ) -> AliasMove:
        """Point ``alias`` at ``version`` (None removes it); every move is recorded."""
        now = to_millis(self.client.clock.now())
        return self.store.move_alias(
            name, alias, version, _user(), now, expected_from=expected_from
        )

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        return self.store.alias_history(name, alias)

    def find_version(self, ref: str) -> ModelVersion:
        """What a person types: a models:/ URI, NAME/VERSION, NAME@ALIAS or NAME (latest)."""
        ref = ref.strip()
        if ref.startswith("models:/"):
            return self.get_version(ref)
        parsed = parse_model_ref(ref)
        if parsed is None:
            raise InvalidArgument(
                f"{ref!r} does not name a model version: use NAME, NAME/VERSION, NAME@ALIAS "
                "or models:/NAME/VERSION"
            )
        name, version, alias, _ = parsed
        if version is None and alias is None:
            return self.get_version(name, self.get_model(name).latest_version)
        return self.get_version(f"models:/{ref}")

    def promote(
        self, name: str, version: int, to: str = "production", require: Iterable[str] = ()
    ) -> AliasMove:
        """Point alias ``to`` at ``version`` only if every gate holds; the gate results are
        recorded with the move. The gates are judged against the version the alias points
        at now (the champion), and the move expects the alias still there: a promotion
        that raced another is refused (Conflict) instead of replacing a champion that no
        gate was checked against. A failed gate raises GateFailed and nothing moves."""
        gates = parse_gates(require)
        candidate = self.store.get_model_version(name, version)
        if candidate.status == "ARCHIVED":  # the store refuses too; say so before any gate
            raise Conflict(
                f"version {version} of model {name!r} is ARCHIVED; set it back to READY "
                "before promoting it"
            )
        current = self.store.get_model(name).aliases.get(to)
        champion = None if current is None else self.store.get_model_version(name, current)
        results = evaluate_gates(gates, candidate, champion)
        failed = [r for r in results if not r["passed"]]
        if failed:
            listing = "; ".join(f"{r['gate']} ({r['detail']})" for r in failed)
            raise GateFailed(
                f"{name} version {version} was not promoted to {to!r}: {len(failed)} of "
                f"{len(results)} gates failed: {listing}",
                results,
            )
        now = to_millis(self.client.clock.now())
        return self.store.move_alias(
            name, to, version, _user(), now, gates=results, expected_from=current
        )

    def load_model(self, uri: str) -> LoadedModel:
        record = self._resolve(uri)
        folder = self._unpacked(record.blob_hash)
        return LoadedModel(record, load_flavor(record.flavor).load(folder))

    def _resolve(self, uri: str) -> ModelVersionRecord:
        parsed = parse_model_ref(uri)
        if parsed is None or not parsed[3] or parsed[1:3] == (None, None):
            raise InvalidArgument(
                f"model URI {uri!r} must look like models:/NAME/VERSION or models:/NAME@ALIAS"
            )
        name, version, alias, _ = parsed
        if version is not None:
            return self.store.get_model_version(name, version)
        return self.store.get_model_version(name, self.store.resolve_alias(name, str(alias)))

    def _unpacked(self, blob_hash: str) -> str:
        """Model files are unpacked once per blob (content-addressed, so never stale)."""
        root = Path(self.client.settings.home) / "models"
        folder = root / blob_hash
        if folder.is_dir():
            return str(folder)
        root.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=root, prefix=".unpack-")
        try:
            unpack(self.client.blobs.get_bytes(blob_hash), tmp)
            os.replace(tmp, folder)
        except OSError:
            if not folder.is_dir():  # not another process winning the race
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return str(folder)


def version_document(record: ModelVersionRecord) -> dict[str, Any]:
    """The version record as JSON-able data: all a server needs without the store."""
    data = asdict(record)
    data["requirements"] = list(record.requirements)
    return {"format": 1, "uri": f"models:/{record.name}/{record.version}", **data}


def record_from_document(data: dict[str, Any], source: str) -> ModelVersionRecord:
    """The inverse of ``version_document``; unknown keys (from newer writers) are ignored."""
    names = {f.name for f in fields(ModelVersionRecord)}
    missing = sorted(names - set(data))
    if missing:
        raise InvalidArgument(f"{source} lacks {', '.join(missing)}; rebuild the folder")
    values = {k: v for k, v in data.items() if k in names}
    values["requirements"] = tuple(values["requirements"])
    return ModelVersionRecord(**values)


def load_model_dir(path: str | Path) -> LoadedModel:
    """Load a folder written by ``build_model`` (its ``model/`` or the folder around it),
    with the version record saved beside the files: no metadata store needed, so a
    container can serve it."""
    folder = Path(path)
    if not (folder / VERSION_FILE).is_file() and (folder / "model" / VERSION_FILE).is_file():
        folder = folder / "model"
    document = folder / VERSION_FILE
    if not document.is_file():
        raise NotFound(
            f"{path} is not a built model folder (no {VERSION_FILE}); write one with "
            "`shipyard models build NAME@ALIAS --out DIR`"
        )
    try:
        data = json.loads(document.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"{document} cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidArgument(f"{document} holds no version record; rebuild the folder")
    record = record_from_document(data, str(document))
    return LoadedModel(record, load_flavor(record.flavor).load(str(folder)))


def _pack(flavor: str, model: Any) -> bytes:
    """The flavor's files plus a small metadata file, zipped into one blob."""
    with tempfile.TemporaryDirectory() as folder:
        load_flavor(flavor).save(model, folder)
        Path(folder, META_FILE).write_text(json.dumps({"flavor": flavor, "format": 1}))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(Path(folder).rglob("*")):
                if path.is_file():
                    info = zipfile.ZipInfo(str(path.relative_to(folder)), (1980, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    archive.writestr(info, path.read_bytes())  # fixed times: same model, same blob
        return buffer.getvalue()


def _load_packed(flavor: str, packed: bytes) -> Any:
    with tempfile.TemporaryDirectory() as folder:
        unpack(packed, folder)
        return load_flavor(flavor).load(folder)


def _dataset_ref(dataset: Any) -> str | None:
    if dataset is None or isinstance(dataset, str):
        return dataset
    uri = getattr(dataset, "uri", None)
    if isinstance(uri, str):
        return uri
    raise InvalidArgument("dataset= takes a saved Dataset (from save_dataset) or its URI")


def _user() -> str:
    """Who moves an alias or registers a version: the server's signed-in caller when this
    runs in one of its requests (the web UI), else this process's user."""
    actor = current_actor()
    if actor.source != "local" and actor.user != "anonymous":
        return actor.user
    return current_user() or "unknown"
