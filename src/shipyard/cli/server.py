"""`shipyard server`: the team server, one shared Shipyard over HTTP."""

from __future__ import annotations

import click

from shipyard.errors import InvalidArgument


@click.command("server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes, each with its own connection to the store.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def server(host: str, port: int, workers: int, log_level: str) -> None:
    """Serve the REST API (/api/v1, /openapi.json) and the MLflow REST API over the
    metadata and blob stores of the usual settings (SHIPYARD_URI, SHIPYARD_ARTIFACT_URI,
    shipyard.toml). Clients set SHIPYARD_URI=http://HOST:PORT."""
    from shipyard.config import load_settings
    from shipyard.server.run import describe, serve
    from shipyard.store import open_blob_store, open_tracking_store

    settings = load_settings()
    if settings.uri.lower().startswith(("http://", "https://")):
        raise InvalidArgument(
            f"SHIPYARD_URI is {settings.uri}, another server; the server needs a store of "
            "its own: sqlite:///PATH or postgresql://..."
        )
    blobs = open_blob_store(settings.artifact_uri)
    store = open_tracking_store(
        settings.uri, lambda: next(iter(blobs.iter_blobs()), None) is not None
    )
    store.close()  # created or migrated once here, before the workers start
    for line in describe(settings):
        click.echo(line)
    click.echo(f"listening on http://{host}:{port} ({workers} worker(s)); Ctrl+C stops")
    serve(host, port, workers, log_level)
