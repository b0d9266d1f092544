"""The features pages: the catalog with its search, and a feature view's schema,
statistics, freshness, versions and what uses it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import PageErrors, Server, charts_drawn, sign_in

pytestmark = pytest.mark.ui

PROJECT = "quickstart"


def _views(page: Any) -> list[str]:
    rows = page.locator("[data-testid=feature-views] tbody tr[data-view]")
    return sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.view)"))


def test_catalog_lists_and_searches(
    ui: Server, browser_page: Any, screenshot: Callable[[Any, str], Path]
) -> None:
    meta = ui.client.store.features
    applied = {o.name: o for o in meta.latest_feature_objects(PROJECT, "feature_view")}
    assert {"customer_profile", "customer_spend"} <= set(applied)
    page = browser_page
    page.goto(f"{ui.url}/ui/features")
    shown = _views(page)
    assert {"customer_profile", "customer_spend"} <= set(shown)
    row = page.locator("[data-testid=feature-views] tr[data-view=customer_spend]")
    spend = applied["customer_spend"].spec
    assert str(len(spec_features(spend))) in row.inner_text()
    assert row.locator("[data-testid=freshness]").inner_text() in ("fresh", "stale")
    screenshot(page, "features")

    # a word of customer_spend's description only: the search narrows to it
    word = next(w for w in spend["description"].split() if len(w) > 4)
    assert word not in applied["customer_profile"].spec["description"]
    page.fill("[data-testid=feature-search]", word)
    page.press("[data-testid=feature-search]", "Enter")
    page.wait_for_url("**/ui/features?q=*")
    assert _views(page) == ["customer_spend"]

    page.goto(f"{ui.url}/ui/features?q=age")  # a feature's name finds its view
    assert "customer_profile" in _views(page)
    assert "customer_spend" not in _views(page)
    hits = page.locator("tr[data-view=customer_profile] [data-testid=feature-hits]")
    assert "age" in hits.inner_text()


def spec_features(spec: dict[str, Any]) -> list[str]:
    return [f["name"] for f in spec["schema"]]


def test_feature_view_page(
    ui: Server, browser_page: Any, screenshot: Callable[[Any, str], Path]
) -> None:
    meta = ui.client.store.features
    spec = meta.get_feature_object(PROJECT, "feature_view", "customer_spend").spec
    stats = {s.feature: s for s in meta.feature_stats(PROJECT, "customer_spend")}
    page = browser_page
    page.goto(f"{ui.url}/ui/features")
    page.locator("[data-testid=feature-views] a", has_text="customer_spend").click()
    page.wait_for_url(f"**/ui/features/{PROJECT}/customer_spend")
    schema = page.locator("[data-testid=schema]").inner_text()
    for feature in spec["schema"]:
        assert feature["name"] in schema
        assert feature["dtype"] in schema
    table = page.locator("[data-testid=stats]").inner_text()
    for name, stat in stats.items():
        assert name in table
        assert f"{stat.count:,}" in table
    freshness = page.locator("[data-testid=freshness]").inner_text()
    assert "30 days" in page.locator("[data-testid=ttl]").inner_text()  # its TTL
    assert any(state in freshness for state in ("fresh", "stale"))
    used = page.locator("[data-testid=used-by]")
    assert used.locator("li[data-kind=model_version]", has_text="churn").count() >= 1
    assert used.locator("li[data-kind=monitor]", has_text="churn-drift").count() == 1
    assert used.locator("li[data-kind=dataset]").count() >= 1
    assert "v1" in page.locator("[data-testid=versions]").inner_text()
    screenshot(page, "feature-view")


def test_version_history_and_staleness(ui: Server, browser_page: Any) -> None:
    """Two versions of a view of this test's own project, loaded twice, the last time
    longer ago than its TTL: the page says what v2 changed, that it is stale, and charts
    the loads."""
    from shipyard.errors import NotFound
    from shipyard.store.base import Materialization, NewFeatureObject

    meta = ui.client.store.features
    project, name = "ui_feature_diffs", "fd_orders"
    v1 = {
        "name": name, "source": "orders", "entities": ["shopper"], "online": True,
        "schema": [{"name": "order_count", "dtype": "int64", "description": "", "tags": {}}],
        "ttl_seconds": 3600.0, "transformation": None, "description": "orders per shopper",
        "owner": "ui-tests", "tags": {},
    }  # fmt: skip
    v2 = {
        **v1,
        "ttl_seconds": 7200.0,
        "schema": [
            {"name": "order_count", "dtype": "float64", "description": "", "tags": {}},
            {"name": "order_value", "dtype": "float64", "description": "", "tags": {}},
        ],
    }
    try:
        meta.feature_object_history(project, "feature_view", name)
    except NotFound:  # first run in this store: apply v1 then v2
        now = int(ui.client.clock.now().timestamp() * 1000)
        meta.apply_feature_objects(
            project, [NewFeatureObject("feature_view", name, v1, "f1", 0)], "ui-tests", now
        )
        meta.apply_feature_objects(
            project, [NewFeatureObject("feature_view", name, v2, "f2", 1)], "ui-tests", now + 1
        )
        hour = 3_600_000
        for ago, rows in ((5 * hour, 40), (3 * hour, 55)):  # newest data 3 h old, TTL 2 h
            end = now - ago
            meta.record_materialization(
                Materialization(project, name, 2, "materialize", None, end, rows, end + 5, 12)
            )
    page = browser_page
    page.goto(f"{ui.url}/ui/features/{project}/{name}")
    versions = page.locator("[data-testid=versions]").inner_text()
    assert "v2" in versions and "v1" in versions
    assert "+ feature order_value" in versions
    assert "order_count: dtype 'int64' → 'float64'" in versions
    assert "ttl_seconds: 3600.0 → 7200.0" in versions
    assert page.locator("[data-testid=freshness-badge]").inner_text() == "stale"
    assert "2 h" in page.locator("[data-testid=ttl]").inner_text()
    assert charts_drawn(page) == 1  # rows loaded by each materialization


def test_features_follow_the_readers_roles(
    ui_auth: Server, browser_page: Any, page_errors: PageErrors
) -> None:
    """victor reads quickstart only: its views are listed, another project's are not."""
    page = browser_page
    sign_in(page, ui_auth, "victor")
    page.goto(f"{ui_auth.url}/ui/features")
    assert {"customer_profile", "customer_spend"} <= set(_views(page))
    projects = page.locator("[data-testid=feature-views] tbody tr[data-view] td:nth-child(2)")
    assert set(projects.all_inner_texts()) == {PROJECT}
    page_errors.allowed.append("403")
    answer = page.goto(f"{ui_auth.url}/ui/features/ui_feature_diffs/fd_orders")
    assert answer.status == 403
    answer = page.goto(f"{ui_auth.url}/ui/features?project=ui_feature_diffs")
    assert answer.status == 403
