"""SQL metadata backend (SQLite or PostgreSQL) over SQLAlchemy Core, migrated by Alembic.

``SqlTrackingStore`` loads on first use (PEP 562), so that the modules of this package
that need no SQLAlchemy (``revision``, ``failures``, ``records`` and the sqlite3 fast path
in ``lite``) can be imported without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.store.sql.tracking import SqlTrackingStore

__all__ = ["SqlTrackingStore"]


def __getattr__(name: str) -> Any:
    if name == "SqlTrackingStore":
        from shipyard.store.sql.tracking import SqlTrackingStore

        return SqlTrackingStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
