"""The feature metadata contract: the same behaviour on every metadata backend (SQLite,
PostgreSQL): versioned definitions, materializations, statistics, datasets and their blobs."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import numpy as np
import pytest

from shipyard.errors import Conflict, InvalidArgument, NotFound
from shipyard.store.base import FeatureStat, Materialization, NewFeatureObject, NewRun
from shipyard.store.sql import features as sql_features
from tests.conftest import open_store

H1, H2, H3 = "1" * 64, "2" * 64, "3" * 64


@pytest.fixture
def store(store_uri):
    store = open_store(store_uri)
    yield store
    store.close()


def view_spec(*features: str) -> dict:
    return {"entities": ["driver"], "features": [{"name": f, "dtype": "float64"} for f in features]}


def new(kind="feature_view", name="driver_stats", base=0, spec=None, **kw) -> NewFeatureObject:
    spec = view_spec("trips") if spec is None else spec
    return NewFeatureObject(kind, name, spec, f"fp-{name}-{base}", base_version=base, **kw)


# -- feature objects -------------------------------------------------------------------


def test_each_apply_writes_the_next_version_and_reads_it_back(store):
    fs = store.features
    first = fs.apply_feature_objects(
        "p",
        [new("entity", "driver", spec={"join_keys": ["driver_id"]}), new(blobs=(H2, H1))],
        user="ann",
        now_ms=1_000,
    )
    assert [(o.kind, o.name, o.version) for o in first] == [
        ("entity", "driver", 1),
        ("feature_view", "driver_stats", 1),
    ]
    [second] = fs.apply_feature_objects(
        "p", [new(base=1, spec=view_spec("trips", "rating"), blobs=(H3,))], "bob", 2_000
    )
    assert second.version == 2

    got = fs.get_feature_object("p", "feature_view", "driver_stats")
    assert got == second
    assert got.spec == view_spec("trips", "rating") and got.fingerprint == "fp-driver_stats-1"
    assert (got.project, got.created_by, got.created_ms, got.deleted) == ("p", "bob", 2_000, False)
    assert got.blobs == (H3,)
    old = fs.get_feature_object("p", "feature_view", "driver_stats", version=1)
    assert (old.spec, old.blobs, old.created_by) == (view_spec("trips"), (H2, H1), "ann")
    assert [o.version for o in fs.feature_object_history("p", "feature_view", "driver_stats")] == [
        1,
        2,
    ]
    latest = fs.latest_feature_objects("p")
    assert [(o.kind, o.name, o.version) for o in latest] == [
        ("entity", "driver", 1),
        ("feature_view", "driver_stats", 2),
    ]
    assert [o.name for o in fs.latest_feature_objects("p", kind="entity")] == ["driver"]
    assert fs.latest_feature_objects("other-project") == []
    assert "p" in [p.name for p in store.list_projects()]  # created on first use


def test_a_removal_is_a_tombstone_hidden_from_latest_but_kept_in_history(store):
    fs = store.features
    fs.apply_feature_objects("p", [new(), new("entity", "driver")], "ann", 1)
    [gone] = fs.apply_feature_objects("p", [new(base=1, deleted=True)], "ann", 2)
    assert (gone.version, gone.deleted) == (2, True)

    assert [o.name for o in fs.latest_feature_objects("p")] == ["driver"]
    with_deleted = fs.latest_feature_objects("p", include_deleted=True)
    assert [(o.name, o.version, o.deleted) for o in with_deleted] == [
        ("driver", 1, False),
        ("driver_stats", 2, True),
    ]
    history = fs.feature_object_history("p", "feature_view", "driver_stats")
    assert [(o.version, o.deleted) for o in history] == [(1, False), (2, True)]
    with pytest.raises(NotFound, match="removed in version 2"):
        fs.get_feature_object("p", "feature_view", "driver_stats")
    assert fs.get_feature_object("p", "feature_view", "driver_stats", 2).deleted
    assert fs.get_feature_object("p", "feature_view", "driver_stats", 1).spec == view_spec("trips")

    [back] = fs.apply_feature_objects("p", [new(base=2)], "ann", 3)  # re-created later
    assert (back.version, back.deleted) == (3, False)
    assert fs.get_feature_object("p", "feature_view", "driver_stats").version == 3


def test_a_stale_plan_is_refused_whole_naming_the_object_and_versions(store):
    fs = store.features
    fs.apply_feature_objects("p", [new()], "ann", 1)
    fs.apply_feature_objects("p", [new(base=1)], "bob", 2)  # someone applied meanwhile

    changes = [new("entity", "driver"), new(base=1, spec=view_spec("x"))]
    with pytest.raises(Conflict, match=r"feature_view 'driver_stats' is at version 2.*version 1"):
        fs.apply_feature_objects("p", changes, "ann", 3)
    assert [o.name for o in fs.latest_feature_objects("p")] == ["driver_stats"]  # no entity
    assert fs.get_feature_object("p", "feature_view", "driver_stats").created_by == "bob"

    with pytest.raises(Conflict, match=r"'driver_stats' is at version 2.*against version 0"):
        fs.apply_feature_objects("p", [new(base=0)], "ann", 4)  # "new" but it exists
    with pytest.raises(Conflict, match=r"'other' is at version 0.*against version 3"):
        fs.apply_feature_objects("p", [new(name="other", base=3)], "ann", 4)
    assert len(fs.feature_object_history("p", "feature_view", "driver_stats")) == 2


def test_a_concurrent_apply_that_slips_past_the_check_is_a_conflict(store, monkeypatch):
    fs = store.features
    fs.apply_feature_objects("p", [new(), new("entity", "driver")], "ann", 1)
    # what a racing writer sees: its plan looked current, but version 2 is taken by now
    fs.apply_feature_objects("p", [new(base=1)], "bob", 2)
    monkeypatch.setattr(sql_features, "_latest_versions", lambda *a: {("feature_view", "x"): 0})
    monkeypatch.setattr(sql_features, "_check_bases", lambda *a: None)
    with pytest.raises(Conflict, match=r"'driver' version 1 .* at the same time"):
        fs.apply_feature_objects("p", [new("feature_view", "x"), new("entity", "driver")], "c", 3)
    monkeypatch.undo()
    assert [o.name for o in fs.latest_feature_objects("p")] == ["driver", "driver_stats"]


def test_concurrent_appliers_never_create_duplicate_versions(store_uri):
    stores = [open_store(store_uri) for _ in range(4)]
    stores[0].features.apply_feature_objects("p", [new()], "ann", 1)
    barrier = threading.Barrier(len(stores))
    outcomes: list[str] = []

    def apply(store: Any, i: int) -> None:
        barrier.wait()
        try:
            store.features.apply_feature_objects("p", [new(base=1)], f"user{i}", 2)
            outcomes.append("applied")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=apply, args=(s, i)) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "an applying thread hung"
    history = stores[0].features.feature_object_history("p", "feature_view", "driver_stats")
    for s in stores:
        s.close()
    assert sorted(outcomes) == ["applied", "conflict", "conflict", "conflict"]
    assert [o.version for o in history] == [1, 2]


def test_bad_applies_are_refused_with_a_reason(store):
    fs = store.features
    with pytest.raises(InvalidArgument, match="more than once"):
        fs.apply_feature_objects("p", [new(), new()], "ann", 1)
    with pytest.raises(InvalidArgument, match="never applied"):
        fs.apply_feature_objects("p", [new(deleted=True)], "ann", 1)
    with pytest.raises(
        InvalidArgument, match=r"(spec of feature_view 'driver_stats'|cannot be sent).*JSON"
    ):
        fs.apply_feature_objects("p", [new(spec={"f": object()})], "ann", 1)
    assert fs.latest_feature_objects("p", include_deleted=True) == []
    assert fs.apply_feature_objects("p", [], "ann", 1) == []


def test_missing_objects_say_where_to_look(store):
    fs = store.features
    with pytest.raises(NotFound, match=r"no feature_view named 'nope'.*`shipyard features ls`"):
        fs.get_feature_object("p", "feature_view", "nope")
    with pytest.raises(NotFound, match="features ls"):
        fs.feature_object_history("p", "entity", "nope")
    fs.apply_feature_objects("p", [new()], "ann", 1)
    with pytest.raises(NotFound, match=r"has no version 7.*show driver_stats --history"):
        fs.get_feature_object("p", "feature_view", "driver_stats", version=7)
    with pytest.raises(NotFound):  # the same name in another project is another object
        fs.get_feature_object("q", "feature_view", "driver_stats")
    with pytest.raises(NotFound):  # and so is the same name of another kind
        fs.get_feature_object("p", "entity", "driver_stats")


# -- materializations and statistics ---------------------------------------------------


def materialization(view="v", kind="materialize", end=100, created=1, rows=10) -> Materialization:
    start = None if kind == "push" else end - 50
    return Materialization("p", view, 1, kind, start, end, rows, created, 5)


def test_materializations_newest_first_and_watermarks_per_view(store):
    fs = store.features
    assert fs.watermarks("p") == {} and fs.materializations("p") == []
    fs.record_materialization(materialization("a", end=100, created=1))
    fs.record_materialization(materialization("a", end=300, created=3))
    fs.record_materialization(materialization("a", end=200, created=4))  # a backfill
    fs.record_materialization(materialization("a", "push", end=900, created=5))
    fs.record_materialization(materialization("b", end=50, created=2, rows=np.int64(7)))

    assert fs.watermarks("p") == {"a": 300, "b": 50}  # pushes do not move a watermark
    assert [m.created_ms for m in fs.materializations("p")] == [5, 4, 3, 2, 1]
    assert [m.created_ms for m in fs.materializations("p", view="a", limit=2)] == [5, 4]
    [push] = fs.materializations("p", view="a", limit=1)
    assert (push.kind, push.start_ms, push.end_ms, push.view_version) == ("push", None, 900, 1)
    [b] = fs.materializations("p", view="b")
    assert (b.start_ms, b.end_ms, b.rows, b.duration_ms) == (0, 50, 7, 5)
    assert fs.watermarks("other") == {}
    with pytest.raises(InvalidArgument, match="materialize"):
        fs.record_materialization(materialization(kind="stream"))


def stat(feature: str, computed: int, view="v", **kw) -> FeatureStat:
    values = dict(
        dtype="float64", count=10, null_count=1, distinct_count=9, min_value=0.5,
        max_value=9.5, mean=4.0, computed_at="materialize",
    )  # fmt: skip
    values.update(kw)
    return FeatureStat("p", view, 1, feature, computed_ms=computed, **values)


def test_feature_stats_are_the_latest_per_view_and_feature(store):
    fs = store.features
    fs.save_feature_stats(
        [stat("trips", 1, computed_at="apply"), stat("rating", 1), stat("trips", 1, view="w")]
    )
    fs.save_feature_stats(
        [
            stat("trips", 2, mean=float("nan"), count=np.int64(3), min_value=np.float64(1.5)),
            stat("city", 2, dtype="string", min_value="Berlin", max_value="Oslo", mean=None),
            stat("blob", 2, dtype="bytes", min_value=None, max_value=None, distinct_count=None),
        ]
    )
    latest = fs.feature_stats("p", view="v")
    assert [(s.feature, s.computed_ms) for s in latest] == [
        ("rating", 1),
        ("trips", 2),
        ("city", 2),
        ("blob", 2),
    ]
    trips, city, blob = latest[1:]
    assert (trips.count, trips.min_value, trips.max_value, trips.mean) == (3, 1.5, 9.5, None)
    assert (city.min_value, city.max_value, city.dtype) == ("Berlin", "Oslo", "string")
    assert (blob.min_value, blob.max_value, blob.distinct_count) == (None, None, None)
    assert latest[0] == stat("rating", 1)  # a full round trip
    everything = fs.feature_stats("p")
    assert [(s.view, s.feature) for s in everything][-1] == ("w", "trips")
    assert len(everything) == 5
    assert fs.feature_stats("other") == []
    with pytest.raises(InvalidArgument, match="computed_at"):
        fs.save_feature_stats([stat("x", 3, computed_at="later")])
    with pytest.raises(InvalidArgument, match=r"min of v\.x|cannot be sent"):
        fs.save_feature_stats([stat("x", 3, min_value=object())])
    assert len(fs.feature_stats("p")) == 5


# -- datasets and blobs ----------------------------------------------------------------


def test_datasets_are_numbered_per_name(store):
    fs = store.features
    lineage = {"feature_views": {"driver_stats": 2}, "entity_df": H3}
    one = fs.create_dataset("p", "train", H1, 100, 2048, lineage, "ann", 10)
    two = fs.create_dataset("p", "train", H2, 120, 4096, {}, "bob", 20)
    other = fs.create_dataset("p", "eval", H3, 5, 64, {}, "ann", 30)
    assert (one.version, two.version, other.version) == (1, 2, 1)
    assert fs.get_dataset("p", "train") == two
    assert fs.get_dataset("p", "train", version=1) == one
    assert (one.lineage, one.rows, one.size, one.created_by, one.run_id) == (
        lineage,
        100,
        2048,
        "ann",
        None,
    )
    assert [(d.name, d.version) for d in fs.list_datasets("p")] == [
        ("eval", 1),
        ("train", 2),
        ("train", 1),
    ]
    assert [d.version for d in fs.list_datasets("p", name="train")] == [2, 1]
    assert fs.create_dataset("q", "train", H1, 1, 1, {}, "ann", 1).version == 1  # per project
    with pytest.raises(NotFound, match=r"no dataset 'train' version 9 in project 'p'"):
        fs.get_dataset("p", "train", version=9)
    with pytest.raises(NotFound, match="`shipyard features datasets`"):
        fs.get_dataset("p", "nope")
    with pytest.raises(NotFound, match="no run with id"):
        fs.create_dataset("p", "train", H1, 1, 1, {}, "ann", 1, run_id="f" * 32)
    assert len(fs.list_datasets("p", name="train")) == 2


def test_gc_keeps_feature_and_dataset_blobs_even_when_their_run_is_deleted(store):
    run_id = uuid.uuid4().hex
    store.create_run(NewRun(id=run_id, project="p", name="build", start_ms=1))
    fs = store.features
    fs.apply_feature_objects("p", [new(blobs=(H1,))], "ann", 1)
    fs.apply_feature_objects("p", [new(base=1, deleted=True)], "ann", 2)  # history keeps H1
    fs.create_dataset("p", "train", H2, 1, 1, {}, "ann", 3, run_id=run_id)
    fs.create_dataset("p", "loose", H3, 1, 1, {}, "ann", 3)
    assert {H1, H2, H3} <= store.referenced_blobs(include_deleted_runs=False)
    assert store.blobs_in_use([H1, H2, H3, "9" * 64]) == {H1, H2, H3}

    store.set_deleted([run_id], True)
    assert {H1, H2, H3} <= store.referenced_blobs(include_deleted_runs=False)
    assert store.purge_deleted_runs() == [run_id]
    assert fs.get_dataset("p", "train").run_id is None  # the dataset outlives its run
    assert {H1, H2, H3} <= store.referenced_blobs(include_deleted_runs=False)
