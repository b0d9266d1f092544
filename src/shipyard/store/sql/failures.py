"""What a database's failures mean for a user, without SQLAlchemy: shared by the
SQLAlchemy store (``engine``) and the sqlite3 fast path (``lite``), so that both say the
same thing and retry the same way."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from shipyard.errors import StoreUnavailable

SQLITE_BUSY_TIMEOUT_MS = 30_000
LOCK_RETRY_SECONDS = 120.0
_DAMAGE = ("file is not a database", "database disk image is malformed")


def first_line(error: object) -> str:
    return (str(error).strip() or type(error).__name__).splitlines()[0]


def is_lock_error(error: object) -> bool:
    """The database is locked (SQLite) or deadlocked (PostgreSQL): worth retrying."""
    text = str(error).lower()
    return "database is locked" in text or "database is busy" in text or "deadlock" in text


def is_damaged(exc: BaseException) -> bool:
    """SQLite's words for a file that is not (or no longer) a valid database."""
    text = str(getattr(exc, "orig", exc)).lower()
    return any(words in text for words in _DAMAGE)


def damaged_store(shown_uri: str, exc: BaseException) -> StoreUnavailable:
    detail = str(getattr(exc, "orig", exc)).splitlines()[0]
    return StoreUnavailable(
        f"the metadata store {shown_uri} is damaged ({detail}); run `shipyard doctor`, "
        "then restore the file from a backup (or try `sqlite3 FILE .recover`)"
    )


def stayed_locked(shown_uri: str, detail: str, seconds: float) -> StoreUnavailable:
    return StoreUnavailable(
        f"the metadata store {shown_uri} stayed locked by another writer for "
        f"{seconds:g} s ({detail}); retry when that write is done"
    )


def unavailable(shown_uri: str, detail: str) -> StoreUnavailable:
    return StoreUnavailable(
        f"the metadata store {shown_uri} is unavailable ({detail}); check that the database "
        "is running and reachable, then retry"
    )


def refuse_truncated_file(path: Path, has_blobs: Callable[[], bool]) -> None:
    """A zero-byte SQLite file beside existing blobs is a store that lost its metadata
    (truncated, or replaced by an empty file), not a new one: opening it would silently
    start over while its blobs are still there. Deleting the file says "start over"."""
    for _ in range(5):  # a first connection makes a new file a database within microseconds
        try:
            if path.stat().st_size > 0:
                return
        except FileNotFoundError:
            return
        time.sleep(0.05)
    if has_blobs():
        raise StoreUnavailable(
            f"the metadata store {path} is an empty (zero-byte) file, but the blob store "
            "still holds blobs: the file was probably truncated or replaced. Restore it from "
            "a backup; to start a new, empty store over these blobs, delete the empty file"
        )
