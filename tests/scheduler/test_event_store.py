"""The event log, deployments and firing claims of the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from shipyard.errors import NotFound
from shipyard.store.base import DeploymentRecord


def _deployment(name: str = "nightly", cursor: int = 0, now: int = 1_000) -> DeploymentRecord:
    return DeploymentRecord(
        name, "TrainFlow", "/x/flow.py", "ab" * 32, "0 * * * *", None,
        [{"name": "alert.fired", "filters": {}, "parameters": {}}], cursor, "me", now, now,
    )  # fmt: skip


def test_events_are_appended_and_listed_oldest_first(client):
    events = client.store.events
    assert events.latest_event_id() == 0
    a = events.emit("alert.fired", {"alert_id": 1, "model": "churn"}, 10, "alert:1")
    b = events.emit("model.registered", {"model": "churn", "version": 2}, 20)
    assert (a.name, a.payload, a.source, a.created_ms) == (
        "alert.fired", {"alert_id": 1, "model": "churn"}, "alert:1", 10,
    )  # fmt: skip
    assert [e.id for e in events.list_events()] == [a.id, b.id]
    assert [e.id for e in events.list_events(["model.registered"])] == [b.id]
    assert [e.id for e in events.list_events(after_id=a.id)] == [b.id]
    assert events.latest_event_id() == b.id


def test_deployments_upsert_keep_their_cursor_and_delete(client):
    events = client.store.events
    first = events.upsert_deployment(_deployment(cursor=5))
    again = events.upsert_deployment(_deployment(cursor=0, now=2_000))
    assert (first.event_cursor, again.event_cursor) == (5, 5)
    assert (again.created_ms, again.updated_ms) == (1_000, 2_000)
    events.advance_cursor("nightly", 9)
    events.advance_cursor("nightly", 7)  # never back
    assert events.get_deployment("nightly").event_cursor == 9
    assert [d.name for d in events.list_deployments()] == ["nightly"]
    events.delete_deployment("nightly")
    with pytest.raises(NotFound, match="shipyard scheduler ls"):
        events.get_deployment("nightly")
    with pytest.raises(NotFound):
        events.delete_deployment("nightly")


def test_a_firing_is_claimed_once_and_taken_over_only_if_never_started(client):
    events = client.store.events
    won = events.claim("d", "d:cron:1", "schedule", 1, None, "a", now_ms=100, lease_ms=50)
    assert won is not None and won.status == "claimed" and won.claimed_by == "a"
    assert events.claim("d", "d:cron:1", "schedule", 1, None, "b", 120, 50) is None
    taken = events.claim("d", "d:cron:1", "schedule", 1, None, "b", 200, 50)  # lease lapsed
    assert taken is not None and (taken.id, taken.claimed_by) == (won.id, "b")
    events.update_firing(won.id, status="running", started_ms=201)
    assert events.claim("d", "d:cron:1", "schedule", 1, None, "c", 999, 50) is None
    assert events.expire_leases(240) == 0
    events.renew_leases("b", [won.id], 300)
    assert events.expire_leases(301) == 1
    assert events.get_firing(won.id).status == "lost"


def test_unclaimed_events_leave_out_those_fired_for_that_deployment(client):
    events = client.store.events
    e1 = events.emit("alert.fired", {}, 1)
    e2 = events.emit("alert.fired", {}, 2)
    events.emit("dataset.saved", {}, 3)
    events.claim("d", f"d:event:{e1.id}", "event", 1, e1.id, "a", 10, 50)
    assert [e.id for e in events.unclaimed_events("d", ["alert.fired"], 0)] == [e2.id]
    assert [e.id for e in events.unclaimed_events("other", ["alert.fired"], e1.id)] == [e2.id]
    assert [f.firing_key for f in events.firings("d")] == [f"d:event:{e1.id}"]


def _refuse_events(client, refuse: bool) -> None:
    """A database trigger that aborts every insert into ``events`` (or drops it)."""
    import sqlalchemy as sa

    postgres = client.store.db.engine.dialect.name == "postgresql"
    if refuse and postgres:
        statements = [
            "CREATE FUNCTION refuse_events() RETURNS trigger AS "
            "$$ BEGIN RAISE EXCEPTION 'events refused'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_events BEFORE INSERT ON events "
            "FOR EACH ROW EXECUTE FUNCTION refuse_events()",
        ]
    elif refuse:
        statements = [
            "CREATE TRIGGER refuse_events BEFORE INSERT ON events "
            "BEGIN SELECT RAISE(ABORT, 'events refused'); END"
        ]
    else:
        statements = ["DROP TRIGGER refuse_events" + (" ON events" if postgres else "")]
    client.store.db.write(lambda c: [c.execute(sa.text(s)) for s in statements])


def test_a_change_and_its_event_commit_together(client):
    """A version, dataset or alert whose event cannot be written is not left behind, and
    a written one has exactly one event: the two share one transaction."""
    from shipyard.store.base import NewModelVersion

    store = client.store
    new = NewModelVersion(flavor="sklearn", blob_hash="ab" * 32, owner="me")
    monitor = store.monitors.upsert_monitor("drift", "churn", "production", "drift", "", {}, 1)
    _refuse_events(client, True)
    with pytest.raises(Exception, match="events refused"):
        store.models.create_model_version("churn", new, "me", 10)
    with pytest.raises(Exception, match="events refused"):
        store.features.create_dataset("p", "train", "cd" * 32, 5, 50, {}, "me", 10)
    with pytest.raises(Exception, match="events refused"):
        store.monitors.create_alert(monitor.id, "churn", 1, "k", "fired", 10)
    assert store.models.list_models() == []
    assert store.monitors.list_alerts(include_resolved=True) == []
    with pytest.raises(NotFound):
        store.features.get_dataset("p", "train")

    _refuse_events(client, False)
    version = store.models.create_model_version("churn", new, "me", 20)
    dataset = store.features.create_dataset("p", "train", "cd" * 32, 5, 50, {}, "me", 20)
    alert = store.monitors.create_alert(monitor.id, "churn", 1, "k", "fired", 20)
    assert alert is not None
    store.monitors.resolve_alert(alert.id, 30)
    store.monitors.resolve_alert(alert.id, 40)  # already resolved: no second event
    got = [(e.name, e.source, e.created_ms) for e in store.events.list_events()]
    assert got == [
        ("model.registered", "model:churn", 20),
        ("dataset.saved", "dataset:train", 20),
        ("alert.fired", f"alert:{alert.id}", 20),
        ("alert.resolved", f"alert:{alert.id}", 30),
    ]
    payloads = [e.payload for e in store.events.list_events()]
    assert payloads[0] == {"model": "churn", "version": version.version, "run_id": None,
                           "dataset": None, "flavor": "sklearn"}  # fmt: skip
    assert payloads[1] == {"project": "p", "name": "train", "version": dataset.version,
                           "rows": 5, "run_id": None}  # fmt: skip
    assert payloads[2]["alert_id"] == alert.id and payloads[2]["dedup_key"] == "k"
