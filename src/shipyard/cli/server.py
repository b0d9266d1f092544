"""`shipyard server`: the team server, one shared Shipyard over HTTP."""

from __future__ import annotations

import os

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
@click.option(
    "--auth",
    type=click.Choice(["auto", "on", "off"]),
    default=None,
    help="Require API tokens. auto (the default, or SHIPYARD_AUTH): on unless --host is "
    "a loopback address.",
)
@click.option(
    "--anonymous-read",
    is_flag=True,
    default=None,
    help="With auth on, let requests without a token read (never write).",
)
def server(
    host: str, port: int, workers: int, log_level: str, auth: str | None,
    anonymous_read: bool | None,
) -> None:  # fmt: skip
    """Serve the REST API (/api/v1, /openapi.json), the MLflow REST API and the web UI
    (/ui/) over the metadata and blob stores of the usual settings (SHIPYARD_URI,
    SHIPYARD_ARTIFACT_URI, shipyard.toml). Clients set SHIPYARD_URI=http://HOST:PORT."""
    from shipyard.config import load_settings
    from shipyard.server.run import auth_config, describe, serve
    from shipyard.store import open_blob_store, open_tracking_store

    overrides = {"auth": auth, "anonymous_read": anonymous_read}
    settings = load_settings(overrides)
    if settings.uri.lower().startswith(("http://", "https://")):
        raise InvalidArgument(
            f"SHIPYARD_URI is {settings.uri}, another server; the server needs a store of "
            "its own: sqlite:///PATH or postgresql://..."
        )
    blobs = open_blob_store(settings.artifact_uri)
    store = open_tracking_store(
        settings.uri, lambda: next(iter(blobs.iter_blobs()), None) is not None
    )
    users = len(store.identity.list_users())
    store.close()  # created or migrated once here, before the workers start
    config = auth_config(settings, host)
    os.environ["SHIPYARD_AUTH"] = "on" if config.enabled else "off"  # for the workers
    os.environ["SHIPYARD_ANONYMOUS_READ"] = "true" if config.anonymous_read else "false"
    for line in describe(settings):
        click.echo(line)
    click.echo(_auth_line(config.enabled, config.anonymous_read, users))
    click.echo(f"listening on http://{host}:{port} ({workers} worker(s)); Ctrl+C stops")
    click.echo(f"web UI: http://{host}:{port}/ui/")
    serve(host, port, workers, log_level)


def _auth_line(enabled: bool, anonymous_read: bool, users: int) -> str:
    if not enabled:
        return "auth: off (loopback only, or --auth off): every caller may do everything"
    line = "auth: on, API tokens required" + (
        "; anonymous requests may read" if anonymous_read else ""
    )
    if users == 0:
        line += (
            "; no users yet: `shipyard users create NAME --admin` and `shipyard tokens "
            "create --user NAME` on this store make the first admin"
        )
    return line
