"""The models pages: the registry, a model's page (versions, aliases, card, lineage), and
promotion and roll-back from the browser with the CLI's gates, roles and the audit log."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from shipyard.registry import ModelRegistry
from tests.ui.conftest import PageErrors, Server, sign_in

PROMOTED = "ui-promote-test"  # a model of these tests: churn@production stays where it is


@pytest.fixture(scope="module")
def promo(ui_auth: Server) -> ModelRegistry:
    """ui-promote-test v1 (auc 0.7, production) and v2 (auc 0.8), trained in a run of
    project quickstart, so alice (editor) may move it and victor (viewer) may not."""
    client = ui_auth.client
    registry = ModelRegistry(client)
    run = client.create_run("quickstart", "ui-promote-test", capture_code=False)
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"age": rng.integers(18, 80, 60), "spend": rng.random(60) * 100})
    y = (X["spend"] > 50).astype(int).to_numpy()
    for auc in (0.7, 0.8):
        model = LogisticRegression().fit(X, y)
        registry.register_model(
            PROMOTED, model, run_id=run.id, input_example=X.head(2), metrics={"auc": auc}
        )
    client.end_run(run.id)
    registry.set_alias(PROMOTED, "production", 1)
    return registry


def production(registry: ModelRegistry, name: str = PROMOTED) -> int | None:
    return registry.get_model(name).aliases.get("production")


def test_the_registry_lists_churn_with_its_production_version(
    ui: Server, browser_page: Any, screenshot: Callable[[Any, str], Any]
) -> None:
    churn = ModelRegistry(ui.client).get_model("churn")
    browser_page.goto(ui.url + "/ui/models")
    row = browser_page.locator("[data-testid=models] tr[data-model=churn]")
    assert row.locator("[data-alias=production]").inner_text() == (
        f"production → v{churn.aliases['production']}"
    )
    assert f"v{churn.latest_version}" in row.inner_text()
    assert churn.owner in row.inner_text()
    screenshot(browser_page, "models")


def test_the_model_page_shows_versions_aliases_card_and_lineage(
    ui: Server, browser_page: Any, screenshot: Callable[[Any, str], Any]
) -> None:
    registry = ModelRegistry(ui.client)
    churn = registry.get_model("churn")
    versions = registry.versions("churn")
    live = registry.get_version("churn", churn.aliases["production"]).record
    browser_page.goto(ui.url + "/ui/models/churn")
    rows = browser_page.locator("[data-testid=versions] tbody tr")
    assert rows.count() == len(versions)
    first = browser_page.locator(f"[data-testid=versions] tr[data-version='{live.version}']")
    assert live.run_id is not None
    assert first.locator(f"a[href='/ui/runs/{live.run_id}']").count() == 1
    assert "production" in first.inner_text()
    aliases = browser_page.locator("[data-testid=aliases] tr[data-alias=production]")
    assert f"v{live.version}" in aliases.inner_text()
    history = browser_page.locator("[data-testid=alias-history]").inner_text()
    assert "metrics.roc_auc >= 0.6" in history  # the quickstart's gates, recorded with the move
    card = browser_page.locator("[data-testid=model-card]").inner_text()
    for section in ("Overview", "Training run", "Training data", "Signature", "Metrics"):
        assert section in card
    assert f"{live.metrics['roc_auc']:.6g}" in card
    lineage = browser_page.locator("[data-testid=lineage]")
    assert lineage.locator(f"a[href='/ui/runs/{live.run_id}']").count() >= 1
    assert lineage.locator("a[href^='/ui/features/quickstart/']").count() >= 1
    assert "dataset quickstart/churn_training" in lineage.inner_text()
    logged = sum(
        n for (m, _), n in ui.client.store.predictions.logged_versions().items() if m == "churn"
    )
    recent = browser_page.locator("[data-testid=recent-calls]").inner_text()
    assert recent.startswith(f"{logged:,} calls")  # the quickstart's, made minutes ago
    monitors = browser_page.locator("[data-testid=model-monitors]").inner_text()
    assert "churn-drift" in monitors and "FIRED" in monitors
    screenshot(browser_page, "model")


def _accept_dialogs(page: Any) -> None:
    page.on("dialog", lambda dialog: dialog.accept())


def _promote(page: Any, version: int, gates: str = "", alias: str = "production") -> None:
    row = page.locator(f"[data-testid=versions] tr[data-version='{version}']")
    row.locator("summary").click()
    row.locator("select[name=alias]").select_option(alias)
    row.locator("textarea[name=gates]").fill(gates)
    row.locator(f"[data-testid=promote-v{version}]").click()
    page.wait_for_load_state()


def test_an_editor_promotes_and_rolls_back_in_the_browser(
    ui_auth: Server, promo: ModelRegistry, browser_page: Any
) -> None:
    sign_in(browser_page, ui_auth, "alice")
    _accept_dialogs(browser_page)
    browser_page.goto(f"{ui_auth.url}/ui/models/{PROMOTED}")
    assert production(promo) == 1
    _promote(browser_page, 2, "metrics.auc >= champion.metrics.auc")
    assert "moved v1 → v2" in browser_page.locator("[role=status]").inner_text()
    assert production(promo) == 2
    move = promo.alias_history(PROMOTED, "production")[0]
    assert (move.from_version, move.to_version) == (1, 2)
    assert move.gates[0]["gate"] == "metrics.auc >= champion.metrics.auc"
    audit = ui_auth.client.store.audit.list_audit(
        object=f"model:{PROMOTED}*", action="model.alias.move", limit=5
    )
    assert audit[0].actor == "alice"
    assert (
        "alice" in browser_page.locator("[data-testid=alias-history] tbody tr").first.inner_text()
    )

    browser_page.click("[data-testid=rollback-production]")
    browser_page.wait_for_load_state()
    assert "rolled back v2 → v1" in browser_page.locator("[role=status]").inner_text()
    assert production(promo) == 1


def test_a_failing_gate_shows_every_result_and_moves_nothing(
    ui_auth: Server, promo: ModelRegistry, browser_page: Any, page_errors: PageErrors
) -> None:
    sign_in(browser_page, ui_auth, "alice")
    _accept_dialogs(browser_page)
    browser_page.goto(f"{ui_auth.url}/ui/models/{PROMOTED}")
    before = production(promo)
    page_errors.allowed.append("422")
    _promote(browser_page, 2, "metrics.auc >= champion.metrics.auc\nmetrics.auc >= 0.99")
    results = browser_page.locator("[data-testid=gate-results] li")
    assert results.count() == 2
    assert [results.nth(i).get_attribute("data-gate-passed") for i in range(2)] == [
        "true",
        "false",
    ]
    assert "metrics.auc >= 0.99" in results.nth(1).inner_text()
    assert "nothing moved" in browser_page.locator("[role=status]").inner_text()
    assert production(promo) == before


def test_a_viewer_sees_disabled_buttons_and_a_forged_post_is_refused(
    ui_auth: Server, promo: ModelRegistry, browser_page: Any, page_errors: PageErrors
) -> None:
    sign_in(browser_page, ui_auth, "victor")
    browser_page.goto(f"{ui_auth.url}/ui/models/{PROMOTED}")
    button = browser_page.locator("[data-testid=promote-v2]")
    assert button.is_disabled()
    assert "role" in (button.get_attribute("title") or "")
    before = production(promo)
    csrf = browser_page.locator("input[name=csrf]").first.get_attribute("value")
    page_errors.allowed.append("403")
    answer = browser_page.request.post(
        f"{ui_auth.url}/ui/models/{PROMOTED}/promote",
        form={"csrf": csrf, "version": "2", "alias": "production", "gates": ""},
        headers={"origin": ui_auth.url},
    )
    assert answer.status == 403
    assert re.search(r"may not write", answer.text())
    assert production(promo) == before
    forged_rollback = browser_page.request.post(
        f"{ui_auth.url}/ui/models/{PROMOTED}/rollback",
        form={"csrf": csrf, "alias": "production"},
    )
    assert forged_rollback.status == 403
    assert production(promo) == before
