"""Unpacking a model's zip, refusing what could escape its folder or fill the disk.

A version's blob is checked against its hash, but the registry takes blobs from clients
(the server's routes, the MLflow routes), so what is inside is not trusted: an entry
named with ``..`` or an absolute path, a symlink entry, more than ``MAX_ENTRIES`` entries
or more than ``MAX_BYTES`` unpacked (a decompression bomb) refuses the whole archive
before a byte is written. zipfile's own ``extractall`` would silently rename the first
two and write the rest.
"""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path, PurePosixPath

from shipyard.errors import InvalidArgument

MAX_ENTRIES = 100_000
MAX_BYTES = 20 * 2**30  # 20 GiB unpacked
_CHUNK = 2**20


def unpack(packed: bytes, folder: str | Path, *, what: str = "model archive") -> None:
    """Write the archive's files under ``folder`` (which must exist)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(packed))
    except zipfile.BadZipFile as exc:
        raise InvalidArgument(f"the {what} is not a zip file: {exc}") from exc
    with archive:
        entries = archive.infolist()
        _check(entries, what)
        root = Path(folder)
        written = 0
        for entry in entries:
            target = root.joinpath(*PurePosixPath(entry.filename).parts)
            if entry.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(entry) as source, open(target, "wb") as out:
                while chunk := source.read(_CHUNK):
                    written += len(chunk)  # the sizes in the header can lie: count
                    if written > MAX_BYTES:
                        raise InvalidArgument(
                            f"the {what} unpacks to more than {MAX_BYTES:,} bytes; refused"
                        )
                    out.write(chunk)


def _check(entries: list[zipfile.ZipInfo], what: str) -> None:
    if len(entries) > MAX_ENTRIES:
        raise InvalidArgument(f"the {what} has {len(entries):,} entries (limit {MAX_ENTRIES:,})")
    declared = 0
    for entry in entries:
        name = entry.filename
        path = PurePosixPath(name)
        if (
            "\\" in name
            or "\x00" in name
            or path.is_absolute()
            or ".." in path.parts
            or (path.parts and path.parts[0].endswith(":"))
        ):
            raise InvalidArgument(f"the {what} has an entry outside its folder: {name!r}")
        if stat.S_ISLNK(entry.external_attr >> 16):
            raise InvalidArgument(f"the {what} has a symbolic link entry: {name!r}")
        declared += entry.file_size
    if declared > MAX_BYTES:
        raise InvalidArgument(f"the {what} unpacks to {declared:,} bytes (limit {MAX_BYTES:,})")
