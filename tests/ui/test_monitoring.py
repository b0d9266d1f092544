"""The monitoring pages: what is served, the monitors' last status and the firing alerts;
a monitor's drift per feature with its histograms, charts over its window and history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from shipyard.monitoring import Monitor, apply_monitors
from shipyard.registry import ModelRegistry
from tests.ui.conftest import PageErrors, Server, charts_drawn, sign_in

WATCHED = "ui-monitor-test"  # a model of project quickstart, with a monitor never run


@pytest.fixture(scope="module")
def watched(ui_auth: Server) -> str:
    client = ui_auth.client
    run = client.create_run("quickstart", "ui-monitor-test", capture_code=False)
    X = pd.DataFrame({"x": np.arange(20.0)})
    model = LogisticRegression().fit(X, (X["x"] > 9).astype(int))
    ModelRegistry(client).register_model(WATCHED, model, run_id=run.id, metrics={})
    client.end_run(run.id)
    monitor = Monitor("ui-volume", model=f"{WATCHED}/1", check="volume", threshold=1)
    apply_monitors([monitor], client)
    return "ui-volume"


def _latest_status(ui: Server, name: str) -> str:
    store = ui.client.store.monitors
    return store.results(store.get_monitor(name, "churn").id, limit=1)[0].status


def test_the_overview_shows_monitors_alerts_and_traffic(
    ui: Server, browser_page: Any, screenshot: Callable[[Any, str], Any]
) -> None:
    assert _latest_status(ui, "churn-drift") == "fired"
    assert _latest_status(ui, "churn-auc") == "ok"
    browser_page.goto(ui.url + "/ui/monitoring")
    monitors = browser_page.locator("[data-testid=monitors]")
    drift = monitors.locator("tr[data-monitor=churn-drift] [data-testid=status]")
    assert drift.inner_text() == "FIRED"
    assert monitors.locator("tr[data-monitor=churn-auc] [data-testid=status]").inner_text() == "OK"
    firing = ui.client.store.monitors.list_alerts()
    assert firing
    alerts = browser_page.locator("[data-testid=firing-alerts]").inner_text()
    assert firing[0].message in alerts
    calls = ui.client.store.predictions.logged_versions()
    served = browser_page.locator("[data-testid=served] [data-model=churn]")
    assert f"{sum(n for (m, _), n in calls.items() if m == 'churn'):,} calls in the last 24h" in (
        served.inner_text()
    )
    variants = served.locator("[data-testid=variants] tbody tr")
    assert variants.count() >= 1
    assert "100.0%" in variants.first.inner_text()  # the quickstart serves one variant
    screenshot(browser_page, "monitoring")


def test_a_drift_monitor_draws_histograms_and_names_the_drifted_feature(
    ui: Server, browser_page: Any, screenshot: Callable[[Any, str], Any]
) -> None:
    store = ui.client.store.monitors
    latest = store.results(store.get_monitor("churn-drift", "churn").id, limit=1)[0]
    browser_page.goto(ui.url + "/ui/monitoring/churn-drift?model=churn")
    assert browser_page.locator("[data-testid=monitor-status]").inner_text() == "FIRED"
    assert charts_drawn(browser_page) > 0
    histograms = browser_page.locator("[data-testid=histograms] [data-chart]")
    assert histograms.count() == len(latest.details["features"])
    assert charts_drawn(browser_page, "[data-testid=histograms] [data-chart]") == (
        histograms.count()
    )
    age = browser_page.locator("[data-testid=drift] tr[data-feature=age]")
    assert "drifted" in age.inner_text()
    statistic = next(f for f in latest.details["features"] if f["feature"] == "age")["statistic"]
    assert f"{statistic:.4g}" in age.inner_text()
    assert browser_page.locator("[data-testid=drift] tr.drifted").count() == len(
        latest.details["drifted"]
    )
    assert browser_page.locator("[data-testid=time-charts] [data-chart]").count() >= 4
    alerts = browser_page.locator("[data-testid=alerts]").inner_text()
    quickstart_alert = next(
        a for a in store.list_alerts(include_resolved=True) if a.monitor == "churn-drift"
    )
    assert quickstart_alert.message in alerts
    browser_page.locator("[data-testid=histograms]").scroll_into_view_if_needed()
    screenshot(browser_page, "monitor")


def test_a_performance_monitor_shows_its_metric(ui: Server, browser_page: Any) -> None:
    store = ui.client.store.monitors
    latest = store.results(store.get_monitor("churn-auc", "churn").id, limit=1)[0]
    assert latest.value is not None
    browser_page.goto(ui.url + "/ui/monitoring/churn-auc?model=churn")
    assert browser_page.locator("[data-testid=monitor-status]").inner_text() == "OK"
    assert (
        f"roc_auc {latest.value:.4g}" in browser_page.locator("[data-testid=results]").inner_text()
    )
    assert charts_drawn(browser_page) >= 4
    assert "No alert was raised" in browser_page.locator("[data-testid=alerts]").inner_text()


def test_monitoring_lists_only_what_the_caller_may_read(
    ui_auth: Server, watched: str, browser_page: Any, page_errors: PageErrors
) -> None:
    """churn was trained by a flow task, so it belongs to the flow's project, where quinn
    (viewer on quickstart) has no role: he sees no churn monitor, and its page is refused."""
    project = ui_auth.client.get_run(
        ModelRegistry(ui_auth.client).get_version("churn", 1).record.run_id or ""
    ).project
    assert project != "quickstart"
    sign_in(browser_page, ui_auth, "admin")
    browser_page.goto(ui_auth.url + "/ui/monitoring")
    assert browser_page.locator("[data-testid=monitors] tr[data-monitor=churn-drift]").count() == 1
    browser_page.context.clear_cookies()
    sign_in(browser_page, ui_auth, "quinn")
    browser_page.goto(ui_auth.url + "/ui/monitoring")
    assert browser_page.locator("[data-testid=monitors] tr[data-monitor=churn-drift]").count() == 0
    assert browser_page.locator(f"[data-testid=monitors] tr[data-monitor={watched}]").count() == 1
    browser_page.goto(f"{ui_auth.url}/ui/monitoring/{watched}")
    assert browser_page.locator("[data-testid=monitor-status]").inner_text() == "never run"
    assert "Never evaluated" in browser_page.locator("[data-testid=results]").inner_text()
    page_errors.allowed.append("403")
    answer = browser_page.goto(ui_auth.url + "/ui/monitoring/churn-drift")
    assert answer is not None and answer.status == 403
