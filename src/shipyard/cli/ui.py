"""`shipyard ui`: the web UI on this machine's store, served on loopback."""

from __future__ import annotations

import threading
import webbrowser

import click

from shipyard.cli.server import server


@click.command("ui")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--open", "open_browser", is_flag=True, help="Open the UI in a browser.")
@click.pass_context
def ui(ctx: click.Context, port: int, host: str, open_browser: bool) -> None:
    """The web UI over the usual store (the embedded one by default): runs, flows,
    features, models, monitoring and the audit log at http://HOST:PORT/ui/. With
    SHIPYARD_URI pointing at a team server, open that server's /ui/ instead."""
    from shipyard.config import load_settings

    settings = load_settings()
    if settings.uri.lower().startswith(("http://", "https://")):
        url = settings.uri.rstrip("/") + "/ui/"
        click.echo(f"SHIPYARD_URI is a team server: its web UI is at {url}")
        if open_browser:
            webbrowser.open(url)
        return
    if open_browser:  # once the server had time to start; it prints the address itself
        threading.Timer(1.5, webbrowser.open, [f"http://{host}:{port}/ui/"]).start()
    ctx.invoke(server, host=host, port=port, workers=1, log_level="warning")
