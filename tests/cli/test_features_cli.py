"""`shipyard features ...` on a small repo folder: plan, apply, catalog, online store."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import shipyard
from shipyard.features import FeatureStore

DEFINITIONS = textwrap.dedent(
    """
    from datetime import timedelta

    from shipyard.features import (
        Entity, FeatureService, FeatureView, Field, FileSource, Float64, Int64, String,
    )

    customer = Entity("customer", join_keys=["customer_id"])
    customer_stats = FeatureView(
        "customer_stats",
        source=FileSource(
            name="stats_source", path="data/stats.parquet", created_timestamp_column="created"
        ),
        entities=[customer],
        schema=[
            Field("spend", Float64, description="money spent in the last 30 days"),
            Field("orders", Int64),
        ],
        ttl=timedelta(days=30),
        owner="ana",
        tags={"team": "growth"},
    )
    profile = FeatureView(
        "profile",
        source=FileSource(name="profile_source", path="data/profile.parquet"),
        entities=[customer],
        schema=[Field("segment", String)],
        ttl=None,
        owner="bob",
        tags={"team": "risk"},
    )
    churn = FeatureService("churn", features=[customer_stats[["spend"]], profile])
    """
)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture
def repo(tmp_path: Path, shipyard_home: Path) -> Path:
    folder = tmp_path / "features"
    (folder / "data").mkdir(parents=True)
    stamps = [utc("2024-01-01"), utc("2024-01-10"), utc("2024-01-05"), utc("2024-02-15")]
    pd.DataFrame(
        {
            "customer_id": pd.array([1, 1, 2, 1], dtype="int64"),
            "event_timestamp": stamps,
            "created": stamps,
            "spend": [10.0, 15.5, 20.0, 99.0],
            "orders": pd.array([1, 2, 3, 4], dtype="int64"),
        }
    ).to_parquet(folder / "data" / "stats.parquet")
    pd.DataFrame(
        {
            "customer_id": pd.array([1, 2], dtype="int64"),
            "event_timestamp": [utc("2024-01-01"), utc("2024-01-02")],
            "segment": ["gold", "silver"],
        }
    ).to_parquet(folder / "data" / "profile.parquet")
    (folder / "definitions.py").write_text(DEFINITIONS)
    return folder


@pytest.fixture
def applied(cli, repo: Path) -> Path:
    code, _, err = cli("features", "apply", "--repo", str(repo))
    assert (code, err) == (0, ""), err
    return repo


@pytest.fixture
def fs(shipyard_home: Path) -> Iterator[FeatureStore]:
    """The store the CLI uses (default project, settings from SHIPYARD_HOME)."""
    store = FeatureStore()
    yield store
    store.close()
    store.client.close()


def lines_with(text: str, word: str) -> list[str]:
    return [line for line in text.splitlines() if word in line]


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


# -- plan and apply ----------------------------------------------------------------------


def test_plan_apply_and_plan_again(cli, repo: Path) -> None:
    code, out, _ = cli("features", "plan", "--repo", str(repo))
    assert code == 0
    assert out.splitlines()[:6] == [
        "+ entity customer",
        "+ source profile_source",
        "+ source stats_source",
        "+ feature view customer_stats",
        "+ feature view profile",
        "+ feature service churn",
    ]
    assert "6 change(s) to apply, 0 breaking, 0 unchanged (project default)" in out

    code, out, _ = cli("features", "ls")  # plan applied nothing
    assert code == 0 and "no features applied" in out

    code, out, _ = cli("features", "apply", "--repo", str(repo))
    assert code == 0
    assert "+ feature view customer_stats" in out
    assert "6 change(s) applied, 0 breaking, 0 unchanged (project default)" in out

    code, out, _ = cli("features", "plan", "--repo", str(repo))
    assert code == 0
    assert out.strip() == "0 change(s) to apply, 0 breaking, 6 unchanged (project default)"
    code, out, _ = cli("features", "apply", "--repo", str(repo))
    assert code == 0
    assert out.strip() == "0 change(s) applied, 0 breaking, 6 unchanged (project default)"


def test_plan_shows_a_change_field_by_field(cli, applied: Path) -> None:
    defs = applied / "definitions.py"
    defs.write_text(
        DEFINITIONS.replace("ttl=timedelta(days=30)", "ttl=timedelta(days=60)").replace(
            'Field("orders", Int64),', 'Field("orders", Int64), Field("spend_90d", Float64),'
        )
    )
    code, out, _ = cli("features", "plan", "--repo", str(applied))
    assert code == 0
    assert out.splitlines() == [
        "~ feature view customer_stats",
        "    + field spend_90d (float64)",
        "    ttl_seconds: 2592000.0 -> 5184000.0",
        "1 change(s) to apply, 0 breaking, 5 unchanged (project default)",
    ]


def test_apply_no_breaking_refuses_a_breaking_change(cli, applied: Path) -> None:
    defs = applied / "definitions.py"
    defs.write_text(DEFINITIONS.replace('Field("orders", Int64),', ""))  # a feature removed

    code, out, _ = cli("features", "plan", "--repo", str(applied))
    assert code == 0
    assert "~ feature view customer_stats (breaking)" in out
    assert "    - field orders (int64)" in out
    assert "    ! feature 'orders' removed" in out
    assert "1 change(s) to apply, 1 breaking, 5 unchanged" in out

    code, out, err = cli("features", "apply", "--repo", str(applied), "--no-breaking")
    assert_one_line_error(code, err, "breaking changes to feature_view customer_stats")
    assert out == ""
    code, out, _ = cli("features", "show", "customer_stats")  # nothing applied
    assert code == 0 and out.startswith("feature_view customer_stats v1 ")
    assert '"orders"' in out

    code, out, _ = cli("features", "apply", "--repo", str(applied))  # allowed without the flag
    assert code == 0 and "1 change(s) applied, 1 breaking, 5 unchanged" in out
    code, out, _ = cli("features", "show", "customer_stats")
    assert code == 0 and out.startswith("feature_view customer_stats v2 ")
    assert '"orders"' not in out


def test_a_removed_view_can_be_applied_again(
    cli, repo: Path, store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Remove a view (and the source only it read), then apply it again: the re-addition
    applies, and the history shows the removal and the re-addition (SQLite, PostgreSQL)."""
    monkeypatch.setenv("SHIPYARD_URI", store_uri)
    applied = repo
    assert cli("features", "apply", "--repo", str(applied))[0] == 0
    profile = DEFINITIONS[DEFINITIONS.index("profile = FeatureView(") : DEFINITIONS.index("churn")]
    without = DEFINITIONS.replace(profile, "").replace(
        '[customer_stats[["spend"]], profile]', '[customer_stats[["spend"]]]'
    )
    (applied / "definitions.py").write_text(without)
    code, out, err = cli("features", "apply", "--repo", str(applied))
    assert (code, err) == (0, ""), err
    assert "- source profile_source" in out and "- feature view profile (breaking)" in out

    code, out, err = cli("features", "show", "profile")
    assert_one_line_error(code, err, "feature view 'profile' was removed", "--history")
    code, out, _ = cli("features", "show", "profile", "--history")
    assert code == 0
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [(r[0], r[-1]) for r in rows] == [("1", rows[0][-1]), ("2", "removed")]

    (applied / "definitions.py").write_text(DEFINITIONS)
    code, out, _ = cli("features", "plan", "--repo", str(applied))
    assert code == 0
    assert out.splitlines()[:3] == [
        "+ source profile_source",
        "+ feature view profile",
        "~ feature service churn",
    ]
    code, out, err = cli("features", "apply", "--repo", str(applied))
    assert (code, err) == (0, ""), err
    assert "3 change(s) applied, 0 breaking, 3 unchanged (project default)" in out

    code, out, _ = cli("features", "show", "profile", "--history")
    assert code == 0
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [r[0] for r in rows] == ["1", "2", "3"]
    assert rows[1][-1] == "removed" and rows[2][-1] == rows[0][-1]  # the same spec again
    code, out, _ = cli("features", "show", "profile")
    assert code == 0 and out.startswith("feature_view profile v3 ")
    code, out, _ = cli("features", "plan", "--repo", str(applied))
    assert out.strip() == "0 change(s) to apply, 0 breaking, 6 unchanged (project default)"


def test_apply_of_an_empty_folder_is_a_one_line_error(cli, tmp_path: Path, shipyard_home) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = cli("features", "apply", "--repo", str(empty))
    assert_one_line_error(code, err, "no feature definitions found in")
    assert out == ""


def test_apply_with_bad_data_is_a_one_line_error(cli, repo: Path) -> None:
    (repo / "definitions.py").write_text(
        DEFINITIONS.replace('Field("orders", Int64)', 'Field("orders", String)')
    )
    code, _, err = cli("features", "apply", "--repo", str(repo))
    assert_one_line_error(
        code, err, "feature view 'customer_stats': feature 'orders' is declared string"
    )
    code, out, _ = cli("features", "ls")
    assert code == 0 and "no features applied" in out


def test_apply_with_bad_sql_is_a_one_line_error(cli, repo: Path) -> None:
    (repo / "more.py").write_text(
        textwrap.dedent(
            """
            from shipyard.features import Entity, FeatureView, Field, Float64, SqlSource

            broken = FeatureView(
                "broken",
                source=SqlSource(name="broken_sql", query="SELECT * FROM nowhere_table"),
                entities=[Entity("customer", join_keys=["customer_id"])],
                schema=[Field("x", Float64)],
            )
            """
        )
    )
    code, out, err = cli("features", "apply", "--repo", str(repo))
    assert_one_line_error(code, err, "source 'broken_sql': its query failed", "nowhere_table")
    assert out == ""
    code, out, _ = cli("features", "ls")
    assert code == 0 and "no features applied" in out  # all or nothing


# -- catalog -----------------------------------------------------------------------------


def test_ls_lists_features_with_stats_and_filters(cli, applied: Path) -> None:
    code, out, _ = cli("features", "ls")
    assert code == 0
    assert "features of default" in out
    (spend,) = lines_with(out, "customer_stats:spend")
    assert spend.split() == [
        "customer_stats:spend",
        "float64",
        "ana",
        "0.0%",
        "4",
        "10",
        "99",
        "36.125",
        "churn",
    ]
    (orders,) = lines_with(out, "customer_stats:orders")
    assert orders.split()[:3] == ["customer_stats:orders", "int64", "ana"]
    assert "churn" not in orders  # the service takes only spend from this view
    (segment,) = lines_with(out, "profile:segment")
    assert segment.split()[:3] == ["profile:segment", "string", "bob"]
    assert segment.split()[-1] == "churn"

    def features(*args: str) -> list[str]:
        code, out, _ = cli("features", "ls", *args)
        assert code == 0
        return [w for line in out.splitlines() for w in line.split()[:1] if ":" in w]

    assert features("--search", "spend") == ["customer_stats:spend"]
    assert features("--search", "30 DAYS") == ["customer_stats:spend"]  # in the description
    assert features("--tag", "team=risk") == ["profile:segment"]
    assert sorted(features("--tag", "team")) == [
        "customer_stats:orders",
        "customer_stats:spend",
        "profile:segment",
    ]
    assert sorted(features("--owner", "ana")) == ["customer_stats:orders", "customer_stats:spend"]
    code, out, _ = cli("features", "ls", "--owner", "nobody")
    assert code == 0 and "no features match" in out


def test_show_and_history(cli, applied: Path) -> None:
    code, out, _ = cli("features", "show", "customer_stats")
    assert code == 0
    head, _, body = out.partition("\n")
    assert head.startswith("feature_view customer_stats v1 (by ")
    spec = json.loads(body)
    assert spec["ttl_seconds"] == 30 * 86400
    assert [f["name"] for f in spec["schema"]] == ["spend", "orders"]
    assert (spec["source"], spec["entities"], spec["owner"]) == (
        "stats_source",
        ["customer"],
        "ana",
    )

    code, out, _ = cli("features", "show", "stats_source")
    assert code == 0 and out.startswith("source stats_source v1 ")
    spec = json.loads(out.partition("\n")[2])
    assert spec["path"] == str(applied / "data" / "stats.parquet")  # resolved against the repo
    assert spec["created_timestamp_column"] == "created"

    (applied / "definitions.py").write_text(
        DEFINITIONS.replace("ttl=timedelta(days=30)", "ttl=timedelta(days=45)")
    )
    assert cli("features", "apply", "--repo", str(applied))[0] == 0
    code, out, _ = cli("features", "show", "customer_stats", "--history")
    assert code == 0
    assert "feature_view customer_stats" in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [r[0] for r in rows] == ["1", "2"]
    assert all(len(r[-1]) == 12 for r in rows)  # fingerprint prefixes
    assert rows[0][-1] != rows[1][-1]

    code, out, err = cli("features", "show", "nope")
    assert_one_line_error(code, err, "nothing named 'nope' is applied")


# -- online store ------------------------------------------------------------------------


def test_materialize_then_get(cli, applied: Path) -> None:
    code, out, _ = cli("features", "materialize", "2024-01-01", "2024-02-01")
    assert code == 0
    assert out.splitlines() == [
        "customer_stats: 2 entity rows loaded",
        "profile: 2 entity rows loaded",
    ]
    code, out, _ = cli(
        "features", "get", "churn", "customer_id=1", "customer_id=2", "customer_id=9"
    )
    assert code == 0
    header = lines_with(out, "customer_id")[0].split()
    assert header == ["customer_id", "spend", "segment"]
    rows = {
        line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()[:1].isdigit()
    }
    # the 2024 spend is older than the 30-day TTL now; the profile has no TTL
    assert rows == {
        "1": ["outside_ttl", "gold"],
        "2": ["outside_ttl", "silver"],
        "9": ["missing", "missing"],
    }

    code, out, _ = cli("features", "materialize", "2024-01-01", "2024-03-01", "--view", "profile")
    assert code == 0 and out.splitlines() == ["profile: 2 entity rows loaded"]


def test_get_with_feature_references(cli, applied: Path) -> None:
    assert cli("features", "materialize", "2024-01-01", "2024-03-01")[0] == 0
    code, out, _ = cli("features", "get", "profile:segment,customer_stats:orders", "customer_id=2")
    assert code == 0
    (row,) = [line.split() for line in out.splitlines() if line.strip().startswith("2")]
    assert row == ["2", "silver", "outside_ttl"]


def test_materialize_incremental_continues_from_the_watermark(cli, applied: Path) -> None:
    # the first time: one TTL back from END (profile has no TTL: everything before END)
    code, out, _ = cli("features", "materialize-incremental", "2024-02-01T00:00:00")
    assert code == 0
    assert out.splitlines() == [
        "customer_stats: 2 entity rows loaded",
        "profile: 2 entity rows loaded",
    ]
    # then from the watermark (2024-02-01) to now: only the 2024-02-15 row is new
    code, out, _ = cli("features", "materialize-incremental")
    assert code == 0
    assert out.splitlines() == [
        "customer_stats: 1 entity rows loaded",
        "profile: 0 entity rows loaded",
    ]


def test_status_flags_stale_views(cli, applied: Path) -> None:
    code, out, err = cli("features", "status")
    assert code == 2
    assert err == "stale: customer_stats, profile\n"
    assert len(lines_with(out, "never loaded")) == 2

    # loaded up to 2024-03-01: older than customer_stats' 30-day TTL; profile has no TTL
    assert cli("features", "materialize", "2024-01-01", "2024-03-01")[0] == 0
    code, out, err = cli("features", "status")
    assert code == 2
    assert err == "stale: customer_stats\n"
    (stats,) = lines_with(out, "customer_stats")
    (profile,) = lines_with(out, "profile")
    assert "STALE" in stats and "30.0d" in stats and "2024-03-01 00:00:00" in stats
    assert "fresh" in profile and "none" in profile

    # loaded up to now: everything fresh
    assert cli("features", "materialize-incremental")[0] == 0
    code, out, err = cli("features", "status")
    assert (code, err) == (0, "")
    assert "STALE" not in out and len(lines_with(out, "fresh")) == 2


def test_online_errors_are_one_line(cli, applied: Path) -> None:
    code, _, err = cli("features", "materialize", "yesterday", "2024-01-01")
    assert_one_line_error(code, err, "'yesterday' is not an ISO 8601 time")
    code, _, err = cli("features", "materialize", "2024-02-01", "2024-01-01")
    assert_one_line_error(code, err, "is not before end")
    code, _, err = cli("features", "materialize", "2024-01-01", "2024-02-01", "--view", "nope")
    assert_one_line_error(code, err, "no feature view 'nope' to materialize")
    code, _, err = cli("features", "get", "churn", "customer_id")
    assert_one_line_error(code, err, "expected KEY=VALUE")
    code, _, err = cli("features", "get", "nope", "customer_id=1")
    assert_one_line_error(code, err, "no feature service 'nope'")


# -- datasets ----------------------------------------------------------------------------


def test_datasets_lists_saved_training_sets(cli, applied: Path, fs: FeatureStore) -> None:
    code, out, _ = cli("features", "datasets")
    assert code == 0 and "train" not in out

    entity_df = pd.DataFrame(
        {
            "customer_id": pd.array([1, 2, 3], dtype="int64"),
            "event_timestamp": [utc("2024-01-20")] * 3,
        }
    )
    job = fs.get_training_set(entity_df, "churn")
    job.save_dataset("train")
    with shipyard.start_run(client=fs.client) as run:
        job.save_dataset("train")
    fs.get_training_set(entity_df, ["profile:segment"]).save_dataset("other")

    code, out, _ = cli("features", "datasets")
    assert code == 0
    (first,) = lines_with(out, "train/1")
    (second,) = lines_with(out, "train/2")
    (other,) = lines_with(out, "other/1")
    assert first.split()[1] == "3"  # rows
    assert "customer_stats@1, profile@1" in first
    assert run.id[:8] in second and run.id[:8] not in first
    assert "profile@1" in other and "customer_stats" not in other

    code, out, _ = cli("features", "datasets", "train")
    assert code == 0 and "train/1" in out and "train/2" in out and "other" not in out


def test_catalog_commands_answer_in_json(cli, applied: Path, repo: Path) -> None:
    plan = json.loads(cli("features", "plan", "--repo", str(repo), "--json")[1])
    assert plan["applied"] is False and {c["action"] for c in plan["changes"]} == {"unchanged"}
    features = {
        f"{f['view']}:{f['feature']}": f for f in json.loads(cli("features", "ls", "--json")[1])
    }
    spend = features["customer_stats:spend"]
    assert (spend["dtype"], spend["owner"], spend["services"]) == ("float64", "ana", ["churn"])
    assert spend["stats"]["mean"] == 36.125
    code, out, _ = cli("features", "status", "--json")
    assert code == 2  # stale views exit 2 in JSON too
    status = {s["view"]: s for s in json.loads(out)}
    assert (
        status["customer_stats"]["stale"] is True and status["customer_stats"]["ttl"] == 30 * 86400
    )
    (shown,) = json.loads(cli("features", "show", "customer_stats", "--json")[1])
    assert shown["kind"] == "feature_view" and shown["version"] == 1
    (history,) = json.loads(cli("features", "show", "customer_stats", "--history", "--json")[1])
    assert [v["version"] for v in history["versions"]] == [1]
    assert json.loads(cli("features", "datasets", "--json")[1]) == []
