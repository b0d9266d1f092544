"""No secret (an API token, a password in a store URI) reaches the CLI's output, an error
message or the server's logs."""

from __future__ import annotations

import logging

import httpx

TOKEN = "shy_" + "s3cr3t" * 7


def test_config_shows_neither_the_token_nor_passwords(cli, shipyard_home, monkeypatch):
    monkeypatch.setenv("SHIPYARD_TOKEN", TOKEN)
    monkeypatch.setenv("SHIPYARD_ONLINE_URI", "redis://:hunter2@127.0.0.1:6379/0")
    for args in (["config"], ["config", "--json"]):
        code, out, _ = cli(*args)
        assert code == 0
        assert TOKEN not in out and "s3cr3t" not in out and "hunter2" not in out
        assert "shy_s3cr" in out  # enough to tell which token is set


def test_an_unreachable_server_is_named_without_its_password(cli, shipyard_home, monkeypatch):
    monkeypatch.setenv("SHIPYARD_URI", "http://bob:hunter2@127.0.0.1:9")
    code, _, err = cli("runs", "ls")
    assert code == 1 and "http://bob:***@127.0.0.1:9" in err and "hunter2" not in err


def test_a_refused_token_is_not_echoed_or_logged(shipyard_client, caplog):
    from shipyard.server import create_app
    from shipyard.server.auth import AuthConfig
    from shipyard.server.run import ServerThread

    server = ServerThread(create_app(shipyard_client, AuthConfig(enabled=True))).start()
    try:
        with caplog.at_level(logging.DEBUG):
            answer = httpx.get(
                f"{server.url}/api/v1/projects", headers={"Authorization": f"Bearer {TOKEN}"}
            )
    finally:
        server.stop()
    assert answer.status_code == 401
    assert TOKEN not in answer.text and "s3cr3t" not in answer.text
    assert "s3cr3t" not in caplog.text
