"""plan / apply: versions, history, breaking changes, and applied definitions used from a
fresh process (functions and DataFrames travel as blobs)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from shipyard.errors import Conflict
from shipyard.features import FeatureStore, load_repo
from shipyard.features.applied import KINDS
from shipyard.tracking import Client

from .conftest import BASE


def _actions(plan) -> dict[tuple[str, str], str]:  # type: ignore[no-untyped-def]
    return {(c.kind, c.name): c.action for c in plan.changes}


def test_plan_then_apply_then_nothing_to_do(fs: FeatureStore, feature_repo: Path) -> None:
    plan = fs.plan(load_repo(feature_repo))
    assert set(_actions(plan).values()) == {"add"}
    assert ("feature_service", "churn") in _actions(plan)
    assert ("on_demand_feature_view", "amount_ratio") in _actions(plan)
    fs.apply(load_repo(feature_repo))
    again = fs.plan(load_repo(feature_repo))
    assert set(_actions(again).values()) == {"unchanged"}
    assert again.pending == []


def test_change_makes_a_new_version_and_keeps_history(fs: FeatureStore, feature_repo: Path) -> None:
    fs.apply(load_repo(feature_repo))
    path = feature_repo / "definitions.py"
    path.write_text(
        path.read_text()
        .replace("ttl=timedelta(days=30)", "ttl=timedelta(days=7)")
        .replace('Field("segment", String)', 'Field("segment", String), Field("created", String)')
        .replace('Field("orders", Int64), ', "")
        .replace('customer_stats[["spend", "orders"]]', 'customer_stats[["spend"]]')
    )
    # "created" is a timestamp column of the source: refused before anything is written
    with pytest.raises(Exception, match="timestamp column of the source"):
        fs.plan(load_repo(feature_repo))
    path.write_text(path.read_text().replace(', Field("created", String)', ""))
    plan = fs.plan(load_repo(feature_repo))
    change = next(c for c in plan.changes if c.name == "customer_stats")
    assert change.action == "change"
    assert any("ttl_seconds" in line for line in change.diff)
    assert "- field orders (int64)" in change.diff
    assert "feature 'orders' removed" in change.breaking
    assert any("ttl shortened" in b for b in change.breaking)
    service = next(c for c in plan.changes if c.name == "churn")
    assert service.breaking == ["features dropped from the service: customer_stats:orders"]
    fs.apply(load_repo(feature_repo))
    history = fs.meta.feature_object_history("shop", "feature_view", "customer_stats")
    assert [h.version for h in history] == [1, 2]
    assert history[0].spec["ttl_seconds"] == 30 * 86400
    assert history[1].spec["ttl_seconds"] == 7 * 86400
    assert fs.get_feature_view("customer_stats").feature_names == ["spend", "segment"]


def test_removed_definition_is_a_tombstone(fs: FeatureStore, feature_repo: Path) -> None:
    objects = load_repo(feature_repo)
    fs.apply(objects)
    kept = [o for o in objects if getattr(o, "name", "") not in ("churn",)]
    plan = fs.apply(kept)
    assert _actions(plan)[("feature_service", "churn")] == "remove"
    assert "churn" not in fs.definitions(refresh=True).services
    history = fs.meta.feature_object_history("shop", "feature_service", "churn")
    assert [h.deleted for h in history] == [False, True]


@pytest.fixture
def fs_on_each_backend(client: Client) -> Iterator[FeatureStore]:
    """A feature store whose registry is on SQLite, then on a real PostgreSQL."""
    store = FeatureStore("shop", client=client)
    yield store
    store.close()


def test_every_removed_definition_can_be_added_again(
    fs_on_each_backend: FeatureStore, feature_repo: Path
) -> None:
    """Removal then re-addition of every kind the registry versions: the re-addition is
    planned against the tombstone, applies, and the history shows add, remove, add."""
    fs = fs_on_each_backend
    objects = load_repo(feature_repo)
    fs.apply(objects)
    everything = set(_actions(fs.plan(objects)))
    assert {kind for kind, _ in everything} == set(KINDS)

    removal = fs.apply([])
    assert set(_actions(removal).values()) == {"remove"}
    assert fs.plan([]).pending == []  # nothing left to remove: no second tombstone

    plan = fs.plan(objects)
    assert _actions(plan) == {key: "add" for key in everything}
    assert {c.base_version for c in plan.changes} == {2}  # against the tombstones
    fs.apply(objects)
    assert fs.plan(objects).pending == []
    for kind, name in everything:
        history = fs.meta.feature_object_history("shop", kind, name)
        assert [(h.version, h.deleted) for h in history] == [(1, False), (2, True), (3, False)]
        assert fs.meta.get_feature_object("shop", kind, name).version == 3
    defs = fs.definitions(refresh=True)
    assert defs.version("feature_view", "customer_stats") == 3
    entity_df = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "event_timestamp": [BASE + pd.Timedelta(days=d) for d in (10, 40)],
            "amount": [5.0, 6.0],
        }
    )
    assert fs.get_training_set(entity_df, "churn").to_df()["spend"].notna().any()
    stats = fs.meta.feature_stats("shop", "customer_stats")
    assert {s.view_version for s in stats} == {3}


def test_a_view_removed_and_added_again_is_materialized_afresh(
    fs_on_each_backend: FeatureStore, feature_repo: Path
) -> None:
    """The issue's case: one view removed, then added again. Its online rows were dropped
    with it, so the old watermark no longer applies."""
    fs = fs_on_each_backend
    objects = load_repo(feature_repo)
    fs.apply(objects)
    end = (BASE + pd.Timedelta(days=60)).to_pydatetime()
    first = fs.materialize_incremental(end)
    assert first["customer_stats"] > 0
    assert "customer_stats" in fs.meta.watermarks("shop")

    # the service and the on-demand view read customer_stats: they go with it
    gone = ("customer_stats", "amount_ratio", "churn")
    plan = fs.apply([o for o in objects if getattr(o, "name", "") not in gone])
    assert {c.name for c in plan.pending} == set(gone)
    assert {c.action for c in plan.pending} == {"remove"}
    assert "customer_stats" not in fs.meta.watermarks("shop")

    again = fs.plan(objects)
    readded = {c.name: (c.action, c.base_version) for c in again.pending}
    assert readded == {name: ("add", 2) for name in gone}
    fs.apply(objects)
    history = fs.meta.feature_object_history("shop", "feature_view", "customer_stats")
    assert [h.deleted for h in history] == [False, True, False]

    assert "customer_stats" not in fs.meta.watermarks("shop")  # never loaded since
    loaded = fs.materialize_incremental(end, views=["customer_stats"])
    assert loaded == {"customer_stats": first["customer_stats"]}
    online = fs.get_online_features("customer_stats:spend", [{"customer_id": 1}])
    assert online.statuses["spend"] != ["missing"]  # a row again (expired by now: 2024 data)


def test_breaking_changes_can_be_refused(fs: FeatureStore, feature_repo: Path) -> None:
    objects = load_repo(feature_repo)
    fs.apply(objects)
    kept = [o for o in objects if getattr(o, "name", "") != "churn"]
    with pytest.raises(Exception, match="breaking changes to feature_service churn"):
        fs.apply(kept, allow_breaking=False)
    assert "churn" in fs.definitions(refresh=True).services


def test_concurrent_apply_is_refused(fs: FeatureStore, feature_repo: Path) -> None:
    fs.apply(load_repo(feature_repo))
    path = feature_repo / "definitions.py"
    path.write_text(path.read_text().replace("days=30", "days=31"))
    stale_plan = fs.plan(load_repo(feature_repo))
    fs.apply(load_repo(feature_repo))  # someone else applied first
    from shipyard.features.apply import apply_plan

    with pytest.raises(Conflict):
        apply_plan(fs.context, stale_plan)


def test_applied_definitions_work_in_another_process(
    fs: FeatureStore, feature_repo: Path, shipyard_home: Path
) -> None:
    """The on-demand function lives in the repo file; another process (without the repo)
    rebuilds it from its blob and gets the same training set."""
    fs.apply(load_repo(feature_repo))
    entity_df = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "event_timestamp": [BASE + pd.Timedelta(days=d) for d in (10, 20, 40)],
            "amount": [5.0, 6.0, 7.0],
        }
    )
    entity_path = feature_repo.parent / "entities.parquet"
    entity_df.to_parquet(entity_path)
    here = fs.get_training_set(entity_df, "churn").to_df()
    script = textwrap.dedent(
        f"""
        import pandas as pd
        from shipyard.features import FeatureStore
        entity_df = pd.read_parquet({str(entity_path)!r})
        df = FeatureStore("shop").get_training_set(entity_df, "churn").to_df()
        df.to_parquet({str(feature_repo.parent / "there.parquet")!r})
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd="/")
    there = pd.read_parquet(feature_repo.parent / "there.parquet")
    pd.testing.assert_frame_equal(here, there)
    assert here["amount_ratio"].notna().any()
