"""Engines and transactions: one transactional scope per store call, driver errors
translated where they are raised.

SQLite runs in WAL mode with a busy timeout, and write transactions start with
``BEGIN IMMEDIATE`` so that concurrent writers queue on the busy handler instead of
failing with "database is locked" when a read transaction tries to upgrade.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from shipyard.errors import Conflict, InvalidArgument, MissingExtra, StoreUnavailable
from shipyard.store.sql.failures import (
    LOCK_RETRY_SECONDS,
    SQLITE_BUSY_TIMEOUT_MS,
    first_line,
    is_damaged,
    is_lock_error,
    refuse_truncated_file,
    stayed_locked,
    unavailable,
)
from shipyard.store.sql.failures import damaged_store as _damaged_store

T = TypeVar("T")


def redact(uri: str) -> str:
    """The URI without its password, for messages."""
    try:
        return make_url(uri).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return uri


def _sqlalchemy_url(uri: str) -> str:
    try:
        url = make_url(uri)
    except sa_exc.ArgumentError as exc:
        raise InvalidArgument(
            f"cannot parse store URI {uri!r}; expected sqlite:///PATH or postgresql://..."
        ) from exc
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise MissingExtra("psycopg", "postgres", "A PostgreSQL store") from exc
        return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if url.drivername == "sqlite":
        if not url.database or url.database == ":memory:":
            raise InvalidArgument("the SQLite store needs a file path: sqlite:///PATH/shipyard.db")
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        return uri
    raise InvalidArgument(
        f"unsupported store URI scheme {url.drivername!r} in {redact(uri)}; "
        "use sqlite:///PATH or postgresql://USER@HOST/DB"
    )


def refuse_truncated(uri: str, has_blobs: Callable[[], bool]) -> None:
    """See ``failures.refuse_truncated_file``."""
    database = make_url(uri).database if uri.startswith("sqlite") else None
    if database:
        refuse_truncated_file(Path(database).expanduser(), has_blobs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("shipyard_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def make_engine(uri: str) -> Engine:
    url = _sqlalchemy_url(uri)
    if url.startswith("sqlite"):
        engine = create_engine(url, pool_size=8, max_overflow=8, pool_timeout=60)
        _configure_sqlite(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=8)
    return engine


def _is_lock_error(exc: sa_exc.OperationalError) -> bool:
    return is_lock_error(exc.orig)


def damaged_store(uri: str, exc: BaseException) -> StoreUnavailable:
    return _damaged_store(redact(uri), exc)


class NumberTaken(Conflict):
    """Another writer took the number this one computed; ``write_numbered`` retries."""


class Database:
    """Owns an engine; runs callables in read or write transactions with retries."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.engine = make_engine(uri)
        self.dialect = self.engine.dialect.name

    def read(self, fn: Callable[[Connection], T]) -> T:
        return self._run(fn, write=False)

    def write(self, fn: Callable[[Connection], T]) -> T:
        return self._run(fn, write=True)

    def write_numbered(
        self, fn: Callable[[Connection], T], retry_on: type[Exception] = Conflict
    ) -> T:
        """A write that takes the next number (version, run number): when a concurrent
        writer took it first (``NumberTaken``, or the unique key's Conflict), compute the
        next one and try again."""
        for _ in range(4):
            try:
                return self.write(fn)
            except retry_on:
                continue
        return self.write(fn)

    def _run(self, fn: Callable[[Connection], T], write: bool) -> T:
        deadline = time.monotonic() + LOCK_RETRY_SECONDS
        delay = 0.01
        while True:
            try:
                with self.engine.connect() as conn:
                    conn.execution_options(shipyard_write=write)
                    with conn.begin():
                        return fn(conn)
            except sa_exc.OperationalError as exc:
                if _is_lock_error(exc) and time.monotonic() < deadline:
                    time.sleep(delay * (1 + random.random()))
                    delay = min(delay * 2, 0.5)
                    continue
                if is_damaged(exc):
                    raise damaged_store(self.uri, exc) from exc
                detail = first_line(exc.orig)
                if _is_lock_error(exc):
                    raise stayed_locked(redact(self.uri), detail, LOCK_RETRY_SECONDS) from exc
                raise unavailable(redact(self.uri), detail) from exc
            except sa_exc.IntegrityError as exc:
                raise Conflict(f"the change conflicts with stored data: {exc.orig}") from exc
            except (sa_exc.DataError, OverflowError) as exc:  # callers validate; a backstop
                cause = exc.orig if isinstance(exc, sa_exc.DataError) else exc
                raise InvalidArgument(
                    f"a value is out of range or of the wrong type for the metadata store: "
                    f"{str(cause).splitlines()[0]}"
                ) from exc
            except sa_exc.DatabaseError as exc:
                if is_damaged(exc):
                    raise damaged_store(self.uri, exc) from exc
                if exc.connection_invalidated:
                    detail = first_line(exc.orig)
                    raise StoreUnavailable(
                        f"lost the connection to the metadata store {redact(self.uri)} "
                        f"({detail}); check that the database is running, then retry"
                    ) from exc
                raise

    def dispose(self) -> None:
        self.engine.dispose()
