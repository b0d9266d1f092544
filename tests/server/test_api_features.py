"""/api/v1/features answers what the Python API answers, and bad input is a 4xx."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from shipyard.features import (
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    Field,
    FileSource,
    Float64,
    Int64,
)
from shipyard.tracking import Client
from tests.server._inprocess import TestClient, inprocess_api  # noqa: F401  (fixture: api)

BASE = pd.Timestamp("2024-01-01", tz="UTC")


@pytest.fixture(autouse=True)
def _server_reads_tmp(shipyard_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server reads feature data only under its data roots: here, the test's folder."""
    monkeypatch.setenv("SHIPYARD_SERVER_DATA_ROOTS", str(tmp_path))


@pytest.fixture
def fs(shipyard_client: Client, tmp_path: Path) -> Iterator[FeatureStore]:
    rows = 60
    pd.DataFrame(
        {
            "customer_id": [i % 6 for i in range(rows)],
            "event_timestamp": [BASE + timedelta(hours=i) for i in range(rows)],
            "spend": [float(i) for i in range(rows)],
            "orders": list(range(rows)),
        }
    ).to_parquet(tmp_path / "stats.parquet")
    store = FeatureStore("shop", client=shipyard_client)
    store.apply(_definitions(tmp_path / "stats.parquet"))
    store.materialize(None, BASE + timedelta(days=10))
    yield store
    store.close()


def _definitions(path: Path) -> list[Any]:
    customer = Entity("customer", join_keys=["customer_id"])
    source = FileSource(name="stats_source", path=str(path))
    view = FeatureView(
        "customer_stats",
        source=source,
        entities=[customer],
        schema=[Field("spend", Float64), Field("orders", Int64)],
        ttl=timedelta(days=30),
        owner="ana",
    )
    return [customer, source, view, FeatureService("churn", features=[view[["spend"]]])]


def _body(path: Path, **extra: Any) -> dict[str, Any]:
    """The same definitions as JSON."""
    return {
        "project": "shop",
        "entities": [{"name": "customer", "join_keys": ["customer_id"]}],
        "sources": [{"kind": "file", "name": "stats_source", "path": str(path)}],
        "feature_views": [
            {
                "name": "customer_stats",
                "source": "stats_source",
                "entities": ["customer"],
                "schema": [{"name": "spend"}, {"name": "orders", "dtype": "int64"}],
                "ttl_seconds": 30 * 86400,
                "owner": "ana",
            }
        ],
        "feature_services": [
            {"name": "churn", "features": [{"view": "customer_stats", "features": ["spend"]}]}
        ],
        **extra,
    }


def test_catalog_matches_the_registry(api: TestClient, fs: FeatureStore) -> None:
    defs = fs.definitions(refresh=True)
    views = api.get("/api/v1/features/feature-views", params={"project": "shop"}).json()
    assert [(v["name"], v["version"]) for v in views] == [
        ("customer_stats", defs.version("feature_view", "customer_stats"))
    ]
    one = api.get("/api/v1/features/feature-views/customer_stats", params={"project": "shop"})
    record = defs.records[("feature_view", "customer_stats")]
    assert one.json()["spec"] == {k: v for k, v in record.spec.items() if k != "blob_hashes"}
    names = {
        kind: [o["name"] for o in api.get(f"/api/v1/features/{kind}?project=shop").json()]
        for kind in ("entities", "sources", "feature-services")
    }
    assert names == {
        "entities": ["customer"],
        "sources": ["stats_source"],
        "feature-services": ["churn"],
    }
    history = api.get("/api/v1/features/entities/customer/versions?project=shop").json()
    assert [h["version"] for h in history] == [1]


def test_plan_and_apply_json_definitions(api: TestClient, fs: FeatureStore, tmp_path: Path) -> None:
    path = tmp_path / "stats.parquet"
    same = api.post("/api/v1/features/plan", json=_body(path)).json()
    assert same["pending"] == 0
    assert {c["action"] for c in same["changes"]} == {"unchanged"}

    body = _body(path)
    body["feature_views"][0]["description"] = "spend per customer"
    planned = api.post("/api/v1/features/plan", json=body).json()
    assert [(c["name"], c["action"]) for c in planned["changes"] if c["action"] != "unchanged"] == [
        ("customer_stats", "change")
    ]
    assert fs.definitions(refresh=True).version("feature_view", "customer_stats") == 1

    applied = api.post("/api/v1/features/apply", json=body)
    assert applied.status_code == 200, applied.text
    assert applied.json()["applied"] is True
    defs = fs.definitions(refresh=True)
    assert defs.version("feature_view", "customer_stats") == 2
    assert defs.views["customer_stats"].description == "spend per customer"
    old = api.get("/api/v1/features/feature-views/customer_stats?project=shop&version=1")
    assert old.json()["spec"]["description"] == ""

    # without prune, a body of one new service keeps everything else
    extra = {
        "project": "shop",
        "prune": False,
        "feature_services": [{"name": "orders_only", "features": [{"view": "customer_stats"}]}],
    }
    added = api.post("/api/v1/features/apply", json=extra).json()
    assert [(c["name"], c["action"]) for c in added["changes"] if c["action"] != "unchanged"] == [
        ("orders_only", "add")
    ]
    assert set(fs.definitions(refresh=True).services) == {"churn", "orders_only"}


def test_online_features_match_the_python_api(api: TestClient, fs: FeatureStore) -> None:
    rows = [{"customer_id": 1}, {"customer_id": 5}, {"customer_id": 99}]
    expected = fs.get_online_features(["customer_stats:spend", "customer_stats:orders"], rows)
    got = api.post(
        "/api/v1/features/online",
        json={
            "project": "shop",
            "features": ["customer_stats:spend", "customer_stats:orders"],
            "entity_rows": rows,
        },
    )
    assert got.status_code == 200, got.text
    assert got.json()["values"] == expected.values
    assert got.json()["statuses"]["spend"] == [str(s) for s in expected.statuses["spend"]]
    by_service = api.post(
        "/api/v1/features/online",
        json={"project": "shop", "features": "churn", "entity_rows": rows},
    ).json()
    assert by_service["values"] == fs.get_online_features("churn", rows).values


def test_training_set_streams_the_point_in_time_join(api: TestClient, fs: FeatureStore) -> None:
    stamps = [BASE + timedelta(hours=h) for h in (3, 20, 40)]
    entities = pd.DataFrame({"customer_id": [3, 2, 4], "event_timestamp": stamps})
    expected = fs.get_training_set(entities, "churn").to_df()
    got = api.post(
        "/api/v1/features/training-set",
        json={
            "project": "shop",
            "features": "churn",
            "entity_rows": [
                {"customer_id": c, "event_timestamp": t.isoformat()}
                for c, t in zip(entities["customer_id"], stamps, strict=True)
            ],
        },
    )
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(got.content)).to_pandas()
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)


def test_search_status_and_materialize(api: TestClient, fs: FeatureStore) -> None:
    found = api.get("/api/v1/features/search", params={"project": "shop", "owner": "ana"})
    expected = fs.catalog.search(None, None, "ana")
    assert [(f["view"], f["feature"], f["services"]) for f in found.json()] == [
        (i.view, i.feature, i.services) for i in expected
    ]
    spend = next(f for f in found.json() if f["feature"] == "spend")
    assert spend["stats"]["count"] == next(i for i in expected if i.feature == "spend").stats.count
    assert api.get("/api/v1/features/search?project=shop&text=nothing").json() == []
    status = api.get("/api/v1/features/status", params={"project": "shop"}).json()
    views = fs.catalog.status()
    assert [(s["view"], s["rows_materialized"], s["stale"]) for s in status] == [
        (v.view, v.rows_materialized, v.stale) for v in views
    ]
    loaded = api.post(
        "/api/v1/features/materialize",
        json={
            "project": "shop",
            "start": BASE.isoformat(),
            "end": (BASE + timedelta(days=20)).isoformat(),
        },
    )
    assert loaded.status_code == 200, loaded.text
    assert loaded.json() == {"rows": {"customer_stats": 6}}
    again = api.post("/api/v1/features/materialize", json={"project": "shop"}).json()
    assert set(again["rows"]) == {"customer_stats"}


def test_datasets_list_get_and_download(api: TestClient, fs: FeatureStore) -> None:
    entities = pd.DataFrame({"customer_id": [1, 2], "event_timestamp": [BASE, BASE]})
    saved = fs.get_training_set(entities, "churn").save_dataset("train")
    listed = api.get("/api/v1/features/datasets?project=shop").json()
    assert [(d["name"], d["version"], d["rows"]) for d in listed] == [("train", 1, 2)]
    one = api.get("/api/v1/features/datasets/train?project=shop").json()
    assert one["uri"] == saved.uri
    assert one["lineage"] == saved.lineage
    data = api.get("/api/v1/features/datasets/train/download?project=shop&version=1")
    assert data.status_code == 200
    got = pq.read_table(io.BytesIO(data.content)).to_pandas()
    pd.testing.assert_frame_equal(got, saved.to_df())


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", "/api/v1/features/widgets", None, 422),
        ("get", "/api/v1/features/feature-views/nope?project=shop", None, 404),
        ("get", "/api/v1/features/feature-views/customer_stats?project=shop&version=9", None, 404),
        ("get", "/api/v1/features/entities/nope/versions?project=shop", None, 404),
        ("get", "/api/v1/features/datasets/nope?project=shop", None, 404),
        ("get", "/api/v1/features/datasets/nope?project=shop&version=99999999999", None, 422),
        ("get", "/api/v1/features/datasets/nope/download?project=shop", None, 404),
        ("get", "/api/v1/features/feature-views?project=Bad%20Name!", None, 400),
        ("post", "/api/v1/features/materialize", {"project": "shop", "views": ["nope"]}, 400),
        (
            "post",
            "/api/v1/features/materialize",
            {"project": "shop", "start": "2024-01-01T00:00:00"},
            400,
        ),
        ("post", "/api/v1/features/materialize", {"project": "shop", "start": "soon"}, 422),
        (
            "post",
            "/api/v1/features/online",
            {"project": "shop", "features": ["customer_stats:nope"], "entity_rows": [{}]},
            400,
        ),
        (
            "post",
            "/api/v1/features/online",
            {"project": "shop", "features": "churn", "entity_rows": []},
            422,
        ),
        (
            "post",
            "/api/v1/features/online",
            {"project": "shop", "features": "churn", "entity_rows": [{"customer_id": "x"}]},
            400,
        ),
        (
            "post",
            "/api/v1/features/training-set",
            {
                "project": "shop",
                "features": "churn",
                "entity_rows": [{"customer_id": 1, "event_timestamp": "2024-01-01T00:00:00"}],
            },
            400,
        ),
        (
            "post",
            "/api/v1/features/training-set",
            {
                "project": "shop",
                "features": "churn",
                "entity_rows": [{"customer_id": 1, "event_timestamp": "yesterday"}],
            },
            400,
        ),
        (
            "post",
            "/api/v1/features/training-set",
            {"project": "shop", "features": "churn", "entity_rows": [{"customer_id": 1}]},
            400,
        ),
        (
            "post",
            "/api/v1/features/plan",
            {"project": "shop", "feature_views": [{"name": "v", "source": "nope", "schema": []}]},
            400,
        ),
        ("post", "/api/v1/features/plan", {"project": "shop", "unknown": 1}, 422),
        (
            "post",
            "/api/v1/features/plan",
            {
                "project": "shop",
                "prune": False,
                "feature_views": [
                    {"name": "v", "source": "stats_source", "schema": [], "ttl_seconds": 1e300}
                ],
            },
            422,
        ),
        (
            "post",
            "/api/v1/features/training-set",
            {
                "project": "shop",
                "features": "churn",
                "entity_rows": [{"customer_id": 1, "event_timestamp": 5}],
            },
            400,
        ),
        (
            "post",
            "/api/v1/features/training-set",
            {
                "project": "shop",
                "features": "churn",
                "entity_rows": [
                    {"customer_id": 1, "event_timestamp": "2024-01-01T00:00:00Z"},
                    {"customer_id": "x", "event_timestamp": "2024-01-01T00:00:00Z"},
                ],
            },
            400,
        ),
        (
            "post",
            "/api/v1/features/apply",
            {"project": "shop", "sources": [{"kind": "file", "name": "s"}]},
            400,
        ),
    ],
)
def test_bad_input_is_a_4xx(
    api: TestClient, fs: FeatureStore, method: str, path: str, body: Any, status: int
) -> None:
    got = api.request(method, path, json=body)
    assert got.status_code == status, got.text
    assert set(got.json()["error"]) >= {"code", "message"}


def test_breaking_changes_can_be_refused(api: TestClient, fs: FeatureStore, tmp_path: Path) -> None:
    body = _body(tmp_path / "stats.parquet", allow_breaking=False)
    body["feature_views"][0]["schema"] = [{"name": "spend"}]  # orders removed: breaking
    got = api.post("/api/v1/features/apply", json=body)
    assert got.status_code == 400
    assert got.json()["error"]["code"] == "INVALID_FEATURE"
    assert fs.definitions(refresh=True).version("feature_view", "customer_stats") == 1


def test_openapi_declares_the_resources(api: TestClient) -> None:
    """Every resource route is in /openapi.json with its declared bodies."""
    spec = api.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/v1/features/{kind}",
        "/api/v1/features/search",
        "/api/v1/features/materialize",
        "/api/v1/features/online",
        "/api/v1/features/training-set",
        "/api/v1/features/datasets/{name}/download",
        "/api/v1/models/{name}/versions/{version}/promote",
        "/api/v1/models/{name}/predictions",
        "/api/v1/predictions/labels",
        "/api/v1/monitors/run",
        "/api/v1/alerts",
        "/api/v1/flows/{flow}/runs/{number}/tasks/{task_id}/logs",
    ):
        assert path in paths, path
    schemas = spec["components"]["schemas"]
    for name in ("DefinitionsIn", "OnlineIn", "PlanOut", "VersionOut", "MonitorIn", "TaskOut"):
        assert name in schemas, name
    online = paths["/api/v1/features/online"]["post"]
    assert online["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OnlineOut"
    }


def test_status_of_a_project_with_code_the_server_does_not_run(
    api: TestClient, fs: FeatureStore, tmp_path: Path
) -> None:
    """An on-demand view applied from Python holds a pickled function; a server that runs
    no client code (the default) still answers the views' freshness and the feature
    search, from the records."""
    from shipyard.features import RequestSource, on_demand_feature_view

    objects = _definitions(tmp_path / "stats.parquet")
    view = objects[2]
    request = RequestSource("order", schema=[Field("amount", Float64)])

    @on_demand_feature_view(sources=[view[["spend"]], request], schema=[Field("ratio", Float64)])
    def ratio(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"ratio": df["amount"] / (df["spend"] + 1.0)})

    fs.apply([*objects, ratio])
    stored = api.get("/api/v1/features/on-demand-feature-views/ratio", params={"project": "shop"})
    assert stored.status_code == 200 and stored.json()["version"] == 1, stored.text
    status = api.get("/api/v1/features/status", params={"project": "shop"})
    assert status.status_code == 200, status.text
    expected = fs.catalog.status()
    assert [s.view for s in expected] == ["customer_stats"]
    assert [
        (s["view"], s["version"], s["rows_materialized"], s["stale"]) for s in status.json()
    ] == [(s.view, s.version, s.rows_materialized, s.stale) for s in expected]
    assert expected[0].rows_materialized == 6 and expected[0].state in ("fresh", "stale")
    found = api.get("/api/v1/features/search", params={"project": "shop"})
    assert found.status_code == 200, found.text
    assert [(f["view"], f["feature"], f["dtype"], f["services"]) for f in found.json()] == [
        ("customer_stats", "spend", "float64", ["churn"]),
        ("customer_stats", "orders", "int64", []),
        ("ratio", "ratio", "float64", []),
    ]
