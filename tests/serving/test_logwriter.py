"""A server that owns its store (``shipyard serve``) writes its prediction log from a child
process: the same records as in process, failures kept and retried, a child that exits
started again, and in-process writes when no child can start."""

from __future__ import annotations

import sys

import pytest

from shipyard.serving.logwriter import ChildWriter, WriteFailed
from shipyard.serving.predlog import LoggedBatch, PredictionLogger, new_ids


def batches(model: str) -> list[LoggedBatch]:
    return [
        LoggedBatch(new_ids(1, 100), 100, model, 1, "a", False, 1.5, {"x": [1.25]}, None, [1]),
        LoggedBatch(new_ids(3, 101), 101, model, 2, "b", True, 2.0, {"x": [1, 2.5, None]},
                    {"f": [0.5, None, "s"]}, [[0.1, 0.9], [0.5, 0.5], [1.0, 0.0]]),
    ]  # fmt: skip


def logged(store, model: str) -> list[tuple]:
    return [
        (p.id[26:], p.version, p.variant, p.shadow, p.latency_ms, p.inputs, p.features, p.output)
        for p in store.query(model)
    ]


def test_the_child_writes_the_same_records_as_in_process(shipyard_client):
    store = shipyard_client.store.predictions
    writer = ChildWriter()
    child = PredictionLogger(store, interval=60, writer=writer)
    alone = PredictionLogger(store, interval=60)
    for batch in batches("child"):
        child.log(batch)
    for batch in batches("alone"):
        alone.log(batch)
    assert child.flush() == 4 and alone.flush() == 4
    assert writer._child is not None and writer._child.poll() is None  # a live child wrote
    assert logged(store, "child") == logged(store, "alone") != []
    child.close()
    assert writer._child is None


def script(tmp_path, body: str) -> list[str]:
    """A writer command that runs ``body`` first, then the real writer."""
    return [sys.executable, "-c", f"{body}\nfrom shipyard.serving.logwriter import main; main()"]


def test_a_child_that_exits_is_started_again_and_nothing_is_lost(shipyard_client, tmp_path):
    marker = tmp_path / "started-once"
    first_exits = f"import pathlib, sys\np = pathlib.Path({str(marker)!r})\n"
    first_exits += "if not p.exists():\n    p.touch(); sys.exit(3)"
    logger = PredictionLogger(
        shipyard_client.store.predictions, 60, writer=ChildWriter(script(tmp_path, first_exits))
    )
    for batch in batches("m"):
        logger.log(batch)
    with pytest.raises(ConnectionError, match="exited"):
        logger.flush()
    assert logger.flush() == 4  # the same writer, a new child
    assert len(logged(shipyard_client.store.predictions, "m")) == 4
    logger.close()


def test_a_failed_append_in_the_child_keeps_the_calls(shipyard_client, tmp_path):
    fails = (
        "import shipyard.store.sql.predictions as p\n"
        "def down(self, calls): raise ConnectionError('database is down')\n"
        "p.SqlPredictionLogStore.append = down"
    )
    store = shipyard_client.store.predictions
    logger = PredictionLogger(store, 60, writer=ChildWriter(script(tmp_path, fails)))
    for batch in batches("m"):
        logger.log(batch)
    with pytest.raises(WriteFailed, match="ConnectionError: database is down"):
        logger.flush()
    assert store.query("m") == []
    logger.writer.close()
    logger.writer = ChildWriter()
    assert logger.flush() == 4
    logger.close()


def test_no_child_at_all_means_writing_in_process(shipyard_client, tmp_path):
    store = shipyard_client.store.predictions
    logger = PredictionLogger(store, 60, writer=ChildWriter([str(tmp_path / "no-such-python")]))
    for batch in batches("m"):
        logger.log(batch)
    assert logger.flush() == 4
    assert logger.writer is None and len(logged(store, "m")) == 4


def test_a_server_that_owns_its_store_writes_its_log_from_a_child(shipyard_home, churn_model):
    from shipyard.serving import Deployment
    from shipyard.serving.service import PredictionService

    service = PredictionService(Deployment.from_flags("churn@production"))
    try:
        assert isinstance(service.logger.writer, ChildWriter)
    finally:
        service.close()
