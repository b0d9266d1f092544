"""Schema migrations: checked cheaply on every open, applied under a cross-process lock.

The fast path reads one row of ``alembic_version`` and compares it with ``HEAD``; Alembic
itself is imported only when there is something to do. A database written by a newer
Shipyard is refused rather than touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import make_url

from shipyard.errors import SchemaOutOfDate
from shipyard.store.sql.engine import Database, redact
from shipyard.store.sql.revision import HEAD as HEAD

if TYPE_CHECKING:
    from filelock import FileLock

_PG_LOCK_KEY = 0x5348_4950  # "SHIP"


def current_revision(db: Database) -> str | None:
    def _read(conn: Connection) -> str | None:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    return db.read(_read)


def health_problem(db: Database) -> str | None:
    """What is wrong with the database file, or None: SQLite's ``quick_check`` (it reads
    every page, so a damaged file cannot pass for a healthy one); on PostgreSQL, whether the
    server answers."""
    if db.dialect != "sqlite":
        db.read(lambda conn: conn.execute(text("SELECT 1")).scalar())
        return None

    def _check(conn: Connection) -> str | None:
        rows = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA quick_check").all()]
        return None if rows == ["ok"] else "; ".join(rows[:3])

    return db.read(_check)


def _alembic_config(conn: Connection):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = conn
    return config


def known_revisions() -> list[str]:
    from alembic.script import ScriptDirectory

    folder = str(Path(__file__).parent / "migrations")
    return [s.revision for s in ScriptDirectory(folder).walk_revisions()]


def upgrade(db: Database, revision: str = "head") -> tuple[str | None, str]:
    """Bring the schema to ``revision``; returns (before, after). Safe to run concurrently."""
    from alembic import command

    before = current_revision(db)
    if before == HEAD and revision == "head":
        return before, before
    if before is not None and before not in known_revisions():
        raise _newer_schema(db, before)
    with _migration_lock(db), db.engine.connect() as conn:
        if db.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
        try:
            command.upgrade(_alembic_config(conn), revision)
            conn.commit()
        finally:
            if db.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
    return before, current_revision(db) or ""


def ensure_schema(db: Database) -> None:
    """Called on every store open: a no-op unless the schema is missing or behind."""
    revision = current_revision(db)
    if revision == HEAD:
        return
    upgrade(db)


def _newer_schema(db: Database, revision: str) -> SchemaOutOfDate:
    return SchemaOutOfDate(
        f"the metadata store {redact(db.uri)} is at schema revision {revision}, newer than "
        f"this Shipyard knows (head {HEAD}); upgrade Shipyard: pip install -U shipyard"
    )


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


def _migration_lock(db: Database) -> FileLock | _NoLock:
    if db.dialect == "sqlite":
        from filelock import FileLock  # only to migrate: not on every store open

        database = make_url(db.uri).database or ""
        return FileLock(str(Path(database).expanduser()) + ".migrate.lock", timeout=300)
    return _NoLock()  # PostgreSQL uses an advisory lock inside the transaction
