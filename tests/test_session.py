"""One session per process: the capabilities share its stores instead of opening their own."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.session import Session, current_session
from shipyard.tracking import Client


def test_clients_and_convenience_calls_share_one_store(shipyard_home: Path) -> None:
    session = current_session()
    store = session.store
    assert Client().store is store
    X = np.arange(20, dtype=float).reshape(10, 2)
    y = (X[:, 0] > 8).astype(int)
    shipyard.register_model("churn", LogisticRegression().fit(X, y))
    shipyard.set_model_alias("churn", "prod", 1)
    assert shipyard.load_model("models:/churn@prod").predict(X).tolist() == y.tolist()
    with shipyard.start_run(project="p") as run:
        shipyard.log_metric("loss", 0.5)
    # every call above went through the one session: no new engine, no schema check each
    assert current_session() is session and session.store is store
    assert Client().get_metric_history(run.id, "loss")[0].value == 0.5


def test_new_settings_give_a_new_session_and_flush_and_close_the_old(
    shipyard_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = current_session()
    run = Client().create_run("p")
    Client().log_metric(run.id, "loss", 1.0)  # buffered in the writer
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "other"))
    second = current_session()
    assert second is not first
    assert second.settings.home != first.settings.home
    assert first._store is None and first._writer is None  # closed: engine and thread released
    monkeypatch.setenv("SHIPYARD_HOME", str(shipyard_home))
    # the point buffered in the old session was written before it closed
    assert [m.value for m in Client().get_metric_history(run.id, "loss")] == [1.0]


def test_a_client_with_its_own_uri_owns_and_closes_its_session(
    shipyard_home: Path, tmp_path: Path
) -> None:
    shared = Client()
    shared.create_project("kept")
    own = Client(uri=f"sqlite:///{tmp_path / 'own.db'}", artifact_uri=str(tmp_path / "blobs"))
    assert own.session is not shared.session
    own.create_project("elsewhere")
    own.close()
    assert own.session._store is None
    shared.close()  # a client over the shared session only flushes it
    assert current_session()._store is not None
    assert [p.name for p in Client().list_projects()] == ["kept"]
    assert [p.name for p in own.list_projects()] == ["elsewhere"]  # reopened on use
    own.close()


def test_session_opens_nothing_until_used(tmp_path: Path) -> None:
    from shipyard.config import load_settings

    session = Session(load_settings({"home": str(tmp_path / "home")}))
    assert (session._store, session._blobs, session._writer) == (None, None, None)
    assert not (tmp_path / "home").exists()
    session.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_gets_its_own_session(shipyard_home: Path) -> None:
    parent = current_session()
    parent.store.create_project("before-fork", "")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: a new session, its own engine, the same data
        try:
            child = current_session()
            ok = child is not parent and [p.name for p in child.store.list_projects()] == [
                "before-fork"
            ]
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.waitpid(pid, 0)
    assert answer == b"1", "the child did not get a fresh session over the same store"
    assert current_session() is parent
    assert sys.modules["shipyard.session"].current_session() is parent
