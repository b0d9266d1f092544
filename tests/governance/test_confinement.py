"""A server reads no file, runs no SQL, unpickles no code and calls no webhook that a
client names, unless its admin allowed it."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from shipyard.config import load_settings
from shipyard.features import FeatureStore
from shipyard.server.confinement import inside_roots, webhook_allowed
from tests.server._inprocess import TestClient, inprocess_api  # noqa: F401  (fixture: api)


def _body(source: dict) -> dict:
    return {
        "project": "shop",
        "entities": [{"name": "customer", "join_keys": ["customer_id"]}],
        "sources": [{"name": "stats_source", **source}],
        "feature_views": [
            {
                "name": "customer_stats",
                "source": "stats_source",
                "entities": ["customer"],
                "schema": [{"name": "spend"}],
                "ttl_seconds": 86400,
            }
        ],
    }


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    pd.DataFrame(
        {
            "customer_id": [1, 2],
            "event_timestamp": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True),
            "spend": [1.0, 2.0],
        }
    ).to_parquet(root / "stats.parquet")
    return root


@pytest.fixture
def roots(shipyard_home, data: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHIPYARD_SERVER_DATA_ROOTS", str(data))
    return data


def test_a_file_source_is_read_only_inside_the_data_roots(roots, api, tmp_path):
    inside = api.post(
        "/api/v1/features/apply", json=_body({"kind": "file", "path": str(roots / "stats.parquet")})
    )
    assert inside.status_code == 200, inside.text
    (tmp_path / "secret.parquet").write_bytes((roots / "stats.parquet").read_bytes())
    os.symlink(tmp_path / "secret.parquet", roots / "link.parquet")
    for path in [
        str(tmp_path / "secret.parquet"),
        str(roots / ".." / "secret.parquet"),
        str(roots / "link.parquet"),  # a link inside that leads outside
        "/etc/passwd",
        "http://169.254.169.254/latest/meta-data",
        "s3://bucket/stats.parquet",
    ]:
        refused = api.post("/api/v1/features/plan", json=_body({"kind": "file", "path": path}))
        assert refused.status_code == 400, path
        assert "SHIPYARD_SERVER_DATA_ROOTS" in refused.json()["error"]["message"]


def test_no_data_roots_means_no_file_is_read(shipyard_home, data, api):
    refused = api.post(
        "/api/v1/features/apply", json=_body({"kind": "file", "path": str(data / "stats.parquet")})
    )
    assert refused.status_code == 400
    assert "none are set" in refused.json()["error"]["message"]


def test_materialize_refuses_sources_a_client_applied_elsewhere(
    shipyard_home, shipyard_client, data, api
):
    """Definitions stored by a client (through the store, not the JSON route) name a path;
    the server does not read it when asked to materialize."""
    from shipyard.features import Entity, FeatureView, Field, FileSource, Float64

    fs = FeatureStore("shop", client=shipyard_client)
    customer = Entity("customer", join_keys=["customer_id"])
    source = FileSource(name="stats_source", path=str(data / "stats.parquet"))
    fs.apply(
        [
            customer,
            source,
            FeatureView(
                "customer_stats",
                source=source,
                entities=[customer],
                schema=[Field("spend", Float64)],
            ),
        ]
    )
    fs.close()
    refused = api.post(
        "/api/v1/features/materialize",
        json={"project": "shop", "start": "2024-01-01T00:00Z", "end": "2024-02-01T00:00Z"},
    )
    assert (
        refused.status_code == 400 and "outside the folders" in refused.json()["error"]["message"]
    )


def test_sql_sources_run_only_when_the_admin_allows(roots, api, monkeypatch, shipyard_client):
    query = {"kind": "sql", "query": f"SELECT * FROM read_parquet('{roots / 'stats.parquet'}')"}
    refused = api.post("/api/v1/features/plan", json=_body(query))
    assert refused.status_code == 400 and "SHIPYARD_SERVER_SQL_SOURCES" in refused.text


def test_sql_sources_with_the_admins_consent(shipyard_home, data, monkeypatch):
    from shipyard.server import create_app
    from shipyard.tracking import Client

    monkeypatch.setenv("SHIPYARD_SERVER_SQL_SOURCES", "true")
    query = {"kind": "sql", "query": f"SELECT * FROM read_parquet('{data / 'stats.parquet'}')"}
    with TestClient(create_app(Client())) as http:
        assert http.post("/api/v1/features/plan", json=_body(query)).status_code == 200


def test_pickled_code_a_client_stored_is_not_unpickled_by_the_server(shipyard_client):
    fs = FeatureStore("shop", client=shipyard_client, trust_code=False)
    ref = fs.store_blob(lambda df: df)  # what a transformation is stored as
    assert ref["serializer"] == "pickle"
    with pytest.raises(Exception, match="runs no client code"):
        fs.context.load_blob(ref)
    trusting = FeatureStore("shop", client=shipyard_client)
    assert trusting.context.load_blob(ref)(5) == 5
    fs.close()
    trusting.close()


def test_paths_and_urls_outside_the_roots():
    assert inside_roots("s3://bucket/features/a.parquet", ["s3://bucket/features"])
    assert not inside_roots("s3://bucket/features/../b", ["s3://bucket/features"])
    assert not inside_roots("s3://bucket/featuresX/a", ["s3://bucket/features"])
    assert not inside_roots("/data/a.parquet", [])


def test_monitors_alert_only_the_servers_own_webhooks(shipyard_home, monkeypatch, api):
    body = {
        "monitors": [
            {
                "name": "slow",
                "model": "churn",
                "check": "latency",
                "threshold": 5,
                "webhooks": ["http://169.254.169.254/hook"],
            }
        ]
    }
    refused = api.post("/api/v1/monitors/apply", json=body)
    assert refused.status_code == 400 and "refused: http://169.254.169.254/hook" in refused.text
    monkeypatch.setenv("SHIPYARD_ALERT_WEBHOOKS", "http://hooks.internal/a")
    monkeypatch.setenv("SHIPYARD_SERVER_WEBHOOKS", "https://hooks.slack.com/")
    settings = load_settings()
    assert webhook_allowed("http://hooks.internal/a", settings)
    assert webhook_allowed("slack:https://hooks.slack.com/services/T/B/X", settings)
    assert not webhook_allowed("http://hooks.internal/b", settings)
    assert not webhook_allowed("http://127.0.0.1:6379/", settings)
