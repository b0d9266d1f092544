"""`shipyard ui`: the web UI over the embedded store, on loopback, with auth off."""

from __future__ import annotations

import httpx

from shipyard.server.run import free_port
from tests.cli.test_server_cli import serve as start_server
from tests.cli.test_server_cli import stop


def test_ui_serves_the_pages_over_the_embedded_store(shipyard_home, monkeypatch):
    from shipyard.tracking import Client

    client = Client()
    run = client.create_run("ui-cli", "first", capture_code=False)
    client.end_run(run.id)
    client.close()
    port = free_port()
    process, printed = start_server({"SHIPYARD_HOME": str(shipyard_home)}, port, "--ui")
    try:
        assert f"web UI: http://127.0.0.1:{port}/ui/" in printed
        assert "auth: off" in printed
        page = httpx.get(f"http://127.0.0.1:{port}/ui/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "first" in page.text and "ui-cli" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
    finally:
        stop(process)


def test_ui_against_a_team_server_points_at_its_pages(cli, shipyard_home, monkeypatch):
    monkeypatch.setenv("SHIPYARD_URI", "http://127.0.0.1:9/")
    code, out, _ = cli("ui")
    assert code == 0
    assert out.strip() == "SHIPYARD_URI is a team server: its web UI is at http://127.0.0.1:9/ui/"
