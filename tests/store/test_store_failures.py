"""The store going away, for real: a PostgreSQL server of the test's own stopped and
restarted mid-run, and a SQLite write lock held past the retry window. Every store call
in between raises StoreUnavailable in one line that says what to do, no acknowledged point
is lost, and everything works again once the store is back.

The PostgreSQL server is a throwaway cluster (``initdb``/``pg_ctl``) on a free port, never
the machine's own server. initdb and pg_ctl refuse to run as root, so as root they run as
the ``postgres`` user.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import sqlalchemy as sa

from shipyard.errors import StoreUnavailable
from shipyard.serving.background import free_port
from shipyard.store import RunStatus
from shipyard.store.sql import engine
from shipyard.tracking import Client
from tests.conftest import SERVICES_REQUIRED


def _missing(reason: str) -> NoReturn:
    if SERVICES_REQUIRED:
        pytest.fail(f"SHIPYARD_TEST_SERVICES=1 but {reason}")
    pytest.skip(reason)


def _postgres_bin() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin with initdb and pg_ctl, else the ones on PATH."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("initdb")
    candidates = [*found, *([Path(on_path).parent] if on_path else [])]
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary folder, listening on 127.0.0.1:port only."""

    def __init__(self, bin_dir: Path, root: Path, as_postgres: bool) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = free_port()
        self.as_postgres = as_postgres
        self.uri = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.running = False

    def _tool(self, name: str, *args: str) -> None:
        command = [str(self.bin_dir / name), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(
                f"{name} {' '.join(args)} failed ({done.returncode}):\n"
                f"{done.stdout}{done.stderr}{log}"
            )

    def init(self) -> None:
        self._tool("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-N")

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root}"
        self._tool("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                   "-w", "-t", "60", "start")  # fmt: skip
        self.running = True

    def running_queries(self, prefix: str) -> int:
        import psycopg

        with psycopg.connect(self.uri, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                "AND starts_with(query, %s)",
                (prefix,),
            ).fetchone()
        return int(row[0]) if row else 0

    def stop(self, mode: str = "immediate") -> None:
        """``immediate``: the server dies at once, as in a crash (no shutdown checkpoint)."""
        self._tool("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        self.running = False


@pytest.fixture
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    bin_dir = _postgres_bin()
    if bin_dir is None:
        _missing("PostgreSQL's initdb and pg_ctl were not found in /usr/lib/postgresql/*/bin")
    as_postgres = hasattr(os, "geteuid") and os.geteuid() == 0
    if as_postgres and shutil.which("runuser") is None:
        _missing("running as root, and there is no runuser to run initdb as 'postgres'")
    root = Path(tempfile.mkdtemp(prefix="shipyard-pg-"))  # not tmp_path: postgres reads it
    try:
        if as_postgres:
            try:
                shutil.chown(root, "postgres", "postgres")
            except (LookupError, PermissionError) as exc:
                _missing(f"running as root, and cannot hand a folder to user 'postgres': {exc}")
        server = ThrowawayPostgres(bin_dir, root, as_postgres)
        server.init()
        server.start()
        try:
            yield server
        finally:
            if server.running:
                server.stop("fast")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def assert_one_actionable_line(error: StoreUnavailable, where: str) -> None:
    """The message names the store, fits on one line, says what to do, and is not a driver
    error passed through."""
    message = str(error)
    assert "\n" not in message, message
    assert where in message, message
    assert re.search(r"\b(check|retry|try again|start|wait)\b", message, re.I), message
    for leak in ("psycopg", "sqlalchemy", "sqlalche.me", "Background on this error"):
        assert leak not in message, message


def wait_for(condition: Callable[[], Any], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {seconds:g} s")
        time.sleep(0.02)


def writer_failed(caplog: pytest.LogCaptureFixture) -> Callable[[], bool]:
    return lambda: any(
        r.name == "shipyard.session.metric_writer" and r.levelno >= logging.WARNING
        for r in caplog.records
    )


@pytest.mark.services
@pytest.mark.slow
def test_postgres_stopped_and_restarted_mid_run_loses_nothing(
    throwaway_postgres: ThrowawayPostgres,
    shipyard_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = throwaway_postgres
    monkeypatch.setenv("SHIPYARD_METRIC_FLUSH_INTERVAL", "0.05")
    client = Client(uri=server.uri)
    run = client.create_run("outage", "mid-run", params={"lr": "0.1"})
    for i in range(100):
        client.log_metric(run.id, "loss", float(i), step=i)
    client.flush()

    where = f"127.0.0.1:{server.port}"
    # a store call in flight when the server dies
    failures: list[BaseException] = []

    def long_read() -> None:
        try:
            client.store.db.read(lambda conn: conn.execute(sa.text("SELECT pg_sleep(60)")))
        except BaseException as exc:  # checked below
            failures.append(exc)

    reader = threading.Thread(target=long_read)
    reader.start()
    wait_for(lambda: server.running_queries("SELECT pg_sleep") > 0, 30, "no query started")
    server.stop("immediate")
    reader.join(timeout=30)
    assert not reader.is_alive(), "the store call hung after the server died"
    assert len(failures) == 1 and isinstance(failures[0], StoreUnavailable), failures
    assert_one_actionable_line(failures[0], where)

    calls: list[Callable[[], Any]] = [
        lambda: client.get_run(run.id),
        lambda: client.log_param(run.id, "momentum", "0.9"),
        lambda: client.search_runs("outage"),
    ]
    for call in calls:
        with pytest.raises(StoreUnavailable) as raised:
            call()
        assert_one_actionable_line(raised.value, where)

    # accepted while the server is down: kept by the writer, which keeps trying
    caplog.set_level(logging.WARNING, logger="shipyard.session.metric_writer")
    for i in range(100, 200):
        client.log_metric(run.id, "loss", float(i), step=i)
    wait_for(writer_failed(caplog), 30, "the writer thread did not try (and fail) to write")
    with pytest.raises(StoreUnavailable) as raised:
        client.flush()
    assert_one_actionable_line(raised.value, where)
    wait_for(lambda: client.writer.pending() == 100, 10, "the points were not kept")

    server.start()
    # the writer thread writes the kept points by itself once the server is back
    wait_for(
        lambda: len(client.store.get_metric_history(run.id, "loss")) == 200,
        60,
        "the writer thread did not write the kept points",
    )
    history = client.get_metric_history(run.id, "loss")
    assert [(m.step, m.value) for m in history] == [(i, float(i)) for i in range(200)]

    # and every call works again, on connections opened before the outage too
    client.log_param(run.id, "momentum", "0.9")
    client.log_metric(run.id, "loss", 200.0, step=200)
    client.end_run(run.id)
    stored = client.get_run(run.id)
    assert stored.params == {"lr": "0.1", "momentum": "0.9"}
    assert stored.status is RunStatus.FINISHED
    assert len(client.get_metric_history(run.id, "loss")) == 201
    client.close()


def test_a_sqlite_lock_held_past_the_retry_window(
    shipyard_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(engine, "LOCK_RETRY_SECONDS", 0.5)
    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_MS", 100)
    monkeypatch.setenv("SHIPYARD_METRIC_FLUSH_INTERVAL", "0.05")
    path = tmp_path / "meta" / "shipyard.db"
    client = Client(uri=f"sqlite:///{path}")
    run = client.create_run("locked", "r", params={"a": "1"})
    for i in range(100):
        client.log_metric(run.id, "loss", float(i), step=i)
    client.flush()

    holder = sqlite3.connect(path, isolation_level=None, timeout=10)
    holder.execute("BEGIN IMMEDIATE")  # another process's long write transaction
    try:
        with pytest.raises(
            StoreUnavailable, match=r"locked by another writer for 0\.5 s"
        ) as raised:
            client.log_param(run.id, "b", "2")  # given up after the (shortened) retry window
        assert_one_actionable_line(raised.value, str(path))
        assert client.get_run(run.id).params == {"a": "1"}  # reads go on (WAL)

        caplog.set_level(logging.WARNING, logger="shipyard.session.metric_writer")
        for i in range(100, 200):
            client.log_metric(run.id, "loss", float(i), step=i)
        wait_for(writer_failed(caplog), 30, "the writer thread did not try (and fail) to write")
        with pytest.raises(StoreUnavailable, match="locked"):
            client.flush()
        wait_for(lambda: client.writer.pending() == 100, 10, "the points were not kept")
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    client.log_param(run.id, "b", "2")
    client.flush()
    history = client.get_metric_history(run.id, "loss")
    assert [(m.step, m.value) for m in history] == [(i, float(i)) for i in range(200)]
    client.end_run(run.id)
    stored = client.get_run(run.id)
    assert stored.params == {"a": "1", "b": "2"} and stored.status is RunStatus.FINISHED
    client.close()
