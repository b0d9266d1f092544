"""``Storage``: Metaflow's ``S3`` data helper, over fsspec and the run's artifact root.

    @step
    def start(self):
        with Storage(run=self) as s:
            url = s.put("raw/data.csv", text)      # under <artifact root>/storage/Flow/12/
            obj = s.get("raw/data.csv")            # .text, .blob, .path, .url, .size
            s.put_files([("model.bin", "/tmp/model.bin")])
            objs = s.get_many(["raw/data.csv", "model.bin"])

``run=`` is a running flow (``self`` in a step) or a client ``Run`` (to read what a run
stored, after it); ``prefix=`` (or Metaflow's ``s3root=``) is any fsspec URL or folder
instead (``s3://bucket/x``). ``S3`` is the same class under Metaflow's name.
Keys are relative paths inside that root: ``..`` and absolute keys are refused. Objects
read with ``get`` are downloaded to a temporary folder, removed when the block ends.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from shipyard.errors import InvalidArgument, NotFound


class StorageObject:
    """An object read with ``Storage.get``: ``key``, ``url``, ``path`` (a local copy),
    ``blob`` (bytes), ``text`` (str), ``size``, ``exists``."""

    def __init__(self, key: str, url: str, path: str | None) -> None:
        self.key, self.url, self.path = key, url, path

    def __repr__(self) -> str:
        return f"<StorageObject {self.url}>"

    @property
    def exists(self) -> bool:
        return self.path is not None

    @property
    def blob(self) -> bytes:
        if self.path is None:
            raise NotFound(f"{self.url} does not exist")
        return Path(self.path).read_bytes()

    @property
    def text(self) -> str:
        return self.blob.decode("utf-8")

    @property
    def size(self) -> int:
        return 0 if self.path is None else os.path.getsize(self.path)


class Storage:
    """Put and get objects under a run's storage root (see the module's docstring)."""

    def __init__(self, run: Any = None, prefix: str | None = None, s3root: str | None = None):
        prefix = prefix or s3root  # Metaflow's S3(s3root=...)
        if (run is None) == (prefix is None):
            raise InvalidArgument("Storage takes run=self (in a step), run=<a Run>, or prefix=")
        self.root = (prefix or _root_of(run)).rstrip("/")
        self._tmp: str | None = None
        import fsspec

        self._fs, self._base = fsspec.core.url_to_fs(self.root)

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _where(self, key: str) -> tuple[str, str]:
        """(filesystem path, URL) of ``key``, kept inside the root."""
        parts = PurePosixPath(str(key).replace("\\", "/")).parts
        if not key or key.startswith("/") or ".." in parts or not parts:
            raise InvalidArgument(f"storage key {key!r} must be a relative path without '..'")
        rel = "/".join(parts)
        return f"{self._base}/{rel}", f"{self.root}/{rel}"

    def put(self, key: str, obj: bytes | str, overwrite: bool = True) -> str:
        """Store ``obj`` (bytes, or text as UTF-8) at ``key``; returns its URL."""
        if not isinstance(obj, bytes | str):
            raise InvalidArgument(f"Storage.put takes bytes or str, not {type(obj).__name__}")
        path, url = self._where(key)
        if overwrite or not self._fs.exists(path):
            self._fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            with self._fs.open(path, "wb") as out:
                out.write(obj.encode("utf-8") if isinstance(obj, str) else obj)
        return url

    def put_many(self, key_objs: Iterable[tuple[str, bytes | str]]) -> list[tuple[str, str]]:
        return [(key, self.put(key, obj)) for key, obj in key_objs]

    def put_files(self, key_paths: Iterable[tuple[str, str | os.PathLike[str]]]) -> list[Any]:
        """Upload local files: ``[(key, local_path), ...]``; returns ``[(key, url), ...]``."""
        done = []
        for key, local in key_paths:
            path, url = self._where(key)
            self._fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            self._fs.put_file(os.fspath(local), path)
            done.append((key, url))
        return done

    def get(self, key: str, return_missing: bool = False) -> StorageObject:
        """The object at ``key``, copied to a local file; NotFound if there is none
        (unless ``return_missing``: then an object whose ``exists`` is False)."""
        path, url = self._where(key)
        if not self._fs.exists(path):
            if return_missing:
                return StorageObject(key, url, None)
            raise NotFound(f"{url} does not exist")
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="shipyard-storage-")
        local = os.path.join(self._tmp, *PurePosixPath(key).parts)
        os.makedirs(os.path.dirname(local), exist_ok=True)
        self._fs.get_file(path, local)
        return StorageObject(key, url, local)

    def get_many(self, keys: Iterable[str], return_missing: bool = False) -> list[StorageObject]:
        return [self.get(key, return_missing) for key in keys]

    def list_paths(self) -> list[str]:
        """Every key stored under the root, sorted."""
        if not self._fs.exists(self._base):
            return []
        found = self._fs.find(self._base)
        return sorted(str(p)[len(self._base) :].lstrip("/") for p in found)


S3 = Storage  # Metaflow's name, so that `from metaflow import S3` needs only its import changed


def _root_of(run: Any) -> str:
    """``<artifact root>/storage/<Flow>/<run number>`` of a running flow or a client Run."""
    from shipyard.flows.spec import FlowSpec

    if isinstance(run, FlowSpec):
        from shipyard.flows.current import current
        from shipyard.tracking import active_run

        active = active_run()
        if not current.is_running_flow or active is None:
            raise InvalidArgument("Storage(run=self) works inside a running step")
        artifact_uri = active.client.settings.artifact_uri
        flow_name, number = current.flow_name, current.run_id
    elif hasattr(run, "pathspec") and hasattr(run, "_client"):  # a client Run
        artifact_uri = run._client.settings.artifact_uri
        flow_name, number = run.flow_name, run.id
    else:
        raise InvalidArgument(f"Storage(run=...) takes self in a step or a Run, not {run!r}")
    return f"{str(artifact_uri).rstrip('/')}/storage/{flow_name}/{number}"
