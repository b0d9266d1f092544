"""Prepared rows kept for reuse: in memory for the process, and on disk for later ones.

An entry is keyed by a hash of everything the prepared rows (``prepared``) depend on: the
view's definition and version, its join keys' types, its source's spec and its *data*
fingerprint (``Source.data_fingerprint``: file sizes and times, a DataFrame's content,
the pushed segments). A changed definition or changed data gives a new key, so an entry is
never stale; a source without a data fingerprint (a SQL query) is prepared for each
training set and never kept.

On disk an entry is one Arrow IPC file, ``<home>/cache/features/<project>/<view>/
<key>.<crc32>.arrow``, read back memory-mapped (no copy, no parsing). It is written by a
background thread after the training set that built it (writing ~50 MB costs ~0.1 s here),
under a temporary name and renamed into place, so two processes writing the same entry are
safe (the last rename wins; both wrote the same rows). A file whose checksum, footer or
metadata does not match is deleted and the entry is built again. Each view keeps its
``KEEP_PER_VIEW`` newest entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.features.prepared import Prepared

if TYPE_CHECKING:
    import pyarrow as pa

    from shipyard.features.definitions import FeatureView
    from shipyard.features.sources import SourceContext

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the prepared columns or their order change
META = b"shipyard.prepared"
KEEP_PER_VIEW = 2
STALE_TMP_SECONDS = 3600
MEMORY_BYTES = 2 << 30  # prepared rows kept in memory per cache (at most 1/4 of RAM)


def cache_key(project: str, view: FeatureView, version: int | None, data: str) -> str:
    """Hash of what a view's prepared rows depend on; ``data``: the source's data
    fingerprint."""
    spec = {
        "format": FORMAT,
        "project": project,
        "view": view.to_spec(),
        "version": version,
        "keys": {k: t.value for k, t in view.key_dtypes().items()},
        "source": view.source.to_spec(),
        "data": data,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def _memory_budget() -> int:
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return MEMORY_BYTES
    return min(MEMORY_BYTES, ram // 4)


@dataclass
class PreparedCache:
    """Prepared rows by key: an LRU in memory (``memory_bytes``) over files in ``root``
    (None: memory only)."""

    root: Path | None
    memory_bytes: int = field(default_factory=_memory_budget)
    _memory: OrderedDict[str, Prepared] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _building: dict[str, threading.Lock] = field(default_factory=dict)
    _writers: list[threading.Thread] = field(default_factory=list)
    _unsaved: dict[str, Path] = field(default_factory=dict)  # key -> folder to write it to

    def get(
        self,
        view: FeatureView,
        version: int | None,
        project: str,
        sources: SourceContext,
        build: Callable[[str], Prepared],
    ) -> Prepared:
        """The view's prepared rows: from memory, else from disk, else ``build(key)``
        (then kept in memory, and on disk once ``save`` is called: after the training set
        that needed them is done, so the writing does not compete with it). Uncacheable
        sources are built every time."""
        data = view.source.data_fingerprint(sources)
        if data is None:
            return build("")
        key = cache_key(project, view, version, data)
        found = self._remembered(key)
        if found is not None:
            return found
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        with building:  # one build per key at a time; the others then find it
            found = self._remembered(key)
            if found is None:
                folder = self._folder(project, view.name)
                found = self._load(folder, key) if folder is not None else None
                if found is None:
                    found = build(key)
                    if folder is not None:
                        with self._lock:
                            self._unsaved[key] = folder
                self._remember(found)
        with self._lock:
            self._building.pop(key, None)
        return found

    def find(
        self, view: FeatureView, version: int | None, project: str, sources: SourceContext
    ) -> Prepared | None:
        """The view's prepared rows if they are in memory or on disk already; None when
        they would have to be built (or the source is never kept)."""
        data = view.source.data_fingerprint(sources)
        if data is None:
            return None
        key = cache_key(project, view, version, data)
        found = self._remembered(key)
        folder = self._folder(project, view.name)
        if found is None and folder is not None:
            found = self._load(folder, key)
            if found is not None:
                self._remember(found)
        return found

    def save(self, prepared: list[Prepared], *, wait: bool = False) -> None:
        """Write the entries among ``prepared`` that are not on disk yet, in a background
        thread each at a lower priority (``wait``: in this thread, at its priority, for
        a caller that waits for them anyway: apply)."""
        for entry in prepared:
            with self._lock:
                folder = self._unsaved.pop(entry.key, None) if entry.key else None
            if folder is not None and wait:
                _write_quietly(folder, entry, lower=False)
            elif folder is not None:
                self._persist(folder, entry)

    def flush(self, timeout: float | None = None) -> None:
        """Wait for entries still being written (tests, benchmarks, before exit)."""
        with self._lock:
            writers, self._writers = self._writers, []
        for thread in writers:
            thread.join(timeout)

    def forget(self, key: str | None = None) -> None:
        """Drop the in-memory entries, or the one of ``key`` (the files stay)."""
        with self._lock:
            if key is None:
                self._memory.clear()
            else:
                self._memory.pop(key, None)

    # -- memory -----------------------------------------------------------------------

    def _remembered(self, key: str) -> Prepared | None:
        with self._lock:
            found = self._memory.get(key)
            if found is not None:
                self._memory.move_to_end(key)
            return found

    def _remember(self, prepared: Prepared) -> None:
        with self._lock:
            self._memory[prepared.key] = prepared
            self._memory.move_to_end(prepared.key)
            total = sum(p.nbytes for p in self._memory.values())
            while total > self.memory_bytes and len(self._memory) > 1:
                _, dropped = self._memory.popitem(last=False)
                total -= dropped.nbytes

    # -- disk -------------------------------------------------------------------------

    def _folder(self, project: str, view: str) -> Path | None:
        return self.root / project / view if self.root is not None else None

    def _load(self, folder: Path, key: str) -> Prepared | None:
        if not folder.is_dir():
            return None
        for path in sorted(folder.glob(f"{key}.*.arrow")):
            try:
                return _read(path, key)
            except Exception as exc:  # damaged: delete it and build the entry again
                log.warning("prepared rows %s are damaged (%s); rebuilding them", path, exc)
                path.unlink(missing_ok=True)
        return None

    def _persist(self, folder: Path, prepared: Prepared) -> None:
        thread = threading.Thread(
            target=_write_quietly, args=(folder, prepared), name="shipyard-prepared-writer"
        )
        with self._lock:
            self._writers = [t for t in self._writers if t.is_alive()]
            self._writers.append(thread)
        thread.start()


def _read(path: Path, key: str) -> Prepared:
    """The entry at ``path``, memory-mapped, after checking its checksum and metadata."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    expected = int(path.name.split(".")[1], 16)
    data = pa.memory_map(str(path)).read_buffer()
    if zlib.crc32(data) != expected:
        raise ValueError("checksum mismatch")
    table = ipc.open_file(data).read_all()
    meta = json.loads((table.schema.metadata or {})[META])
    if meta["key"] != key or meta["rows"] != table.num_rows or meta["format"] != FORMAT:
        raise ValueError("metadata does not match the entry")
    return Prepared(table.replace_schema_metadata(None), meta["keys"], meta["features"], key)


def _write_quietly(folder: Path, prepared: Prepared, lower: bool = True) -> None:
    if lower:
        _lower_priority()
    try:
        write(folder, prepared)
    except Exception as exc:  # a cache: a failed write costs a rebuild later, nothing else
        log.warning("could not keep prepared rows in %s: %s", folder, exc)


def _lower_priority() -> None:
    """Let the training set that built the entry have the CPU first (Linux: a thread's
    own nice value)."""
    with contextlib.suppress(AttributeError, OSError):  # else at normal priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


def write(folder: Path, prepared: Prepared) -> Path:
    """Write the entry under a temporary name, then rename it into place."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{prepared.key}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    if prepared.spilled:  # larger than memory: batch by batch
        batches: Iterable[pa.RecordBatch] = prepared.winning_batches()
        rows = prepared.rows if prepared.keep is None else int(prepared.keep.sum())
        schema = prepared.table.schema
    else:  # one batch: a reader's columns then need no concatenating
        table = prepared.deduplicated
        if any(column.num_chunks > 1 for column in table.columns):
            table = table.combine_chunks()
        batches, rows, schema = table.to_batches(), table.num_rows, table.schema
    meta = {
        "key": prepared.key,
        "rows": rows,
        "keys": prepared.keys,
        "features": prepared.features,
        "format": FORMAT,
    }
    schema = schema.with_metadata({META: json.dumps(meta).encode()})
    try:
        with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
        crc = zlib.crc32(pa.memory_map(str(tmp)).read_buffer())
        final = folder / f"{prepared.key}.{crc:08x}.arrow"
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    _prune(folder, final)
    return final


def _prune(folder: Path, keep: Path) -> None:
    """Keep the newest entries of a view and no temporary file of a dead writer."""
    now = time.time()
    entries: list[tuple[float, Path]] = []
    for path in folder.iterdir():
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            continue
        if path.name.endswith(".tmp"):
            if now - mtime > STALE_TMP_SECONDS:
                path.unlink(missing_ok=True)
        elif path.name.endswith(".arrow") and path != keep:
            entries.append((mtime, path))
    entries.sort(reverse=True)
    for _, path in entries[KEEP_PER_VIEW - 1 :]:
        path.unlink(missing_ok=True)
