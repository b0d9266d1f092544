"""The UI's frame: pages load, static files are served, sign-in and sign-out work."""

from __future__ import annotations

from typing import Any

import httpx

from tests.ui.conftest import PageErrors, Server, sign_in


def test_root_opens_the_overview(ui: Server, browser_page: Any) -> None:
    browser_page.goto(ui.url + "/")
    assert browser_page.url == ui.url + "/ui/"
    assert browser_page.locator("h1").inner_text() == "Overview"
    assert browser_page.locator("[data-testid=recent-runs] tbody tr").count() > 0


def test_static_files_are_served_and_confined(ui: Server) -> None:
    assert httpx.get(ui.url + "/ui/static/uplot/uPlot.iife.min.js").status_code == 200
    for bad in ("../__init__.py", "..%2F__init__.py", "render.py", "nope.js"):
        assert httpx.get(ui.url + "/ui/static/" + bad).status_code == 404


def test_a_page_needs_sign_in_when_auth_is_on(
    ui_auth: Server, browser_page: Any, page_errors: PageErrors
) -> None:
    browser_page.goto(ui_auth.url + "/ui/")
    assert "/ui/login" in browser_page.url
    browser_page.fill("input[name=token]", "shy_not-a-token")
    page_errors.allowed.append("401")
    browser_page.click("form[action='/ui/login'] button[type=submit]")
    assert "unknown, expired or revoked" in browser_page.locator("[role=alert]").inner_text()
    sign_in(browser_page, ui_auth, "alice")
    assert browser_page.locator("[data-testid=signed-in]").inner_text() == "alice"
    browser_page.click("text=Sign out")
    browser_page.wait_for_url("**/ui/login")
    browser_page.goto(ui_auth.url + "/ui/")
    assert "/ui/login" in browser_page.url  # the session was revoked


def test_a_form_without_the_csrf_token_is_refused(ui: Server) -> None:
    answer = httpx.post(ui.url + "/ui/logout", data={"csrf": "x" * 40})
    assert answer.status_code == 403
    assert "security token" in answer.text
