"""The quickstart's feature project: a seeded synthetic shop (customers and 90 days of
transactions up to now), feature views over it, and churn labels at observation times.

A hidden "engagement" per customer drives both how often they buy and whether they churn,
so the features carry real signal for the training flow.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PROJECT = "quickstart"
SERVICE = "churn_model"
CUSTOMERS = 2_000
DAYS = 90

SPEND_SQL = """
SELECT customer_id, event_timestamp,
       sum(amount) OVER w AS spend_30d,
       count(*) OVER w AS orders_30d,
       avg(amount) OVER w AS avg_order_30d
FROM source
WINDOW w AS (PARTITION BY customer_id ORDER BY event_timestamp
             RANGE BETWEEN INTERVAL 30 DAY PRECEDING AND CURRENT ROW)
"""


def make_data(folder: Path, now: datetime, seed: int = 7) -> Any:
    """Write customers.parquet and transactions.parquet; return the labelled entity rows."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    start = pd.Timestamp(now).floor("D") - pd.Timedelta(days=DAYS)
    ids = np.arange(1, CUSTOMERS + 1)
    engagement = rng.beta(2, 3, CUSTOMERS)
    plan_tier = rng.integers(0, 3, CUSTOMERS)
    pd.DataFrame(
        {
            "customer_id": ids,
            "event_timestamp": start - pd.to_timedelta(rng.integers(1, 700, CUSTOMERS), unit="D"),
            "age": rng.integers(18, 80, CUSTOMERS),
            "plan_tier": plan_tier,
        }
    ).to_parquet(folder / "customers.parquet")
    orders = rng.poisson(2 + 40 * engagement)
    owner = np.repeat(ids, orders)
    seconds = rng.integers(0, DAYS * 86400, len(owner))
    amount = rng.gamma(2.0, 15 + 10 * plan_tier[owner - 1], len(owner)).round(2)
    pd.DataFrame(
        {
            "customer_id": owner,
            "event_timestamp": start + pd.to_timedelta(seconds, unit="s"),
            "amount": amount,
        }
    ).to_parquet(folder / "transactions.parquet")
    observed = start + pd.to_timedelta(rng.integers(35, DAYS - 1, CUSTOMERS * 2), unit="D")
    who = rng.integers(1, CUSTOMERS + 1, CUSTOMERS * 2)
    risk = 1 / (1 + np.exp(6 * engagement[who - 1] - 2.0 + 0.4 * plan_tier[who - 1]))
    return pd.DataFrame(
        {"customer_id": who, "event_timestamp": observed, "churned": rng.random(len(who)) < risk}
    ).astype({"churned": "int64"})


def definitions(folder: Path) -> list[Any]:
    from shipyard.features import (
        Entity,
        FeatureService,
        FeatureView,
        Field,
        FileSource,
        Float64,
        Int64,
        on_demand_feature_view,
    )

    customer = Entity("customer", join_keys=["customer_id"], description="a shop customer")
    profile = FeatureView(
        "customer_profile",
        source=FileSource(name="customers", path=str(folder / "customers.parquet")),
        entities=[customer],
        schema=[Field("age", Int64), Field("plan_tier", Int64)],
        owner="quickstart",
        description="who the customer is",
    )
    spend = FeatureView(
        "customer_spend",
        source=FileSource(name="transactions", path=str(folder / "transactions.parquet")),
        entities=[customer],
        schema=[
            Field("spend_30d", Float64),
            Field("orders_30d", Int64),
            Field("avg_order_30d", Float64),
        ],
        ttl=timedelta(days=30),
        transformation=SPEND_SQL,
        owner="quickstart",
        description="rolling 30-day spend, as of each transaction",
        tags={"team": "growth"},
    )

    @on_demand_feature_view(
        sources=[spend[["spend_30d", "orders_30d"]]],
        schema=[Field("spend_per_order", Float64)],
        owner="quickstart",
        mode="python",
        singleton=True,  # one row's dict in and out: no pandas on a request
    )
    def spend_per_order(row: dict[str, Any]) -> dict[str, Any]:
        """Spend per order over 30 days (0 without orders)."""
        orders = row["orders_30d"] or 0
        spend = row["spend_30d"] or 0.0
        return {"spend_per_order": spend / orders if orders > 0 else 0.0}

    service = FeatureService(
        SERVICE, features=[profile, spend, spend_per_order], owner="quickstart"
    )
    return [customer, profile, spend, spend_per_order, service]


def feature_columns() -> list[str]:
    return ["age", "plan_tier", "spend_30d", "orders_30d", "avg_order_30d", "spend_per_order"]


def now() -> datetime:
    return datetime.now(UTC)
