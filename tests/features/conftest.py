"""A small feature project on disk: customers with spend stats and pushed clicks."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard.features import FeatureStore
from shipyard.tracking import Client

BASE = pd.Timestamp("2024-01-01", tz="UTC")

DEFINITIONS = textwrap.dedent(
    """
    from datetime import timedelta

    import pandas as pd

    from shipyard.features import (
        Entity, FeatureService, FeatureView, Field, FileSource, Float64, Int64,
        PushSource, RequestSource, String, on_demand_feature_view,
    )

    customer = Entity("customer", join_keys=["customer_id"], description="a customer")
    stats_source = FileSource(
        name="stats_source", path="data/stats.parquet", created_timestamp_column="created"
    )
    customer_stats = FeatureView(
        "customer_stats",
        source=stats_source,
        entities=[customer],
        schema=[Field("spend", Float64), Field("orders", Int64), Field("segment", String)],
        ttl=timedelta(days=30),
        owner="ana",
        tags={"team": "growth"},
    )
    clicks_push = PushSource(
        name="clicks_push", batch_source=FileSource(name="clicks_batch", path="data/clicks.parquet")
    )
    clicks = FeatureView(
        "clicks", source=clicks_push, entities=[customer],
        schema=[Field("clicks", Int64)], ttl=timedelta(days=2),
    )
    request = RequestSource("request", schema=[Field("amount", Float64)])


    @on_demand_feature_view(
        sources=[customer_stats[["spend"]], request], schema=[Field("amount_ratio", Float64)]
    )
    def amount_ratio(df):
        return pd.DataFrame({"amount_ratio": df["amount"] / (df["spend"] + 1.0)})


    churn = FeatureService(
        "churn", features=[customer_stats[["spend", "orders"]], clicks, amount_ratio],
        owner="ana",
    )
    """
)


def write_data(folder: Path, customers: int = 20, rows: int = 400, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    ts = BASE + pd.to_timedelta(rng.integers(0, 60 * 86400, rows), unit="s")
    pd.DataFrame(
        {
            "customer_id": rng.integers(0, customers, rows),
            "event_timestamp": ts,
            "created": ts,
            "spend": rng.random(rows) * 100,
            "orders": rng.integers(0, 10, rows),
            "segment": rng.choice(["a", "b", "c"], rows),
        }
    ).to_parquet(data / "stats.parquet")
    pd.DataFrame(
        {
            "customer_id": rng.integers(0, customers, rows),
            "event_timestamp": ts,
            "clicks": rng.integers(0, 50, rows),
        }
    ).to_parquet(data / "clicks.parquet")


@pytest.fixture
def feature_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    write_data(repo)
    (repo / "definitions.py").write_text(DEFINITIONS)
    return repo


@pytest.fixture
def fs(shipyard_client: Client) -> Iterator[FeatureStore]:
    store = FeatureStore("shop", client=shipyard_client)
    yield store
    store.close()


REDIS_URI = os.environ.get("SHIPYARD_TEST_REDIS_URI", "redis://127.0.0.1:6379/15")
SERVICES_REQUIRED = os.environ.get("SHIPYARD_TEST_SERVICES") == "1"


def _redis_problem() -> str | None:
    try:
        import redis
    except ImportError:
        return "redis-py is not installed (pip install 'shipyard[redis]')"
    try:
        client = redis.Redis.from_url(REDIS_URI, socket_connect_timeout=3)
        client.ping()
        client.close()
        return None
    except Exception as exc:  # any failure means "not reachable" here
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def redis_uri() -> str:
    """Redis for tests; skips when unreachable unless SHIPYARD_TEST_SERVICES=1 (CI)."""
    problem = _redis_problem()
    if problem:
        if SERVICES_REQUIRED:
            pytest.fail(f"SHIPYARD_TEST_SERVICES=1 but Redis is unreachable: {problem}")
        pytest.skip(f"Redis not reachable at {REDIS_URI}: {problem}")
    return REDIS_URI


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.services)])
def online_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """Each online backend: the default SQLite file, and a real Redis."""
    if request.param == "sqlite":
        yield None
        return
    yield request.getfixturevalue("redis_uri")
