"""The model registry contract: the same behaviour on every metadata backend (SQLite,
PostgreSQL): numbered immutable versions, aliases that move atomically with a recorded
history, archived versions, and model blobs kept by garbage collection."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import uuid
from typing import Any

import numpy as np
import pytest

from shipyard.errors import Conflict, InvalidArgument, NotFound
from shipyard.store.base import (
    UNCHECKED,
    AliasMove,
    ModelRegistryStore,
    ModelVersionRecord,
    NewModelVersion,
    NewRun,
)
from shipyard.store.sql import registry as sql_registry
from tests.conftest import open_store

H1, H2, H3 = "1" * 64, "2" * 64, "3" * 64
GATES = [{"gate": "accuracy >= 0.9", "passed": True, "value": 0.93}]


@pytest.fixture
def store(store_uri):
    store = open_store(store_uri)
    yield store
    store.close()


def version(blob_hash: str = H1, **kw) -> NewModelVersion:
    return NewModelVersion(flavor="sklearn", blob_hash=blob_hash, **kw)


def registered(models: ModelRegistryStore, name: str, count: int) -> list[ModelVersionRecord]:
    return [models.create_model_version(name, version(), "ann", 10 + i) for i in range(count)]


# -- models and versions ---------------------------------------------------------------


def test_versions_are_numbered_per_model_and_the_model_is_created_on_first_use(store):
    models = store.models
    with pytest.raises(NotFound, match=r"no model named 'fraud'.*`shipyard models ls`"):
        models.get_model("fraud")
    one = models.create_model_version(
        "fraud", version(owner="risk-team", description="first cut"), "ann", 100
    )
    two = models.create_model_version("fraud", version(H2, owner="bob"), "bob", 200)
    other = models.create_model_version("churn.v2", version(H3), "ann", 300)
    assert (one.version, two.version, other.version) == (1, 2, 1)

    model = models.get_model("fraud")
    assert (model.name, model.owner, model.description) == ("fraud", "risk-team", "first cut")
    assert (model.created_ms, model.updated_ms, model.latest_version) == (100, 200, 2)
    assert (model.tags, model.aliases) == ({}, {})
    assert [(m.name, m.latest_version) for m in models.list_models()] == [
        ("churn.v2", 1),
        ("fraud", 2),
    ]
    assert [v.version for v in models.list_model_versions("fraud")] == [2, 1]  # newest first
    assert models.list_model_versions("fraud") == [two, one]


def test_a_version_record_round_trips_every_field(store):
    run_id = uuid.uuid4().hex
    store.create_run(NewRun(id=run_id, project="p", name="train", start_ms=1))
    signature = {
        "inputs": [{"name": "amount", "dtype": "float64"}, {"name": "city", "dtype": "str"}],
        "outputs": [{"name": "score", "dtype": "float64", "shape": [-1]}],
    }
    new = NewModelVersion(
        flavor="xgboost", blob_hash=H2, run_id=run_id, dataset="p/train/3",
        feature_service="p/fraud_features", signature=signature,
        requirements=("xgboost==2.1.0", "pandas>=2"),
        metrics={"auc": np.float64(0.91), "loss": 0.25, "epochs": 12},
        owner="risk-team", description="gradient boosted", tags={"team": "risk", "stage": "dev"},
    )  # fmt: skip
    created = store.models.create_model_version("fraud", new, "ann", 1_000)
    assert created == ModelVersionRecord(
        name="fraud", version=1, flavor="xgboost", blob_hash=H2, run_id=run_id,
        dataset="p/train/3", feature_service="p/fraud_features", signature=signature,
        requirements=("xgboost==2.1.0", "pandas>=2"),
        metrics={"auc": 0.91, "loss": 0.25, "epochs": 12.0}, owner="risk-team",
        description="gradient boosted", tags={"team": "risk", "stage": "dev"}, status="READY",
        created_by="ann", created_ms=1_000,
    )  # fmt: skip
    assert store.models.get_model_version("fraud", 1) == created
    assert type(created.metrics["auc"]) is float

    minimal = store.models.create_model_version("fraud", version(H3), "bob", 2_000)
    assert (minimal.run_id, minimal.dataset, minimal.feature_service) == (None, None, None)
    assert (minimal.signature, minimal.requirements, minimal.metrics, minimal.tags) == (
        {},
        (),
        {},
        {},
    )
    assert store.models.get_model_version("fraud", 2) == minimal


def test_versions_are_immutable_only_status_changes(store):
    models = store.models
    [one] = registered(models, "fraud", 1)
    store_methods = {m for m in dir(models) if not m.startswith("_")}
    assert not {m for m in store_methods if "version" in m and m.startswith("update")}
    assert not {m for m in store_methods if m.startswith("delete")}
    archived = models.set_version_status("fraud", 1, "ARCHIVED")
    assert archived == dataclasses.replace(one, status="ARCHIVED")
    assert models.get_model_version("fraud", 1) == archived
    assert models.set_version_status("fraud", 1, "ARCHIVED") == archived  # idempotent
    assert models.set_version_status("fraud", 1, "READY") == one
    with pytest.raises(InvalidArgument, match=r"'DELETED' is not one of READY, ARCHIVED"):
        models.set_version_status("fraud", 1, "DELETED")
    with pytest.raises(NotFound, match=r"model 'fraud' has no version 5; its versions are 1 to 1"):
        models.set_version_status("fraud", 5, "ARCHIVED")
    # a registration never changes an earlier version, even with the same blob
    models.create_model_version("fraud", version(H1, description="again"), "bob", 99)
    assert models.get_model_version("fraud", 1) == one


def test_update_model_changes_only_what_is_given(store):
    models = store.models
    models.create_model_version("fraud", version(owner="ann", description="d"), "ann", 1)
    updated = models.update_model("fraud", tags={"team": "risk"})
    assert (updated.owner, updated.description, updated.tags) == ("ann", "d", {"team": "risk"})
    assert updated.updated_ms >= 1
    updated = models.update_model("fraud", owner="bob", description="")
    assert (updated.owner, updated.description, updated.tags) == ("bob", "", {"team": "risk"})
    assert models.update_model("fraud", tags={}).tags == {}
    assert models.get_model("fraud").owner == "bob"
    assert models.get_model_version("fraud", 1).owner == "ann"  # the version keeps its own
    with pytest.raises(NotFound, match="no model named 'nope'"):
        models.update_model("nope", owner="x")


def test_bad_registrations_are_refused_with_a_reason(store):
    models = store.models
    bad_names = ("", "a/b", "fraud model", "x" * 129, "naïve", "fraud@3", ".", "..", "-rf")
    bad_names += ("a..b", "churn.", "_churn", "a___b")  # not a Docker repository name
    for bad in bad_names:
        with pytest.raises(InvalidArgument, match="invalid model name"):
            models.create_model_version(bad, version(), "ann", 1)
    models.create_model_version("a-Z_0.9", version(), "ann", 1)  # every allowed character
    models.create_model_version("x" * 128, version(), "ann", 1)
    models.create_model_version("Churn__v2-b", version(), "ann", 1)
    with pytest.raises(InvalidArgument, match=r"(signature of model 'fraud'|cannot be sent).*JSON"):
        models.create_model_version("fraud", version(signature={"x": object()}), "ann", 1)
    with pytest.raises(InvalidArgument, match=r"metric 'auc' of model 'fraud' is 'high'"):
        models.create_model_version("fraud", version(metrics={"auc": "high"}), "ann", 1)
    with pytest.raises(InvalidArgument, match="flavor"):
        models.create_model_version("fraud", NewModelVersion(flavor="", blob_hash=H1), "ann", 1)
    with pytest.raises(InvalidArgument, match="at most 64"):
        models.create_model_version("fraud", version("f" * 65), "ann", 1)
    with pytest.raises(NotFound, match=r"no run with id 'ffff.*source of model 'fraud'"):
        models.create_model_version("fraud", version(run_id="f" * 32), "ann", 1)
    with pytest.raises(NotFound):  # nothing was created by the refused registrations
        models.get_model("fraud")


def test_missing_things_say_what_exists(store):
    models = store.models
    for call in (
        lambda: models.get_model_version("nope", 1),
        lambda: models.list_model_versions("nope"),
        lambda: models.resolve_alias("nope", "champion"),
        lambda: models.alias_history("nope"),
        lambda: models.set_version_status("nope", 1, "ARCHIVED"),
        lambda: models.move_alias("nope", "champion", 1, "ann", 1),
    ):
        with pytest.raises(NotFound, match=r"no model named 'nope'; `shipyard models ls`"):
            call()
    registered(models, "fraud", 3)
    with pytest.raises(NotFound, match=r"no version 4; its versions are 1 to 3.*versions fraud`"):
        models.get_model_version("fraud", 4)
    with pytest.raises(NotFound, match=r"no alias 'champion'; it has no aliases yet"):
        models.resolve_alias("fraud", "champion")
    models.move_alias("fraud", "staging", 3, "ann", 20)
    models.move_alias("fraud", "champion", 2, "ann", 21)
    with pytest.raises(
        NotFound,
        match=r"no alias 'prod'; its aliases are champion \(version 2\), staging \(version 3\)",
    ):
        models.resolve_alias("fraud", "prod")
    with pytest.raises(NotFound, match="no alias 'prod' to remove; its aliases are champion"):
        models.move_alias("fraud", "prod", None, "ann", 22)


# -- aliases ---------------------------------------------------------------------------


def test_aliases_move_and_every_move_is_recorded(store):
    models = store.models
    registered(models, "fraud", 3)
    first = models.move_alias("fraud", "champion", 1, "ann", 100, gates=GATES)
    assert first == AliasMove("fraud", "champion", None, 1, "ann", 100, GATES)
    assert models.resolve_alias("fraud", "champion") == 1
    models.move_alias("fraud", "challenger", 3, "bob", 150)
    second = models.move_alias("fraud", "champion", 2, "bob", 200, expected_from=1)
    assert (second.from_version, second.to_version, second.gates) == (1, 2, [])
    assert models.resolve_alias("fraud", "champion") == 2
    model = models.get_model("fraud")
    assert model.aliases == {"challenger": 3, "champion": 2}
    assert model.updated_ms == 200
    assert [m.aliases for m in models.list_models()] == [{"challenger": 3, "champion": 2}]

    removed = models.move_alias("fraud", "challenger", None, "cy", 300, expected_from=3)
    assert (removed.from_version, removed.to_version, removed.moved_by) == (3, None, "cy")
    assert models.get_model("fraud").aliases == {"champion": 2}

    history = models.alias_history("fraud", "champion")  # newest first
    assert history == [second, first]
    assert history[1].gates == GATES
    assert [(m.alias, m.from_version, m.to_version) for m in models.alias_history("fraud")] == [
        ("challenger", 3, None),
        ("champion", 1, 2),
        ("challenger", None, 3),
        ("champion", None, 1),
    ]
    assert models.alias_history("fraud", "never") == []
    # the alias can be set again after removal
    models.move_alias("fraud", "challenger", 1, "cy", 400, expected_from=None)
    assert models.resolve_alias("fraud", "challenger") == 1


def test_a_move_decided_against_a_stale_alias_is_refused(store):
    models = store.models
    registered(models, "fraud", 3)
    models.move_alias("fraud", "champion", 1, "ann", 10)
    models.move_alias("fraud", "champion", 2, "bob", 20)  # someone promoted meanwhile
    with pytest.raises(
        Conflict, match=r"alias 'champion' of model 'fraud' points at version 2, not at version 1"
    ):
        models.move_alias("fraud", "champion", 3, "ann", 30, expected_from=1)
    with pytest.raises(Conflict, match=r"points at version 2, not unset"):
        models.move_alias("fraud", "champion", 3, "ann", 30, expected_from=None)
    with pytest.raises(Conflict, match=r"'staging' of model 'fraud' is not set, not at version 1"):
        models.move_alias("fraud", "staging", 3, "ann", 30, expected_from=1)
    assert models.resolve_alias("fraud", "champion") == 2
    assert len(models.alias_history("fraud")) == 2  # refused moves leave no record
    # UNCHECKED (the default) moves whatever the alias points at
    models.move_alias("fraud", "champion", 3, "ann", 40, expected_from=UNCHECKED)
    assert models.resolve_alias("fraud", "champion") == 3


def test_bad_aliases_are_refused(store):
    models = store.models
    registered(models, "fraud", 1)
    for bad in ("3", "007", "", "a" * 65, "has space", "dot.ted", "at@", "ümlaut", "-x", "_x"):
        with pytest.raises(InvalidArgument, match="invalid alias"):
            models.move_alias("fraud", bad, 1, "ann", 1)
    for good in ("v3", "3a", "a" * 64, "Champion_2-b"):
        assert models.move_alias("fraud", good, 1, "ann", 1).to_version == 1
    with pytest.raises(InvalidArgument, match="numbered from 1"):
        models.move_alias("fraud", "champion", 0, "ann", 1)
    with pytest.raises(InvalidArgument, match="JSON"):
        models.move_alias("fraud", "champion", 1, "ann", 1, gates=[{"x": object()}])
    with pytest.raises(NotFound, match="has no version 2; its versions are 1 to 1"):
        models.move_alias("fraud", "champion", 2, "ann", 1)
    assert "champion" not in models.get_model("fraud").aliases


def test_archived_versions_cannot_be_aliased_and_aliased_ones_cannot_be_archived(store):
    models = store.models
    registered(models, "fraud", 3)
    models.move_alias("fraud", "champion", 2, "ann", 1)
    models.move_alias("fraud", "shadow", 2, "ann", 1)
    with pytest.raises(
        Conflict, match=r"cannot archive version 2 of model 'fraud': aliases 'champion', 'shadow'"
    ):
        models.set_version_status("fraud", 2, "ARCHIVED")
    models.move_alias("fraud", "shadow", None, "ann", 2)
    with pytest.raises(Conflict, match=r"alias 'champion' points at it; move or remove"):
        models.set_version_status("fraud", 2, "ARCHIVED")
    assert models.get_model_version("fraud", 2).status == "READY"

    models.set_version_status("fraud", 1, "ARCHIVED")
    with pytest.raises(Conflict, match=r"version 1 of model 'fraud' is ARCHIVED.*READY"):
        models.move_alias("fraud", "champion", 1, "ann", 3, expected_from=2)
    assert models.resolve_alias("fraud", "champion") == 2
    models.move_alias("fraud", "champion", 3, "ann", 4, expected_from=2)
    assert models.set_version_status("fraud", 2, "ARCHIVED").status == "ARCHIVED"
    assert [v.status for v in models.list_model_versions("fraud")] == [
        "READY",
        "ARCHIVED",
        "ARCHIVED",
    ]
    assert models.get_model("fraud").latest_version == 3  # archived versions still count


# -- concurrency -----------------------------------------------------------------------


def test_concurrent_registrations_from_threads_never_duplicate_versions(store_uri):
    stores = [open_store(store_uri) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    made: list[int] = []
    errors: list[BaseException] = []

    def register(store: Any, i: int) -> None:
        barrier.wait()
        try:
            for n in range(5):
                record = store.models.create_model_version("fraud", version(), f"u{i}", n)
                made.append(record.version)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(s, i)) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a registering thread hung"
    listed = [v.version for v in stores[0].models.list_model_versions("fraud")]
    for s in stores:
        s.close()
    assert errors == []
    assert sorted(made) == list(range(1, 21))
    assert listed == list(range(20, 0, -1))


def test_concurrent_alias_moves_against_one_champion_let_exactly_one_win(store_uri):
    stores = [open_store(store_uri) for _ in range(4)]
    registered(stores[0].models, "fraud", 5)
    stores[0].models.move_alias("fraud", "champion", 1, "ann", 1)
    barrier = threading.Barrier(len(stores))
    outcomes: list[str] = []

    def promote(store: Any, i: int) -> None:
        barrier.wait()
        try:
            store.models.move_alias("fraud", "champion", i + 2, f"u{i}", 2, expected_from=1)
            outcomes.append("moved")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=promote, args=(s, i)) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a promoting thread hung"
    history = stores[0].models.alias_history("fraud", "champion")
    for s in stores:
        s.close()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "moved"]
    assert [m.from_version for m in history] == [1, None]
    assert history[0].to_version in (2, 3, 4, 5)


def test_a_registration_that_loses_the_race_takes_the_next_version(store, monkeypatch):
    registered(store.models, "fraud", 2)
    stale = {"left": 2}
    real = sql_registry.func

    class StaleMax:  # what a racing writer sees: a version number that is taken by now
        def __getattr__(self, name):
            return getattr(real, name)

        def max(self, column):
            if stale["left"]:
                stale["left"] -= 1
                return real.max(column) - 1
            return real.max(column)

    monkeypatch.setattr(sql_registry, "func", StaleMax())
    assert store.models.create_model_version("fraud", version(), "bob", 3).version == 3
    assert stale["left"] == 0
    stale["left"] = 100  # losing every time gives up with a reason
    with pytest.raises(Conflict, match=r"registered model 'fraud' version 3 at the same time"):
        store.models.create_model_version("fraud", version(), "bob", 4)
    monkeypatch.undo()
    assert [v.version for v in store.models.list_model_versions("fraud")] == [3, 2, 1]


_REGISTER = """
import sys
from shipyard.store.base import NewModelVersion
from shipyard.store.sql import SqlTrackingStore
from shipyard.store.rest import RestStore
uri = sys.argv[1]
store = RestStore(uri) if uri.startswith("http") else SqlTrackingStore(uri)
for n in range(5):
    v = store.models.create_model_version("fraud", NewModelVersion("sklearn", "1" * 64), "p", n)
    print(v.version)
store.close()
"""


@pytest.mark.slow
def test_concurrent_registrations_from_processes_never_duplicate_versions(store_uri):
    open_store(store_uri).close()  # migrate once, so the processes only register
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _REGISTER, store_uri],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err for _, err in outputs]
    made = sorted(int(line) for out, _ in outputs for line in out.split())
    assert made == list(range(1, 21))
    store = open_store(store_uri)
    assert [v.version for v in store.models.list_model_versions("fraud")] == list(range(20, 0, -1))
    store.close()


# -- blobs -----------------------------------------------------------------------------


def test_gc_keeps_model_blobs_even_when_their_run_is_deleted(store):
    run_id = uuid.uuid4().hex
    store.create_run(NewRun(id=run_id, project="p", name="train", start_ms=1))
    models = store.models
    models.create_model_version("fraud", version(H1, run_id=run_id), "ann", 1)
    models.create_model_version("fraud", version(H2), "ann", 2)
    models.set_version_status("fraud", 2, "ARCHIVED")  # archived versions keep their blob
    assert {H1, H2} <= store.referenced_blobs(include_deleted_runs=False)
    assert store.blobs_in_use([H1, H2, H3]) == {H1, H2}

    store.set_deleted([run_id], True)
    assert {H1, H2} <= store.referenced_blobs(include_deleted_runs=False)
    assert store.purge_deleted_runs() == [run_id]
    assert models.get_model_version("fraud", 1).run_id is None  # the version outlives its run
    assert models.get_model_version("fraud", 1).blob_hash == H1
    assert {H1, H2} <= store.referenced_blobs(include_deleted_runs=False)
    assert store.blobs_in_use([H1, H2, H3]) == {H1, H2}
