"""SQL metadata backend (SQLite or PostgreSQL) over SQLAlchemy Core, migrated by Alembic."""

from shipyard.store.sql.tracking import SqlTrackingStore

__all__ = ["SqlTrackingStore"]
