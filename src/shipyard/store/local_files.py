"""The local filesystem for the blob store, with the calls every write and read makes
answered by ``os`` and ``open``; the rest (``find``, ``pipe_file``, …) goes to fsspec's
``LocalFileSystem``, imported on first use.

fsspec (it imports asyncio) takes ~30 ms to import: as long as a flow task's whole work
on a local store. The methods here keep fsspec's names and behaviour for local paths, so
the blob store calls ``self.fs`` the same way whatever it holds.
"""

from __future__ import annotations

import os
from typing import IO, Any

_PREFIX = "file://"


def local_root(uri: str) -> str | None:
    """The absolute path fsspec would make of a local ``uri`` (a path or ``file://``);
    None for any other URI, or on a system whose paths are not POSIX."""
    if os.sep != "/" or "::" in uri:
        return None
    path = uri.removeprefix(_PREFIX)
    if "://" in path:
        return None
    if path.startswith("~"):
        path = os.path.expanduser(path)
    elif not path.startswith("/"):
        path = f"{os.getcwd()}/{'' if path == '.' else path.removeprefix('./')}"
    return path.rstrip("/") or "/"


class LocalFiles:
    def __init__(self) -> None:
        self._fsspec: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._fsspec is None:
            from fsspec.implementations.local import LocalFileSystem

            self._fsspec = LocalFileSystem()
        return getattr(self._fsspec, name)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def size(self, path: str) -> int:
        return os.stat(path).st_size  # FileNotFoundError when missing, as fsspec

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        os.makedirs(path, exist_ok=exist_ok)

    def open(self, path: str, mode: str = "rb", block_size: int | None = None) -> IO[bytes]:
        if "b" not in mode:
            raise ValueError(f"the blob store opens files in binary mode, not {mode!r}")
        return open(path, mode)  # the caller closes it

    def rm(self, path: str) -> None:
        os.remove(path)
