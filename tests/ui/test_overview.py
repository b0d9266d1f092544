"""The overview answers: which models are live, who owns them, are they healthy."""

from __future__ import annotations

from typing import Any

from tests.ui.conftest import Server, make_user, sign_in


def test_the_overview_shows_the_live_model_its_health_and_alerts(
    ui: Server, browser_page: Any, screenshot: Any
) -> None:
    store = ui.client.store
    churn = store.models.get_model("churn")
    browser_page.goto(ui.url + "/ui/")
    row = browser_page.locator("[data-testid=live-models] tbody tr", has_text="production")
    cells = row.locator("td").all_inner_texts()
    assert cells[0] == "churn" and cells[2] == f"v{churn.aliases['production']}"
    assert cells[3] == churn.owner
    calls = sum(store.predictions.logged_versions().get(("churn", v), 0) for v in (1,))
    assert cells[5] == f"{calls:,}"  # every quickstart call was made within the day
    assert "churn-drift: fired" in cells[9] and "churn-auc: ok" in cells[9]
    assert "drifted: age" in cells[10]
    assert browser_page.locator("[data-testid=tile-alerts]").inner_text() == "1"
    recent = browser_page.locator("[data-testid=recent-runs] tbody tr").count()
    assert recent == min(15, len(store.search_runs(None, "", [], 100, 0, False)))
    screenshot(browser_page, "overview")


def test_the_overview_shows_a_user_only_what_their_roles_let_them_read(
    ui_auth: Server, browser_page: Any
) -> None:
    ui_auth.client.create_project("olgas-project")
    ui_auth.tokens["olga"] = make_user(ui_auth.client, "olga", {"olgas-project": "viewer"})
    sign_in(browser_page, ui_auth, "olga")
    assert (
        "No model has an alias yet"
        in browser_page.locator("[data-testid=live-models]").inner_text()
    )
    assert (
        browser_page.locator("[data-testid=recent-runs]").inner_text().count("QuickstartFlow") == 0
    )
    sign_in(browser_page, ui_auth, "victor")
    assert "churn" in browser_page.locator("[data-testid=live-models]").inner_text()
