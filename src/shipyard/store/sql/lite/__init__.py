"""The sqlite3 fast path of the SQL store: the calls a local flow run makes (create and
number runs, tasks, statuses, names, artifact records), without importing SQLAlchemy.

``python flow.py run`` on the embedded store would otherwise spend most of its time
importing SQLAlchemy, in the runner and in its worker, for about a dozen statements.
``open_store`` returns a ``LiteTrackingStore`` for a plain ``sqlite:///PATH`` whose
schema is already at the head revision; it writes the same tables with the same
transactions as the SQLAlchemy store and hands every other call to that store, which it
opens on first use. A database that is missing, behind (or ahead) goes to the SQLAlchemy
store, which migrates it (or refuses it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from shipyard.store.sql.failures import refuse_truncated_file
from shipyard.store.sql.lite.database import at_head, database_path
from shipyard.store.sql.lite.tracking import LiteTrackingStore

__all__ = ["LiteTrackingStore", "open_store", "refuse_truncated"]


def open_store(uri: str, migrate: bool = True) -> Any:
    """A ``LiteTrackingStore`` when the fast path can take ``uri``, else a
    ``SqlTrackingStore`` (which creates or migrates the schema unless ``migrate`` is
    false), as ``SqlTrackingStore(uri, migrate)`` is called."""
    path = database_path(uri)
    if path is not None and at_head(path):
        return LiteTrackingStore(uri, path)
    from shipyard.store.sql.tracking import SqlTrackingStore

    return SqlTrackingStore(uri, migrate=migrate)


def refuse_truncated(uri: str, has_blobs: Callable[[], bool]) -> None:
    """``engine.refuse_truncated`` without SQLAlchemy for the URIs the fast path takes."""
    path = database_path(uri)
    if path is None:
        from shipyard.store.sql.engine import refuse_truncated as by_sqlalchemy

        by_sqlalchemy(uri, has_blobs)
        return
    refuse_truncated_file(Path(path), has_blobs)
