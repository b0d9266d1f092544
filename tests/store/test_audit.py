"""The audit log: every audited mutation leaves exactly one entry per object it changed, in
its own transaction (a failed one leaves none), on SQLite, the sqlite3 fast path and
PostgreSQL; nothing can edit or delete an entry; every method of the store protocols that
changes something is audited or exempt with a reason."""

from __future__ import annotations

import getpass
import inspect
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from shipyard.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from shipyard.store import rpc
from shipyard.store.actor import Actor, acting_as
from shipyard.store.base import (
    ArtifactRecord,
    DeploymentRecord,
    Materialization,
    Metric,
    NewFeatureObject,
    NewModelVersion,
    NewRun,
    PredictionCall,
    RunStatus,
)
from shipyard.store.base.audit_log import AUDIT_EXEMPT, AuditEntry
from shipyard.store.sql import SqlTrackingStore
from shipyard.store.sql.audit import SqlAuditStore
from shipyard.store.sql.features import SqlFeatureMetaStore
from shipyard.store.sql.flows import SqlFlowStore
from shipyard.store.sql.identity import SqlIdentityStore
from shipyard.store.sql.lite import LiteTrackingStore, open_store
from shipyard.store.sql.lite.flows import LiteFlowStore
from shipyard.store.sql.monitors import SqlMonitorStore
from shipyard.store.sql.predictions import SqlPredictionLogStore
from shipyard.store.sql.registry import SqlModelRegistryStore
from shipyard.store.sql.scheduler import SqlEventStore
from tests.conftest import _truncate_all

# "area.method" -> the action(s) it records; every other method that changes something is
# in AUDIT_EXEMPT (with its reason), every remaining one is a read (rpc.is_read)
AUDITED = {
    "identity.create_user": "user.create",
    "identity.set_user_disabled": "user.disable",
    "identity.set_user_admin": "user.admin",
    "identity.create_token": "token.create",
    "identity.revoke_token": "token.revoke",
    "identity.grant_role": "role.grant",
    "identity.revoke_role": "role.revoke",
    "tracking.create_project": "project.create",
    "tracking.create_run": "run.create",
    "tracking.set_run_status": "run.status",
    "tracking.set_run_name": "run.rename",
    "tracking.log_batch": "run.log",
    "tracking.delete_tag": "run.tag.delete",
    "tracking.set_deleted": "run.delete | run.restore",
    "tracking.purge_deleted_runs": "run.purge",
    "tracking.mark_killed": "run.status",
    "tracking.add_artifacts": "run.artifacts.add",
    "flows.create_flow_run": "flow_run.create",
    "features.apply_feature_objects": "<kind>.apply | <kind>.delete",
    "features.record_materialization": "feature_view.materialize | feature_view.push",
    "features.create_dataset": "dataset.create",
    "models.create_model_version": "model.version.create",
    "models.update_model": "model.update",
    "models.set_version_status": "model.version.status",
    "models.move_alias": "model.alias.move | model.alias.remove",
    "models.mark_owner_gone": "owner.gone | owner.back",
    "predictions.attach_labels": "predictions.label",
    "predictions.prune": "predictions.prune",
    "monitors.upsert_monitor": "monitor.create | monitor.update",
    "monitors.create_alert": "alert.fire",
    "monitors.resolve_alert": "alert.resolve",
    "events.upsert_deployment": "deployment.create | deployment.update",
    "events.delete_deployment": "deployment.delete",
}
SQL_CLASSES: dict[str, list[type]] = {
    "tracking": [SqlTrackingStore, LiteTrackingStore],
    "flows": [SqlFlowStore, LiteFlowStore],
    "features": [SqlFeatureMetaStore],
    "models": [SqlModelRegistryStore],
    "predictions": [SqlPredictionLogStore],
    "monitors": [SqlMonitorStore],
    "events": [SqlEventStore],
    "audit": [SqlAuditStore],
    "identity": [SqlIdentityStore],
}
RUN_A, RUN_B, RUN_C = "a" * 32, "b" * 32, "c" * 32


# -- the rule, enforced ----------------------------------------------------------------


def test_every_store_method_is_a_read_audited_or_exempt_with_a_reason():
    unclassified, audited_without_a_call = [], []
    for area in rpc.AREAS:
        for method in rpc.methods(area):
            key = f"{area}.{method}"
            if key in AUDITED:
                for cls in SQL_CLASSES[area]:
                    own = vars(cls).get(method)
                    source = "" if own is None else inspect.getsource(own)
                    if own is not None and not ("record_audit" in source or "self.full." in source):
                        audited_without_a_call.append(f"{cls.__name__}.{method}")
            elif key not in AUDIT_EXEMPT and not rpc.is_read(method):
                unclassified.append(key)
    assert unclassified == [], (
        "these store methods change something: audit them (record_audit in their write "
        "transaction, and add them to AUDITED here) or exempt them in AUDIT_EXEMPT with a "
        "reason"
    )
    assert audited_without_a_call == []
    known = {f"{a}.{m}" for a in rpc.AREAS for m in rpc.methods(a)}
    assert set(AUDIT_EXEMPT) <= known and set(AUDITED) <= known
    assert not set(AUDIT_EXEMPT) & set(AUDITED)
    assert all(len(reason) > 10 for reason in AUDIT_EXEMPT.values())


def test_no_interface_edits_or_deletes_entries():
    assert list(rpc.methods("audit")) == ["list_audit"]
    assert rpc.is_read("list_audit")  # a client may repeat it: it changes nothing


# -- stores ------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "lite", pytest.param("postgresql", marks=pytest.mark.services)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """SqlTrackingStore on SQLite, the sqlite3 fast path, SqlTrackingStore on PostgreSQL."""
    if request.param == "postgresql":
        uri = request.getfixturevalue("postgres_database")
        opened: Any = SqlTrackingStore(uri)
        yield opened
        opened.close()
        _truncate_all(uri)
        return
    uri = f"sqlite:///{tmp_path / 'meta' / 'shipyard.db'}"
    opened = SqlTrackingStore(uri)
    if request.param == "lite":
        opened.close()
        opened = open_store(uri)
        assert isinstance(opened, LiteTrackingStore)
    yield opened
    opened.close()


def _last_id(store: Any) -> int:
    newest = store.audit.list_audit(limit=1)
    return newest[0].id if newest else 0


def audited(store: Any, call: Callable[[], Any], *expected: tuple[str, str]) -> Any:
    """Make ``call``; it must leave exactly the entries ``expected`` (action, object), in
    that order, by the local actor. Returns what the call returned and its entries."""
    before = _last_id(store)
    result = call()
    entries = [e for e in reversed(store.audit.list_audit(limit=1000)) if e.id > before]
    assert [(e.action, e.object) for e in entries] == list(expected)
    for entry in entries:
        assert (entry.actor, entry.source) == (f"local:{getpass.getuser()}", "local")
    return result, entries


def refused(store: Any, call: Callable[[], Any], error: type[Exception]) -> None:
    """``call`` fails with ``error`` and leaves no entry."""
    before = _last_id(store)
    with pytest.raises(error):
        call()
    assert _last_id(store) == before


def _run(run_id: str, project: str = "churn", **kw: Any) -> NewRun:
    return NewRun(id=run_id, project=project, name="train", start_ms=1_000, **kw)


def test_tracking_mutations_leave_one_entry_each(store):
    audited(
        store, lambda: store.create_project("churn", "why"), ("project.create", "project:churn")
    )
    _, (entry,) = audited(
        store,
        lambda: store.create_run(_run(RUN_A, params={"lr": "0.1"}, tags={"t": "x"})),
        ("run.create", f"run:{RUN_A}"),
    )
    assert entry.summary["project"] == "churn" and entry.summary["params"] == 1
    _, (entry,) = audited(
        store,
        lambda: store.log_batch(
            RUN_A,
            [Metric("loss", v, i, 5) for i, v in enumerate((0.3, 0.2, 0.1))],
            params={"depth": "3"},
            tags={"team": "fraud"},
        ),
        ("run.log", f"run:{RUN_A}"),
    )
    assert entry.summary == {"metrics": 3, "params": 1, "tags": 1}
    audited(store, lambda: store.log_batch(RUN_A))  # an empty batch changes nothing
    _, (entry,) = audited(
        store, lambda: store.set_run_name(RUN_A, "renamed"), ("run.rename", f"run:{RUN_A}")
    )
    assert entry.summary == {"before": {"name": "train"}, "after": {"name": "renamed"}}
    audited(store, lambda: store.set_run_name(RUN_A, "renamed"))  # no change, no entry
    audited(store, lambda: store.delete_tag(RUN_A, "team"), ("run.tag.delete", f"run:{RUN_A}"))
    artifact = ArtifactRecord(RUN_A, "model/model.pkl", "ab" * 32, 10, "pickle", 2)
    _, (entry,) = audited(
        store, lambda: store.add_artifacts([artifact]), ("run.artifacts.add", f"run:{RUN_A}")
    )
    assert entry.summary == {"paths": 1, "bytes": 10, "first": ["model/model.pkl"]}
    _, (entry,) = audited(
        store,
        lambda: store.set_run_status(RUN_A, RunStatus.FINISHED, 9),
        ("run.status", f"run:{RUN_A}"),
    )
    assert entry.summary == {
        "before": {"status": "RUNNING"}, "after": {"status": "FINISHED", "end_ms": 9},
    }  # fmt: skip
    store.create_run(_run(RUN_B))
    _, (entry,) = audited(
        store, lambda: store.mark_killed([RUN_A, RUN_B], 50), ("run.status", f"run:{RUN_B}")
    )
    assert entry.summary["after"] == {"status": "KILLED"}
    audited(store, lambda: store.heartbeat([RUN_B], 60))  # exempt: liveness
    pair = (RUN_A, RUN_B)
    audited(
        store,
        lambda: store.set_deleted(pair, True),
        ("run.delete", f"run:{RUN_A}"),
        ("run.delete", f"run:{RUN_B}"),
    )
    audited(store, lambda: store.set_deleted([RUN_B], False), ("run.restore", f"run:{RUN_B}"))
    audited(store, store.purge_deleted_runs, ("run.purge", f"run:{RUN_A}"))


def test_a_failed_mutation_leaves_no_entry(store):
    store.create_run(_run(RUN_A, params={"lr": "0.1"}))
    refused(store, lambda: store.create_run(_run(RUN_A)), Conflict)
    refused(store, lambda: store.set_run_status(RUN_C, RunStatus.FAILED, 1), NotFound)
    refused(store, lambda: store.log_batch(RUN_A, params={"lr": "0.2"}), Conflict)
    refused(store, lambda: store.log_batch(RUN_C, tags={"a": "b"}), NotFound)
    refused(store, lambda: store.delete_tag(RUN_A, "missing"), NotFound)
    refused(store, lambda: store.set_deleted([RUN_A, RUN_C], True), NotFound)
    refused(store, lambda: store.create_project("churn"), AlreadyExists)
    models = store.models
    models.create_model_version("churn", NewModelVersion("sklearn", "ab" * 32), "me", 1)
    refused(store, lambda: models.move_alias("churn", "champion", 7, "me", 2), NotFound)
    refused(store, lambda: models.set_version_status("churn", 1, "GONE"), InvalidArgument)
    refused(store, lambda: store.events.delete_deployment("nightly"), NotFound)
    assert store.get_run(RUN_A).params == {"lr": "0.1"}


def test_registry_mutations_record_before_and_after(store):
    models = store.models
    new = NewModelVersion("sklearn", "ab" * 32, owner="ana")
    audited(
        store,
        lambda: models.create_model_version("churn", new, "ana", 1),
        ("model.create", "model:churn"),
        ("model.version.create", "model:churn/1"),
    )
    models.create_model_version("churn", new, "ana", 2)
    _, (entry,) = audited(
        store,
        lambda: models.update_model("churn", owner="bob", tags={"team": "risk"}),
        ("model.update", "model:churn"),
    )
    assert entry.summary == {
        "before": {"owner": "ana", "tags": {}}, "after": {"owner": "bob", "tags": {"team": "risk"}},
    }  # fmt: skip
    audited(
        store,
        lambda: models.move_alias("churn", "champion", 1, "ana", 3),
        ("model.alias.move", "model:churn@champion"),
    )
    _, (entry,) = audited(
        store,
        lambda: models.move_alias("churn", "champion", 2, "ana", 4),
        ("model.alias.move", "model:churn@champion"),
    )
    assert entry.summary == {"before": {"version": 1}, "after": {"version": 2}, "gates": 0}
    _, (entry,) = audited(
        store,
        lambda: models.set_version_status("churn", 1, "ARCHIVED"),
        ("model.version.status", "model:churn/1"),
    )
    assert entry.summary == {"before": {"status": "READY"}, "after": {"status": "ARCHIVED"}}
    audited(store, lambda: models.set_version_status("churn", 1, "ARCHIVED"))  # no change
    audited(
        store,
        lambda: models.move_alias("churn", "champion", None, "ana", 5),
        ("model.alias.remove", "model:churn@champion"),
    )
    audited(
        store,
        lambda: models.mark_owner_gone("bob", True, "ana", 6),
        ("owner.gone", "owner:bob"),
    )
    audited(store, lambda: models.mark_owner_gone("bob", True, "ana", 7))  # already gone
    assert [e.object for e in store.audit.list_audit(object="model:churn*")][-2:] == [
        "model:churn/1", "model:churn",
    ]  # fmt: skip


def test_features_flows_monitors_predictions_and_deployments(store):
    store.create_run(_run(RUN_A))
    spec = NewFeatureObject("feature_view", "trips", {"entities": []}, "f1")
    audited(
        store,
        lambda: store.features.apply_feature_objects("proj", [spec], "ana", 1),
        ("project.create", "project:proj"),  # created by this apply, so audited with it
        ("feature_view.apply", "feature_view:proj/trips"),
    )
    done = Materialization("proj", "trips", 1, "materialize", None, 100, 42, 2, 5)
    _, (entry,) = audited(
        store,
        lambda: store.features.record_materialization(done),
        ("feature_view.materialize", "feature_view:proj/trips"),
    )
    assert entry.summary["rows"] == 42
    audited(
        store,
        lambda: store.features.create_dataset("proj", "train", "cd" * 32, 10, 99, {}, "ana", 3),
        ("dataset.create", "dataset:proj/train/1"),
    )
    audited(
        store,
        lambda: store.flows.create_flow_run(RUN_A, "TrainFlow", "{}"),
        ("flow_run.create", "flow_run:TrainFlow/1"),
    )
    monitors = store.monitors
    monitor, _ = audited(
        store,
        lambda: monitors.upsert_monitor("drift", "churn", "production", "drift", "", {}, 1),
        ("monitor.create", "monitor:churn/drift"),
    )
    audited(
        store,
        lambda: monitors.upsert_monitor("drift", "churn", "production", "drift", "1h", {}, 2),
        ("monitor.update", "monitor:churn/drift"),
    )
    before = _last_id(store)
    alert = monitors.create_alert(monitor.id, "churn", 1, "k", "!", 3)
    fired = store.audit.list_audit()
    assert [(e.action, e.object) for e in fired if e.id > before] == [
        ("alert.fire", f"alert:{alert.id}")
    ]
    audited(
        store, lambda: monitors.resolve_alert(alert.id, 4), ("alert.resolve", f"alert:{alert.id}")
    )
    audited(store, lambda: monitors.resolve_alert(alert.id, 5))  # resolved already
    call = PredictionCall(
        "0" * 26, "churn", 1, "main", False, 1_000, 0.5, 2, {"age": [1, 2]}, [0.1, 0.2]
    )
    audited(store, lambda: store.predictions.append([call]))  # the log is data: exempt
    labels = [(f"{'0' * 26}000000", 1), (f"{'0' * 26}000001", 0)]
    _, (entry,) = audited(
        store,
        lambda: store.predictions.attach_labels(labels, 2_000),
        ("predictions.label", "predictions:churn"),
    )
    assert entry.summary == {"labels": 2}
    _, (entry,) = audited(
        store,
        lambda: store.predictions.prune(5_000, "churn"),
        ("predictions.prune", "predictions:churn"),
    )
    assert entry.summary == {"before_ms": 5_000, "calls": 1, "labels": 2, "segments": 0}
    deployment = DeploymentRecord(
        "nightly", "TrainFlow", "/x/flow.py", "ab" * 32, "0 * * * *", None, [], 0, "me", 1, 1
    )
    audited(
        store,
        lambda: store.events.upsert_deployment(deployment),
        ("deployment.create", "deployment:nightly"),
    )
    audited(
        store,
        lambda: store.events.upsert_deployment(deployment),
        ("deployment.update", "deployment:nightly"),
    )
    audited(
        store,
        lambda: store.events.delete_deployment("nightly"),
        ("deployment.delete", "deployment:nightly"),
    )


def test_the_acting_identity_is_recorded(store):
    with acting_as(Actor("ana", "10.0.0.5", "req-1")):
        store.create_project("churn")
        store.create_run(_run(RUN_A))
    (run, project) = store.audit.list_audit(actor="ana")
    assert (run.action, project.action) == ("run.create", "project.create")
    assert isinstance(run, AuditEntry)
    assert (run.actor, run.source, run.request_id) == ("ana", "10.0.0.5", "req-1")
    store.set_run_name(RUN_A, "other")
    newest = store.audit.list_audit(limit=1)[0]
    assert newest.actor == f"local:{getpass.getuser()}" and newest.request_id is None


def test_listing_filters_and_pages(store):
    with acting_as(Actor("ana", "10.0.0.5")):
        store.create_project("a")
    store.create_project("ab")
    store.create_project("b")
    entries = store.audit.list_audit()
    assert [e.object for e in entries] == ["project:b", "project:ab", "project:a"]
    assert [e.object for e in store.audit.list_audit(object="project:a*")] == [
        "project:ab", "project:a",
    ]  # fmt: skip
    assert [e.object for e in store.audit.list_audit(object="project:a")] == ["project:a"]
    assert [e.actor for e in store.audit.list_audit(actor="ana")] == ["ana"]
    assert store.audit.list_audit(action="run.*") == []
    assert len(store.audit.list_audit(action="project.create")) == 3
    page = store.audit.list_audit(limit=2)
    assert [e.object for e in store.audit.list_audit(before_id=page[-1].id)] == ["project:a"]
    newest = entries[0].ts_ms
    assert len(store.audit.list_audit(since_ms=newest + 1)) == 0
    assert len(store.audit.list_audit(until_ms=entries[-1].ts_ms)) == 0
    with pytest.raises(InvalidArgument, match="limit"):
        store.audit.list_audit(limit=0)


def test_entries_cannot_be_updated_or_deleted_even_with_raw_sql(store):
    store.create_project("churn")
    engine = store.db.engine  # the fast path hands this to its SQLAlchemy store
    for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text(statement))
    if engine.dialect.name == "sqlite":
        raw = sqlite3.connect(engine.url.database)
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("DELETE FROM audit_log")
        raw.close()
    (entry,) = store.audit.list_audit()
    assert entry.actor != "mallory"
