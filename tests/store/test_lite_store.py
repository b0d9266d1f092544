"""The sqlite3 fast path (``shipyard.store.sql.lite``) against the SQLAlchemy store: the
same calls give the same records, errors and rows, on the same database; it is used only
on a database at the schema head and hands everything else to SQLAlchemy."""

from __future__ import annotations

import dataclasses
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NotFound,
    SchemaOutOfDate,
    StoreUnavailable,
)
from shipyard.store import open_tracking_store
from shipyard.store.base import ArtifactRecord, Metric, NewRun, RunStatus, TaskRecord
from shipyard.store.sql import SqlTrackingStore, failures, migrate
from shipyard.store.sql.engine import Database
from shipyard.store.sql.lite import LiteTrackingStore, open_store
from shipyard.store.sql.lite.database import database_path

FLOW, T1, T2, T3 = "f" * 32, "a" * 32, "b" * 32, "c" * 32


def _uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'meta' / 'shipyard.db'}"


@pytest.fixture(params=["sqlalchemy", "lite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Each path on a database at the head revision."""
    uri = _uri(tmp_path)
    SqlTrackingStore(uri).close()
    opened = SqlTrackingStore(uri) if request.param == "sqlalchemy" else open_store(uri)
    assert isinstance(opened, LiteTrackingStore) == (request.param == "lite")
    yield opened
    opened.close()


def _no_sqlalchemy_used(store: Any) -> None:
    """The fast path made every call itself (it never opened the SQLAlchemy store)."""
    if isinstance(store, LiteTrackingStore):
        assert store._full is None


def _run(run_id: str, name: str, **fields: Any) -> NewRun:
    return NewRun(id=run_id, project="proj", name=name, start_ms=1_000, **fields)


def _artifact(run_id: str, path: str, blob: str = "0" * 64, at: int = 5) -> ArtifactRecord:
    return ArtifactRecord(run_id, path, blob, 10, "pickle", at)


def test_projects(store: Any) -> None:
    made = store.create_project("alpha", "first")
    assert store.get_project("alpha") == made and made.description == "first"
    with pytest.raises(AlreadyExists, match="alpha"):
        store.create_project("alpha")
    assert store.get_or_create_project("alpha") == made
    beta = store.get_or_create_project("beta")
    assert beta.id == made.id + 1
    assert [p.name for p in store.list_projects()] == ["alpha", "beta"]
    with pytest.raises(NotFound, match="projects ls"):
        store.get_project("gamma")
    _no_sqlalchemy_used(store)


def test_run_lifecycle(store: Any) -> None:
    flow = store.create_run(
        _run(FLOW, "F/pending", kind="flow", params={"lr": "0.1"}, tags={"t": ""}, user="me",
             host="h", pid=7, command="python f.py run", code_version="abc",
             environment_hash="e" * 64, artifacts=(_artifact(FLOW, "code/x.diff"),))
    )  # fmt: skip
    assert store.get_run(FLOW) == flow
    assert flow.status is RunStatus.RUNNING and flow.heartbeat_ms == 1_000
    store.set_run_name(FLOW, "F/1")
    store.set_run_status(FLOW, RunStatus.FINISHED, 2_000)
    done = store.get_run(FLOW)
    assert (done.name, done.status, done.end_ms) == ("F/1", RunStatus.FINISHED, 2_000)
    assert done.params == {"lr": "0.1"} and done.tags == {"t": ""} and not done.deleted
    task = store.create_run(_run(T1, "start", kind="task", parent_id=FLOW))
    assert store.get_run(T1).parent_id == FLOW and task.project == "proj"
    with pytest.raises(Conflict):  # the same id again
        store.create_run(_run(T1, "again"))
    with pytest.raises(NotFound, match="no run with id"):
        store.set_run_status("9" * 32, RunStatus.FAILED, 1)
    with pytest.raises(NotFound, match="no run with id"):
        store.get_run("9" * 32)
    with pytest.raises(Conflict):  # an unknown parent: the foreign key refuses it
        store.create_run(_run(T2, "orphan", parent_id="9" * 32))
    _no_sqlalchemy_used(store)


def test_heartbeats_and_killed_runs(store: Any) -> None:
    for run_id in (T1, T2, T3):
        store.create_run(_run(run_id, run_id[:1]))
    store.set_run_status(T3, RunStatus.FINISHED, 1_500)
    store.heartbeat([T1, T3], 3_000)
    assert store.get_run(T1).heartbeat_ms == 3_000
    assert store.get_run(T3).heartbeat_ms == 1_000  # only RUNNING runs beat
    assert sorted(r.id for r in store.running_runs()) == [T1, T2]
    assert all(r.params == {} for r in store.running_runs())
    assert store.mark_killed([T1, T2, T3], 2_000) == [T1, T2]
    killed = store.get_run(T1)
    assert (killed.status, killed.end_ms) == (RunStatus.KILLED, 2_000)  # capped at the call
    assert store.get_run(T2).end_ms == 1_000  # its last heartbeat
    assert store.mark_killed([T1], 5_000) == []
    store.heartbeat([], 1)
    _no_sqlalchemy_used(store)


def test_artifact_records(store: Any) -> None:
    store.create_run(_run(T1, "t"))
    paths = ["data/x", "data/x_y", "data/xy", "data/%", "Data/z", "model/m.pkl"]
    store.add_artifacts([_artifact(T1, p) for p in paths])
    store.add_artifacts([_artifact(T1, "data/x", "1" * 64, 9)])  # replaces the same path
    listed = store.list_artifacts(T1)
    assert [a.path for a in listed] == sorted(paths)
    assert store.get_artifact(T1, "data/x") == _artifact(T1, "data/x", "1" * 64, 9)
    assert [a.path for a in store.list_artifacts(T1, "data/x_")] == ["data/x_y"]
    assert [a.path for a in store.list_artifacts(T1, "data/%")] == ["data/%"]
    assert [a.path for a in store.list_artifacts(T1, "data/")] == [
        "data/%",
        "data/x",
        "data/x_y",
        "data/xy",
    ]  # a prefix is exact: case-sensitive on both paths, as on PostgreSQL
    assert [a.path for a in store.list_artifacts(T1, "Data/")] == ["Data/z"]
    with pytest.raises(NotFound, match="has no artifact"):
        store.get_artifact(T1, "nope")
    with pytest.raises(NotFound, match="no run with id"):
        store.list_artifacts("9" * 32)
    with pytest.raises(NotFound):  # all or nothing
        store.add_artifacts([_artifact(T1, "new"), _artifact("9" * 32, "new")])
    assert "new" not in {a.path for a in store.list_artifacts(T1)}
    _no_sqlalchemy_used(store)


def test_params_tags_and_metrics(store: Any) -> None:
    store.create_run(_run(T1, "r", params={"a": "1"}, tags={"t": "x"}))
    points = [
        Metric("loss", 0.5, 1, 10), Metric("loss", 0.4, 2, 5), Metric("loss", 0.9, 2, 4),
        Metric("acc", float("nan"), 0, 1), Metric("loss", 0.3, 0, 99),
    ]  # fmt: skip
    store.log_batch(T1, points, params={"a": "1", "b": "2"}, tags={"t": "y", "u": ""})
    store.log_batch(T1, [Metric("loss", 0.1, 2, 5)])  # same step and time: the newer wins
    store.log_batch(T1, [Metric("loss", 9.0, 1, 50)])  # an older step: not the latest
    run = store.get_run(T1)
    assert run.params == {"a": "1", "b": "2"} and run.tags == {"t": "y", "u": ""}
    assert run.metrics["loss"] == 0.1 and math.isnan(run.metrics["acc"])
    history = store.get_metric_history(T1, "loss")
    assert [(m.step, m.timestamp_ms, m.value) for m in history] == [
        (0, 99, 0.3), (1, 10, 0.5), (1, 50, 9.0), (2, 4, 0.9), (2, 5, 0.4), (2, 5, 0.1),
    ]  # fmt: skip
    with pytest.raises(Conflict, match="immutable"):
        store.log_batch(T1, [Metric("loss", 1.0, 3, 1)], params={"c": "3", "a": "9"})
    assert store.get_run(T1).params == {"a": "1", "b": "2"}  # the batch left nothing
    assert len(store.get_metric_history(T1, "loss")) == 6
    store.delete_tag(T1, "u")
    with pytest.raises(NotFound, match="has no tag"):
        store.delete_tag(T1, "u")
    with pytest.raises(NotFound, match="no run with id"):
        store.log_batch("9" * 32, [Metric("x", 1.0, 0, 0)])
    with pytest.raises(InvalidArgument):  # a step beyond int64
        store.log_batch(T1, [Metric("x", 1.0, 2**63, 0)])
    _no_sqlalchemy_used(store)


def test_flow_runs_are_numbered_per_flow(store: Any) -> None:
    for run_id in (FLOW, T1, T2):
        store.create_run(_run(run_id, "pending", kind="flow"))
    one = store.flows.create_flow_run(FLOW, "Train", '{"g": 1}')
    other = store.flows.create_flow_run(T1, "Other", "{}")
    two = store.flows.create_flow_run(T2, "Train", "{}", origin_run_id=FLOW)
    assert (one.number, other.number, two.number) == (1, 1, 2)
    assert two.origin_run_id == FLOW and one.graph == '{"g": 1}'
    assert store.flows.get_flow_run("Train", 2) == two
    assert store.flows.flow_run_of(FLOW) == one
    assert store.flows.list_flow_runs() == [other, two, one]
    assert store.flows.list_flow_runs("Train") == [two, one]
    with pytest.raises(NotFound, match="flows ls"):
        store.flows.get_flow_run("Train", 3)
    with pytest.raises(NotFound, match="not a flow run"):
        store.flows.flow_run_of(T3)
    with pytest.raises(Conflict):  # one flow run per run
        store.flows.create_flow_run(FLOW, "Train", "{}")
    _no_sqlalchemy_used(store)


def test_deleted_flow_runs_are_not_listed(store: Any) -> None:
    store.create_run(_run(FLOW, "pending", kind="flow"))
    store.flows.create_flow_run(FLOW, "Train", "{}")
    store.set_deleted([FLOW], True)  # SQLAlchemy's call on the fast path
    assert store.flows.list_flow_runs("Train") == []


def test_tasks(store: Any) -> None:
    store.create_run(_run(FLOW, "F", kind="flow"))
    places = ((T2, "work", "1", 30), (T1, "work", "0", 30), (T3, "end", "", 40))
    for run_id, step, path, start in places:
        new = _run(run_id, step, parent_id=FLOW, kind="task")
        store.create_run(dataclasses.replace(new, start_ms=start))
        store.flows.add_task(
            TaskRecord(run_id, FLOW, step, path, 0, [FLOW], None, None, None, RunStatus.RUNNING,
                       0, None)
        )  # fmt: skip
    store.flows.finish_task(T1, "1" * 64, None, "ValueError: x")
    store.set_run_status(T1, RunStatus.FAILED, 35)
    tasks = store.flows.tasks(FLOW)
    assert [(t.run_id, t.foreach_path) for t in tasks] == [(T1, "0"), (T2, "1"), (T3, "")]
    first = tasks[0]
    assert (first.stdout_hash, first.stderr_hash, first.error) == ("1" * 64, None, "ValueError: x")
    assert (first.status, first.start_ms, first.end_ms, first.input_ids) == (
        RunStatus.FAILED, 30, 35, [FLOW],
    )  # fmt: skip
    assert [t.run_id for t in store.flows.tasks(FLOW, "end")] == [T3]
    assert store.flows.tasks(T3) == []
    _no_sqlalchemy_used(store)


def test_both_paths_read_what_the_other_wrote(tmp_path: Path) -> None:
    uri = _uri(tmp_path)
    full = SqlTrackingStore(uri)
    lite = open_store(uri)
    assert isinstance(lite, LiteTrackingStore)
    lite.create_run(_run(FLOW, "F", kind="flow", params={"a": "1"}))
    full.log_batch(FLOW, tags={"k": "v"})
    lite.flows.create_flow_run(FLOW, "F", "{}")
    full.create_run(_run(T1, "t", parent_id=FLOW, kind="task"))
    lite.add_artifacts([_artifact(T1, "data/x")])
    assert lite.get_run(FLOW) == full.get_run(FLOW)
    assert lite.get_run(FLOW).tags == {"k": "v"}
    assert lite.list_artifacts(T1) == full.list_artifacts(T1)
    assert lite.flows.list_flow_runs() == full.flows.list_flow_runs()
    assert lite.running_runs() == full.running_runs()
    lite.close()
    full.close()


def test_other_calls_go_to_the_sqlalchemy_store(tmp_path: Path) -> None:
    uri = _uri(tmp_path)
    SqlTrackingStore(uri).close()
    lite = open_store(uri)
    lite.create_run(_run(T1, "r"))
    assert lite._full is None
    assert [r.id for r in lite.search_runs(["proj"])] == [T1]
    assert lite.models.list_models() == []
    assert lite.lite.path == lite.db.engine.url.database  # `db`: the SQLAlchemy store's
    lite.close()


def test_a_database_not_at_the_head_goes_to_sqlalchemy_which_migrates(tmp_path: Path) -> None:
    fresh = _uri(tmp_path)
    store = open_tracking_store(fresh)
    assert isinstance(store, SqlTrackingStore)  # no schema yet: created
    assert migrate.current_revision(store.db) == migrate.HEAD
    store.close()
    assert isinstance(open_tracking_store(fresh), LiteTrackingStore)

    behind = f"sqlite:///{tmp_path / 'old.db'}"
    database = Database(behind)
    migrate.upgrade(database, "0007")
    store = open_tracking_store(behind)
    assert isinstance(store, SqlTrackingStore)
    assert migrate.current_revision(database) == migrate.HEAD
    store.close()

    database.write(lambda c: c.exec_driver_sql("UPDATE alembic_version SET version_num='9999'"))
    with pytest.raises(SchemaOutOfDate, match="newer than this Shipyard"):
        open_tracking_store(behind)
    database.dispose()


def test_uris_the_fast_path_leaves_to_sqlalchemy(tmp_path: Path) -> None:
    assert database_path(f"sqlite:///{tmp_path}/a.db") == f"{tmp_path}/a.db"
    assert database_path("sqlite:///rel/a.db") == str(Path.cwd() / "rel" / "a.db")
    for uri in ("sqlite://", "sqlite:///:memory:", "sqlite:///a.db?mode=ro",
                "sqlite:///a%20b.db", "sqlite:///~/a.db", "postgresql://u@h/db"):  # fmt: skip
        assert database_path(uri) is None, uri


def test_store_errors_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(failures, "LOCK_RETRY_SECONDS", 0.3)
    monkeypatch.setattr(failures, "SQLITE_BUSY_TIMEOUT_MS", 50)
    uri = _uri(tmp_path)
    SqlTrackingStore(uri).close()
    lite = open_store(uri)
    lite.create_run(_run(T1, "r"))
    holder = sqlite3.connect(lite.lite.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's long write
    try:
        with pytest.raises(StoreUnavailable, match=r"locked by another writer for 0\.3 s"):
            lite.set_run_name(T1, "renamed")
        assert lite.get_run(T1).name == "r"  # reads go on (WAL)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    lite.set_run_name(T1, "renamed")
    lite.close()
    Path(lite.lite.path).write_bytes(b"not a database at all" * 300)
    for suffix in ("-wal", "-shm"):
        Path(lite.lite.path + suffix).unlink(missing_ok=True)
    damaged = LiteTrackingStore(uri, lite.lite.path)
    with pytest.raises(StoreUnavailable, match=r"is damaged .* `shipyard doctor`"):
        damaged.get_run(T1)


def test_an_interrupted_write_leaves_no_lock_behind(tmp_path: Path) -> None:
    uri = _uri(tmp_path)
    SqlTrackingStore(uri).close()
    lite = open_store(uri)
    lite.create_run(_run(T1, "r"))

    def interrupted(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE runs SET name = 'half' WHERE id = ?", (T1,))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        lite.lite.write(interrupted)
    other = sqlite3.connect(lite.lite.path, isolation_level=None, timeout=0.1)
    other.execute("BEGIN IMMEDIATE")  # the write lock is free
    other.execute("ROLLBACK")
    other.close()
    assert lite.get_run(T1).name == "r"
    lite.set_run_name(T1, "whole")  # the same connection goes on
    assert lite.get_run(T1).name == "whole"
    lite.close()
