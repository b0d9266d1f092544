"""The audit log and the admin's users page: who may see them, filters, token forms."""

from __future__ import annotations

from typing import Any

import httpx

from tests.ui.conftest import PageErrors, Server, sign_in


def test_the_audit_log_filters_by_user_and_action(
    ui_auth: Server, browser_page: Any, screenshot: Any
) -> None:
    sign_in(browser_page, ui_auth, "alice")  # signing in makes a session token: audited
    sign_in(browser_page, ui_auth, "admin")
    browser_page.goto(ui_auth.url + "/ui/audit")
    browser_page.fill("input[name=user]", "alice")
    browser_page.fill("input[name=action]", "token.*")
    browser_page.click("[data-testid=audit-filters] button[type=submit]")
    rows = browser_page.locator("[data-testid=audit] tbody tr")
    expected = ui_auth.client.store.audit.list_audit(actor="alice", action="token.*", limit=100)
    assert expected and rows.count() == len(expected)
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td").all_inner_texts()
        assert cells[1] == "alice" and cells[2].startswith("token.")
    screenshot(browser_page, "audit")


def test_only_admins_see_the_audit_log_and_the_users(
    ui_auth: Server, browser_page: Any, page_errors: PageErrors
) -> None:
    page_errors.allowed.append("403")
    sign_in(browser_page, ui_auth, "alice")
    for path in ("/ui/audit", "/ui/admin/users"):
        answer = browser_page.goto(ui_auth.url + path)
        assert answer.status == 403
        assert "alice" in browser_page.locator("[data-testid=error]").inner_text()


def test_an_admin_makes_and_revokes_a_token_in_the_browser(
    ui_auth: Server, browser_page: Any, screenshot: Any
) -> None:
    sign_in(browser_page, ui_auth, "admin")
    browser_page.goto(ui_auth.url + "/ui/admin/users")
    form = browser_page.locator("form[action='/ui/admin/tokens']")
    form.locator("select[name=user]").select_option("victor")
    form.locator("input[name=name]").fill("from the ui")
    form.locator("button").click()
    secret = browser_page.locator("[data-testid=new-token] pre").inner_text().strip()
    assert (
        httpx.get(
            ui_auth.url + "/api/v1/projects", headers={"authorization": f"Bearer {secret}"}
        ).status_code
        == 200
    )
    screenshot(browser_page, "users")
    record = next(
        t for t in ui_auth.client.store.identity.list_tokens("victor") if t.name == "from the ui"
    )
    browser_page.on("dialog", lambda dialog: dialog.accept())
    browser_page.locator(f"form[action='/ui/admin/tokens/{record.id}/revoke'] button").click()
    assert "revoked" in browser_page.locator(".flash").inner_text()
    assert (
        httpx.get(
            ui_auth.url + "/api/v1/projects", headers={"authorization": f"Bearer {secret}"}
        ).status_code
        == 401
    )
