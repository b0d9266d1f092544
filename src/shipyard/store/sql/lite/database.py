"""The sqlite3 side of the fast path: which URIs it takes, whether a database is at the
schema head, and transactions with the SQLAlchemy store's settings, retries and errors.

Connections are per thread (as the SQLAlchemy pool hands them out) and per process (a
fork opens its own). Every connection gets the PRAGMAs of ``engine._configure_sqlite``;
write transactions start with ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from shipyard.errors import Conflict, InvalidArgument
from shipyard.store.sql import failures
from shipyard.store.sql.revision import HEAD

T = TypeVar("T")
PREFIX = "sqlite:///"


def database_path(uri: str) -> str | None:
    """The file of a plain ``sqlite:///PATH`` URI, as SQLAlchemy would open it; None for
    anything the fast path leaves to SQLAlchemy (query options, escapes, memory)."""
    if not uri.startswith(PREFIX):
        return None
    path = uri[len(PREFIX) :]
    if not path or path == ":memory:" or path.startswith("~") or any(c in path for c in "?%#"):
        return None
    return os.path.abspath(path)


def at_head(path: str) -> bool:
    """Whether the database file exists and its schema is at ``HEAD`` (one read)."""
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return False
    try:
        conn = sqlite3.connect(path, timeout=failures.SQLITE_BUSY_TIMEOUT_MS / 1000)
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:  # no such table, damaged, locked: SQLAlchemy's store says what
        return False
    return row is not None and row[0] == HEAD


class Row(sqlite3.Row):
    """Columns read as attributes, as SQLAlchemy's rows are (``records`` reads them so)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except IndexError:
            raise AttributeError(name) from None


class LiteDatabase:
    """Runs callables on a sqlite3 connection in read or write transactions."""

    def __init__(self, uri: str, path: str) -> None:
        self.uri = uri
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[tuple[sqlite3.Connection, int]] = []

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._run(fn, write=False)

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._run(fn, write=True)

    def write_numbered(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """As ``Database.write_numbered``: another writer took the number, take the next."""
        for _ in range(4):
            try:
                return self.write(fn)
            except Conflict:
                continue
        return self.write(fn)

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(
                self.path,
                timeout=failures.SQLITE_BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,  # we issue BEGIN ourselves
                check_same_thread=False,
            )
            conn.row_factory = Row
            conn.execute(f"PRAGMA busy_timeout = {failures.SQLITE_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._lock:
                self._opened.append((conn, os.getpid()))
        return conn

    def _run(self, fn: Callable[[sqlite3.Connection], T], write: bool) -> T:
        deadline = time.monotonic() + failures.LOCK_RETRY_SECONDS
        delay = 0.01
        while True:
            try:
                return self._transaction(fn, write)
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"the change conflicts with stored data: {exc}") from exc
            except sqlite3.OperationalError as exc:
                if failures.is_lock_error(exc) and time.monotonic() < deadline:
                    time.sleep(delay * (1 + random.random()))
                    delay = min(delay * 2, 0.5)
                    continue
                if failures.is_damaged(exc):
                    raise failures.damaged_store(self.uri, exc) from exc
                detail = failures.first_line(exc)
                if failures.is_lock_error(exc):
                    raise failures.stayed_locked(
                        self.uri, detail, failures.LOCK_RETRY_SECONDS
                    ) from exc
                raise failures.unavailable(self.uri, detail) from exc
            except (sqlite3.DataError, OverflowError) as exc:
                raise InvalidArgument(
                    f"a value is out of range or of the wrong type for the metadata store: "
                    f"{str(exc).splitlines()[0]}"
                ) from exc
            except sqlite3.DatabaseError as exc:
                if failures.is_damaged(exc):
                    raise failures.damaged_store(self.uri, exc) from exc
                raise

    def _transaction(self, fn: Callable[[sqlite3.Connection], T], write: bool) -> T:
        conn = self._connection()
        try:  # BEGIN inside: a Ctrl-C right after it must not leave the write lock held
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            result = fn(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    def close(self) -> None:
        """Close this process's connections (a fork's inherited ones are left alone)."""
        with self._lock:
            mine, self._opened = [c for c, pid in self._opened if pid == os.getpid()], []
            self._local = threading.local()
        for conn in mine:
            conn.close()
