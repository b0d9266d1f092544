"""plan / apply: versions, history, breaking changes, and applied definitions used from a
fresh process (functions and DataFrames travel as blobs)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from shipyard.errors import Conflict
from shipyard.features import FeatureStore, load_repo

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
        apply_plan(fs, stale_plan)


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
